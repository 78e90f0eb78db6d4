"""CLI subcommands of the style endpoints (style-transfer, stylize, styles)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional, TextIO

from .commands_base import Runner
from .commands_synthesis import progress_bar
from .streaming import Progress

if TYPE_CHECKING:
    from .client import Client

PICTURES = {"png": "png", "jpeg": "jpg", "npy": "npy"}


def _weights(text: str) -> list:
    return [float(v) for v in text.split(",")]


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> dict[str, Runner]:
    """Add this area's subcommands to ``sub``; return their runners by name."""
    p = sub.add_parser("style-transfer", help="optimization-based style transfer (Gatys et al.)",
                       description="Paint CONTENT in the style of one or more STYLE images (slow, best quality).")
    p.add_argument("content", help="content image file")
    p.add_argument("style", nargs="+", help="style image file(s), blended by --style-weights")
    p.add_argument("-o", "--output", help="output file (default: CONTENT_styled.EXT here)")
    p.add_argument("--style-weights", type=_weights, help="e.g. 0.7,0.3")
    for name, kind in (("content-weight", float), ("style-weight", float), ("tv-weight", float),
                       ("style-scale", float), ("steps", int), ("size", int), ("seed", int)):
        p.add_argument(f"--{name}", type=kind)
    p.add_argument("--init", choices=("content", "noise"))
    p.add_argument("--optimizer", choices=("lbfgs", "adam"))
    p.add_argument("--preserve-colors", action="store_true", help="transfer luminance only")
    p.add_argument("--format", choices=tuple(PICTURES), default="png")
    p.add_argument("--progress", action="store_true", help="stream progress events; bar on stderr")

    p = sub.add_parser("stylize", help="real-time stylization with a trained network",
                       description="Stylize IMAGE with a shipped network (--style) or a blend of the "
                       "multi-style network's styles (--blend name:weight,...). See `convlens styles`.")
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", help="output file (default: IMAGE_STYLE.EXT here)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--style", help="a style name")
    group.add_argument("--blend", help="name:weight,... on the multi-style network")
    p.add_argument("--strength", type=float, help="0..1 blend with the original (default 1)")
    p.add_argument("--preserve-colors", action="store_true", help="keep the photo's colours")
    p.add_argument("--max-size", type=int, help="longest output side")
    p.add_argument("--format", choices=("jpeg", "png"), default="jpeg")
    p.add_argument("--quality", type=int, help="JPEG quality 1..100")

    p = sub.add_parser("styles", help="the stylizers the server offers (management API)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return {"style-transfer": run_style_transfer, "stylize": run_stylize, "styles": run_styles}


def run_style_transfer(client: "Client", args: argparse.Namespace, out: TextIO) -> Optional[int]:
    output = Path(args.output or f"{Path(args.content).stem}_styled.{PICTURES[args.format]}")
    fields = dict(style_weights=args.style_weights, content_weight=args.content_weight,
                  style_weight=args.style_weight, tv_weight=args.tv_weight, style_scale=args.style_scale,
                  steps=args.steps, size=args.size, seed=args.seed, init=args.init, optimizer=args.optimizer,
                  preserve_colors=True if args.preserve_colors else None)
    if args.progress:
        data = b""
        for item in client.style_transfer_image(args.content, *args.style, format=args.format, stream=True,
                                                **fields):
            if isinstance(item, Progress):
                progress_bar(item, sys.stderr)
            else:
                data = item
        sys.stderr.write("\n")
    else:
        data = client.style_transfer_image(args.content, *args.style, format=args.format, **fields)
    output.write_bytes(data)
    out.write(f"wrote {output}\n")
    return 0


def run_stylize(client: "Client", args: argparse.Namespace, out: TextIO) -> Optional[int]:
    label = args.style or "blend"
    output = Path(args.output or f"{Path(args.image).stem}_{label}.{PICTURES[args.format]}")
    data = client.stylize_image(args.image, style=args.style, blend=args.blend, format=args.format,
                                strength=args.strength, max_size=args.max_size, quality=args.quality,
                                preserve_colors=True if args.preserve_colors else None)
    output.write_bytes(data)
    out.write(f"wrote {output}\n")
    return 0


def run_styles(client: "Client", args: argparse.Namespace, out: TextIO) -> Optional[int]:
    styles = client.styles()
    if args.json:
        out.write(json.dumps(styles, indent=2) + "\n")
        return 0
    width = max([4] + [len(s["name"]) for s in styles])
    out.write(f"{'name':<{width}}  kind    styles\n")
    for s in styles:
        out.write(f"{s['name']:<{width}}  {s['kind']:<6}  {', '.join(s['styles'])}\n")
    return 0
