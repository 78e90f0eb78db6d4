"""CLI subcommands of the style endpoints (style-transfer, stylize, styles)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from ..client import Client
from . import Runner, default_output, finish, write_output
from .fields import add_field


def _weights(text: str) -> list:
    """``0.7,0.3`` as floats."""
    return [float(v) for v in text.split(",")]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Runner]:
    """Add this area's subcommands to ``sub``; return their runners by name."""
    p = sub.add_parser("style-transfer", help="optimization-based style transfer (Gatys et al.)",
                       description="Paint CONTENT in the style of one or more STYLE images (slow, best quality).")
    p.add_argument("content", help="content image file")
    p.add_argument("style", nargs="+", help="style image file(s), blended by --style-weights")
    p.add_argument("-o", "--output", help="output file (default: CONTENT_styled.EXT here)")
    add_field(p, "style_transfer", "style_weights", type=_weights)
    for name in ("style_loss", "palette", "content_weight", "style_weight", "tv_weight", "style_scale", "steps",
                 "size", "seed", "init", "optimizer", "preserve_colors"):
        add_field(p, "style_transfer", name)
    add_field(p, "style_transfer", "format", only=("png", "jpeg", "npy"), send_default=True)  # what the CLI writes
    p.add_argument("--progress", action="store_true", help="stream progress events; bar on stderr")

    p = sub.add_parser("stylize", help="real-time stylization with a trained network",
                       description="Stylize IMAGE with a shipped network (--style), a blend of the "
                       "multi-style network's styles (--blend name:weight,...), or like any picture "
                       "(--style-image FILE, repeatable). See `convlens styles`.")
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", help="output file (default: IMAGE_STYLE.EXT here)")
    group = p.add_mutually_exclusive_group(required=True)
    add_field(group, "stylize", "style")
    add_field(group, "stylize", "blend")
    add_field(group, "stylize", "style_image", action="append", dest="style_images")
    add_field(p, "stylize", "style_weights", type=_weights)
    add_field(p, "stylize", "alpha")
    for name in ("variant", "strength", "preserve_colors", "max_size"):
        add_field(p, "stylize", name)
    add_field(p, "stylize", "format", only=("jpeg", "png"), send_default=True)  # the pictures the CLI writes
    add_field(p, "stylize", "quality")

    p = sub.add_parser("styles", help="the stylizers the server offers (management API)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return {"style-transfer": run_style_transfer, "stylize": run_stylize, "styles": run_styles}


def run_style_transfer(client: Client, args: argparse.Namespace, out: TextIO) -> int | None:
    """``style-transfer``: write the picture (a progress bar on stderr with ``--progress``)."""
    output = default_output(args, args.content, "styled", args.format)
    fields = dict(style_weights=args.style_weights, style_loss=args.style_loss, palette=args.palette,
                  content_weight=args.content_weight,
                  style_weight=args.style_weight, tv_weight=args.tv_weight, style_scale=args.style_scale,
                  steps=args.steps, size=args.size, seed=args.seed, init=args.init, optimizer=args.optimizer,
                  preserve_colors=True if args.preserve_colors else None)
    data = finish(client.style_transfer_image(args.content, *args.style, format=args.format, stream=args.progress,
                                              **fields), sys.stderr)
    write_output(output, data, out)
    return 0


def run_stylize(client: Client, args: argparse.Namespace, out: TextIO) -> int | None:
    """``stylize``: write the stylized picture."""
    output = default_output(args, args.image, args.style or ("styled" if args.style_images else "blend"),
                            args.format)
    options = dict(format=args.format, variant=args.variant, strength=args.strength, max_size=args.max_size,
                   quality=args.quality, preserve_colors=True if args.preserve_colors else None)
    if args.style_images:
        data = client.stylize_like_image(args.image, *args.style_images, style_weights=args.style_weights,
                                         alpha=args.alpha, **options)
    else:
        data = client.stylize_image(args.image, style=args.style, blend=args.blend, style_weights=args.style_weights,
                                    alpha=args.alpha, **options)
    write_output(output, data, out)
    return 0


def run_styles(client: Client, args: argparse.Namespace, out: TextIO) -> int | None:
    """``styles``: a table of the stylizers, or JSON."""
    styles = client.styles()
    if args.json:
        out.write(json.dumps(styles, indent=2) + "\n")
        return 0
    width = max([4] + [len(s["name"]) for s in styles])
    out.write(f"{'name':<{width}}  kind    variant  styles\n")
    for s in styles:
        variant = s.get("variant", "full")
        out.write(f"{s['name']:<{width}}  {s['kind']:<6}  {variant:<7}  {', '.join(s['styles'])}\n")
    return 0
