"""CLI subcommands of the synthesis endpoints (classviz, fooling, inversion, deepdream, texture).

    convlens classviz --target goldfish -o goldfish.png [--steps N] [--size PX] [--count K] [--diversity W]
                  [--param fourier|pixel] [--layer L --channel C [--objective neuron]]
    convlens fooling cat.jpg --target koala -o fooled.png      (also writes fooled_difference.png)
    convlens inversion cat.jpg --layer block4 -o inverted.png
    convlens deepdream cat.jpg --layer block8 --octaves 3 -o dream.png
    convlens texture bricks.jpg --size 256 -o texture.png

``--progress`` streams progress events and draws a bar on stderr; ``--json`` prints the metrics;
``--set NAME=VALUE`` passes any other field of the endpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable, TextIO

from ..results import SynthesisResult
from . import Runner, finish, name_value
from .fields import add_field


def consume(items: SynthesisResult | Iterable[Any], err: TextIO) -> SynthesisResult:
    """The result of a call, drawing a progress bar for streamed events."""
    result = finish(items, err)
    if not isinstance(result, SynthesisResult):  # pragma: no cover - the client guarantees a result
        raise ValueError("the stream ended without a result")
    return result


def _common(p: argparse.ArgumentParser, endpoint: str, default_output: str, steps: str = "steps") -> None:
    """The arguments every synthesis subcommand takes (``--steps`` is the endpoint's field ``steps``)."""
    p.add_argument("-o", "--output", default=default_output, help="output PNG (default: %(default)s)")
    add_field(p, endpoint, steps, "--steps")
    add_field(p, endpoint, "seed")
    add_field(p, endpoint, "backbone")
    p.add_argument("--progress", action="store_true", help="stream progress events; bar on stderr")
    p.add_argument("--json", action="store_true", help="print the result's numbers as JSON")
    p.add_argument("--set", type=name_value, action="append", default=[], metavar="NAME=VALUE",
                   help="any other field of the endpoint (repeatable)")


def _runner(call: Callable[[Any, argparse.Namespace, dict[str, Any]], Any], err: TextIO | None = None) -> Runner:
    """A runner doing ``call(client, args, fields)``: writes every picture, prints the metrics."""
    def run(client: Any, args: argparse.Namespace, out: TextIO) -> int:
        """Call the endpoint, write its pictures, print its numbers."""
        fields: dict[str, Any] = {k: v for k, v in (("steps", args.steps), ("seed", args.seed),
                                                    ("backbone", args.backbone)) if v is not None}
        fields.update(dict(args.set))
        result = consume(call(client, args, {**fields, "stream": args.progress}), err or sys.stderr)
        output = Path(args.output)
        result.save(output)
        out.write(f"wrote {output}\n")
        for extra in result.images[1:]:
            path = output.with_name(f"{output.stem}_{extra.name.replace(' ', '_')}{output.suffix}")
            extra.save(path)
            out.write(f"wrote {path}\n")
        if args.json:
            out.write(json.dumps(result.to_dict(), indent=2) + "\n")
        else:
            out.write("  ".join(f"{k}={v:.4g}" for k, v in sorted(result.metrics.items())) + "\n")
        return 0

    return run


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Runner]:
    """Add this area's subcommands to ``sub``; return their runners by name."""
    p = sub.add_parser("classviz", help="images that a class (or an inner channel) likes most")
    for name in ("target", "layer", "channel", "objective", "size", "count", "diversity", "param"):
        add_field(p, "classviz", name)
    _common(p, "classviz", "classviz.png")

    p = sub.add_parser("fooling", help="change a photo minimally until the network sees --target")
    p.add_argument("image")
    for name in ("target", "max_steps", "confidence"):  # target: required
        add_field(p, "fooling", name)
    _common(p, "fooling", "fooled.png", steps="max_steps")  # fooling's steps are its max_steps

    p = sub.add_parser("inversion", help="reconstruct a photo from its features at a layer")
    p.add_argument("image")
    for name in ("layer", "size", "tv_weight"):
        add_field(p, "inversion", name)
    _common(p, "inversion", "inversion.png")

    p = sub.add_parser("deepdream", help="amplify what a layer sees in a photo")
    p.add_argument("image")
    for name in ("layer", "octaves", "guide"):
        add_field(p, "deepdream", name)
    _common(p, "deepdream", "deepdream.png")

    p = sub.add_parser("texture", help="a new texture with the feature statistics of a sample")
    p.add_argument("image")
    for name in ("size", "layers", "loss"):
        add_field(p, "texture", name)
    _common(p, "texture", "texture.png")

    def opt(args: argparse.Namespace, *names: str) -> dict[str, Any]:
        """The given ones of ``names`` as fields."""
        return {n: getattr(args, n) for n in names if getattr(args, n) is not None}

    return {
        "classviz": _runner(lambda c, a, f: c.classviz(**opt(a, "target", "layer", "channel", "objective",
                                                               "size", "count", "diversity", "param"), **f)),
        "fooling": _runner(lambda c, a, f: c.fooling(Path(a.image), a.target, **opt(a, "max_steps", "confidence"),
                                                     **{"max_steps" if k == "steps" else k: v for k, v in f.items()})),
        "inversion": _runner(lambda c, a, f: c.inversion(Path(a.image), **opt(a, "layer", "size", "tv_weight"),
                                                         **f)),
        "deepdream": _runner(lambda c, a, f: c.deepdream(Path(a.image), guide=Path(a.guide) if a.guide else None,
                                                         **opt(a, "layer", "octaves"), **f)),
        "texture": _runner(lambda c, a, f: c.texture(Path(a.image), **opt(a, "size", "layers", "loss"), **f)),
    }
