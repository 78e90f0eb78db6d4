"""``convlens``: the command-line face of the client.

    convlens [--host H] [--transport http|grpc] [--http-port P] [--grpc-port P] [--token T]
             [--key-file F] [--timeout S] COMMAND ...

    convlens classify IMAGE [--topk N] [--json]
    convlens saliency IMAGE [-o OUT] [--target T] [--method M] [--view heatmap|overlay]
                            [--format png|jpeg|npy|json] [--layer L --channel C]
    convlens health

Exit status: 0 on success, 1 when the call fails (``error: <type>: <message>`` on stderr),
2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence, TextIO

from . import commands_attribution, commands_lecture, commands_style, commands_synthesis
from .client import Client, Target
from .commands_base import Runner
from .errors import ConvLensError
from .results import Heatmap, Prediction

# Each area adds its subcommands: add_commands(subparsers) -> {name: runner(client, args, out) -> exit status}
COMMAND_AREAS = (commands_attribution, commands_synthesis, commands_style, commands_lecture)

EXTENSIONS = {"png": "png", "jpeg": "jpg", "npy": "npy", "json": "json"}


def _target(text: str) -> Target:
    """A class index when the text is an integer, else a label."""
    try:
        return int(text)
    except ValueError:
        return text


def build_parser(runners: Optional[dict] = None) -> argparse.ArgumentParser:
    """The argument parser; ``runners`` (when given) receives each area subcommand's runner by name."""
    parser = argparse.ArgumentParser(
        prog="convlens", description="Classify and explain images with a ConvLens server."
    )
    parser.add_argument("--host", default="127.0.0.1", help="server host (default: %(default)s)")
    parser.add_argument("--transport", choices=("http", "grpc"), default="http")
    parser.add_argument("--http-port", type=int, default=8080, help="default: %(default)s")
    parser.add_argument("--grpc-port", type=int, default=7070, help="default: %(default)s")
    parser.add_argument("--scheme", choices=("http", "https"), default="http")
    parser.add_argument("--token", help="inference token (default: $CONVLENS_TOKEN, else from key_file.json)")
    parser.add_argument(
        "--key-file",
        help="TorchServe key_file.json (default: $CONVLENS_KEY_FILE, ./key_file.json, ./.run/key_file.json)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("classify", help="the most probable classes of an image")
    p.add_argument("image", help="image file")
    p.add_argument("--topk", type=int, default=5, help="number of classes (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser(
        "saliency",
        help="a saliency map of an image",
        description="Write a saliency map to a file: a picture rendered by the server (png, jpeg), "
        "the raw map (npy), or JSON with the map and the explained and predicted classes "
        "(which are then printed too). One request either way.",
    )
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", help="output file (default: IMAGE_saliency.EXT here)")
    p.add_argument("--target", type=_target, help="class index or label (default: top-1)")
    p.add_argument("--method", default="gradient", help="attribution method (default: %(default)s)")
    p.add_argument("--layer", help="explain a neuron of this layer (with --channel) instead of a class")
    p.add_argument("--channel", type=int, help="the neuron's channel in --layer")
    p.add_argument("--view", choices=("heatmap", "overlay"), default="heatmap")
    p.add_argument("--format", choices=tuple(EXTENSIONS), default="png")

    sub.add_parser("health", help="the server's health (exit status 1 unless Healthy)")
    for area in COMMAND_AREAS:
        added = area.add_commands(sub)
        if runners is not None:
            runners.update(added)
    return parser


def _class(p: Optional[Prediction]) -> str:
    return f"{p.index} {p.label} (p={p.probability:.3f})" if p else "-"


def print_table(predictions: Sequence[Prediction], out: TextIO) -> None:
    """A two-column table: label, probability."""
    width = max([len("label")] + [len(p.label) for p in predictions])
    out.write(f"{'label':<{width}}  probability\n")
    for p in predictions:
        out.write(f"{p.label:<{width}}  {p.probability:.4f}\n")


def run_saliency(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    output = Path(args.output or f"{Path(args.image).stem}_saliency.{EXTENSIONS[args.format]}")
    if args.format != "json":
        data = client.saliency_image(
            args.image, target=args.target, method=args.method, view=args.view, format=args.format,
            layer=args.layer, channel=args.channel,
        )
        output.write_bytes(data)
        out.write(f"wrote {output}\n")
        return
    heatmap: Heatmap = client.saliency(
        args.image, target=args.target, method=args.method, layer=args.layer, channel=args.channel
    )
    output.write_text(json.dumps(heatmap.to_dict()) + "\n", encoding="utf-8")
    out.write(f"wrote {output}\n")
    out.write(f"target:    {_class(heatmap.target)}\n")
    out.write(f"predicted: {_class(heatmap.predicted)}\n")


def main(argv: Optional[List[str]] = None, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    """Run the CLI; returns the exit status (argparse exits with 2 on usage errors)."""
    out = out or sys.stdout
    err = err or sys.stderr
    runners: dict[str, Runner] = {}
    args = build_parser(runners).parse_args(argv)
    try:
        with Client(
            host=args.host,
            token=args.token,
            transport=args.transport,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            key_file=args.key_file,
            timeout=args.timeout,
            scheme=args.scheme,
        ) as client:
            if args.command == "classify":
                predictions = client.classify(args.image, topk=args.topk)
                if args.json:
                    out.write(json.dumps([p.to_dict() for p in predictions], indent=2) + "\n")
                else:
                    print_table(predictions, out)
            elif args.command == "saliency":
                run_saliency(client, args, out)
            elif args.command in runners:
                return runners[args.command](client, args, out) or 0
            else:
                status = client.health()
                out.write(status + "\n")
                return 0 if status == "Healthy" else 1
    except ConvLensError as exc:
        err.write(f"error: {exc}\n")
        return 1
    except (OSError, ValueError) as exc:  # unreadable image or output file, bad local input
        err.write(f"error: {type(exc).__name__}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
