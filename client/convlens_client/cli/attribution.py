"""CLI subcommands of the attribution endpoints (occlusion, segment)."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..client import Client
from . import EXTENSIONS, Runner, default_output, write_output
from .fields import add_field


def _common(p: argparse.ArgumentParser, endpoint: str) -> None:
    """The arguments both subcommands take."""
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", help="output file (default: IMAGE_<command>.EXT here)")
    add_field(p, endpoint, "target")
    add_field(p, endpoint, "size")
    add_field(p, endpoint, "backbone")
    add_field(p, endpoint, "view", send_default=True)
    add_field(p, endpoint, "format", only=tuple(EXTENSIONS), send_default=True)  # what the CLI writes to a file


def run_occlusion(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    """``occlusion``: write the map as the server rendered it."""
    data = client.occlusion_image(
        args.image, target=args.target, view=args.view, format=args.format,
        patch=args.patch, stride=args.stride, fill=args.fill, size=args.size, batch_size=args.batch_size,
        evaluate=args.evaluate, evaluate_removal=args.evaluate_removal, evaluate_patch=args.evaluate_patch,
        backbone=args.backbone,
    )
    write_output(default_output(args, args.image, "occlusion", args.format), data, out)


def run_segment(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    """``segment``: write the cut-out, mask or overlay as the server rendered it."""
    data = client.segment_image(
        args.image, target=args.target, view=args.view, format=args.format,
        method=args.method, size=args.size, backbone=args.backbone,
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
    _common(p, "occlusion")
    for name in ("patch", "stride", "fill", "batch_size", "evaluate", "evaluate_removal", "evaluate_patch"):
        add_field(p, "occlusion", name)
    s = sub.add_parser(
        "segment",
        help="foreground mask and cut-out from saliency + GrabCut (Simonyan et al.)",
        description="Write the segmentation: the cut-out (PNG with transparency), the mask, an overlay, "
        "the mask as npy, or JSON.",
    )
    _common(s, "segment")
    add_field(s, "segment", "method", checked=False)  # the server checks it (and says which)
    return {"occlusion": run_occlusion, "segment": run_segment}
