"""CLI subcommands of the attribution endpoints (occlusion, segment)."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..client import Client
from . import EXTENSIONS, Runner, default_output, target, write_output


def _common(p: argparse.ArgumentParser, views: tuple, default_view: str) -> None:
    """The arguments both subcommands take."""
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", help="output file (default: IMAGE_<command>.EXT here)")
    p.add_argument("--target", type=target, help="class index or label (default: top-1)")
    p.add_argument("--size", type=int, help="shorter side the network sees (default: server's, 224)")
    p.add_argument("--view", choices=views, default=default_view)
    p.add_argument("--format", choices=tuple(EXTENSIONS), default="png")


def run_occlusion(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    """``occlusion``: write the map as the server rendered it."""
    data = client.occlusion_image(
        args.image, target=args.target, view=args.view, format=args.format,
        patch=args.patch, stride=args.stride, fill=args.fill, size=args.size, batch_size=args.batch_size,
    )
    write_output(default_output(args, args.image, "occlusion", args.format), data, out)


def run_segment(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    """``segment``: write the cut-out, mask or overlay as the server rendered it."""
    data = client.segment_image(
        args.image, target=args.target, view=args.view, format=args.format,
        method=args.method, size=args.size,
    )
    write_output(default_output(args, args.image, "segment", args.format), data, out)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Runner]:
    """Add this area's subcommands to ``sub``; return their runners by name."""
    p = sub.add_parser(
        "occlusion",
        help="an occlusion map (Zeiler & Fergus): the class probability as a patch covers each spot",
        description="Write an occlusion map: a picture (bright = covering it lowers the target's "
        "probability most), the raw probability grid (npy), or JSON with the map, grid and geometry.",
    )
    _common(p, ("heatmap", "overlay"), "heatmap")
    p.add_argument("--patch", type=int, help="patch side in pixels (default: server's, 32)")
    p.add_argument("--stride", type=int, help="step between patches (default: server's, 16)")
    p.add_argument("--fill", choices=("mean", "zero", "blur"), help="what the patch shows (default: mean)")
    p.add_argument("--batch-size", type=int, help="occluded images per forward pass (default: auto)")
    s = sub.add_parser(
        "segment",
        help="foreground mask and cut-out from saliency + GrabCut (Simonyan et al.)",
        description="Write the segmentation: the cut-out (PNG with transparency), the mask, an overlay, "
        "the mask as npy, or JSON.",
    )
    _common(s, ("cutout", "mask", "overlay"), "cutout")
    s.add_argument("--method", help="saliency method that seeds GrabCut (default: guided_gradcam)")
    return {"occlusion": run_occlusion, "segment": run_segment}
