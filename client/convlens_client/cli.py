"""``convlens``: the command-line face of the client.

    convlens [--host H] [--transport http|grpc] [--http-port P] [--grpc-port P] [--token T]
             [--key-file F] [--timeout S] [--retries N] [--backoff S] [--json]
             [--management-port P] [--grpc-management-port P] [--management-token T] [--api-key K]
             [--scheme https] [--ca-cert PEM] [--client-cert PEM] [--client-key PEM]
             [--tls-server-name NAME] COMMAND ...

    convlens classify IMAGE [--topk N] [--json]
    convlens saliency IMAGE [-o OUT] [--target T] [--method M] [--view heatmap|overlay]
                            [--format png|jpeg|npy|json] [--layer L --channel C]
    convlens health
    convlens models                 # the served endpoints and their workers (management API)
    convlens layers MODEL           # the named layers an endpoint accepts as layer=
    convlens describe MODEL         # everything an endpoint offers, as JSON

``--json`` (global, or after a subcommand) prints JSON instead of text; area subcommands see it as
``args.json``.

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
    parser.add_argument("--scheme", choices=("http", "https"), help="default: https with TLS options, else http")
    parser.add_argument("--token", help="inference token (default: $CONVLENS_TOKEN, else from key_file.json)")
    parser.add_argument(
        "--key-file",
        help="TorchServe key_file.json (default: $CONVLENS_KEY_FILE, ./key_file.json, ./.run/key_file.json)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per attempt (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=2,
                        help="extra attempts for busy/unreachable servers, never for 4xx (default: %(default)s)")
    parser.add_argument("--backoff", type=float, default=0.5,
                        help="first retry delay in seconds, doubled each time, jittered (default: %(default)s)")
    parser.add_argument("--json", dest="json_output", action="store_true", help="print JSON instead of text")
    parser.add_argument("--management-port", type=int, default=8081, help="HTTP management API (default: %(default)s)")
    parser.add_argument("--grpc-management-port", type=int, default=7071, help="default: %(default)s")
    parser.add_argument("--management-token",
                        help="management token (default: $CONVLENS_MANAGEMENT_TOKEN, else from key_file.json)")
    parser.add_argument("--api-key", help="TorchServe API key, to renew expired tokens (default: $CONVLENS_API_KEY, "
                        "else from key_file.json)")
    parser.add_argument("--ca-cert", help="PEM CA bundle that signed the server's certificate (implies https)")
    parser.add_argument("--client-cert", help="PEM client certificate, for mutual TLS")
    parser.add_argument("--client-key", help="PEM key of --client-cert")
    parser.add_argument("--tls-server-name", help="gRPC: the name to check in the server's certificate")
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

    p = sub.add_parser("health", help="the server's health (exit status 1 unless Healthy)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("models", help="the served endpoints and their workers (exit status 1 unless all ready)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser("layers", help="the named layers of an endpoint's backbone")
    p.add_argument("model", help="endpoint, e.g. saliency")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p = sub.add_parser("describe", help="what an endpoint offers (JSON)")
    p.add_argument("model", help="endpoint, e.g. saliency")
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
    """``saliency``: write the picture, npy or JSON map; print what was written."""
    output = Path(args.output or f"{Path(args.image).stem}_saliency.{EXTENSIONS[args.format]}")
    if args.format != "json":
        data = client.saliency_image(
            args.image, target=args.target, method=args.method, view=args.view, format=args.format,
            layer=args.layer, channel=args.channel,
        )
        output.write_bytes(data)
        out.write(json.dumps({"wrote": str(output)}) + "\n" if args.json else f"wrote {output}\n")
        return
    heatmap: Heatmap = client.saliency(
        args.image, target=args.target, method=args.method, layer=args.layer, channel=args.channel
    )
    output.write_text(json.dumps(heatmap.to_dict()) + "\n", encoding="utf-8")
    if args.json:
        _dump({"wrote": str(output), "target": heatmap.target and heatmap.target.to_dict(),
               "predicted": heatmap.predicted and heatmap.predicted.to_dict()}, out)
        return
    out.write(f"wrote {output}\n")
    out.write(f"target:    {_class(heatmap.target)}\n")
    out.write(f"predicted: {_class(heatmap.predicted)}\n")


def client_from_args(args: argparse.Namespace) -> Client:
    """The :class:`Client` the global options describe."""
    return Client(
        host=args.host,
        token=args.token,
        transport=args.transport,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        key_file=args.key_file,
        timeout=args.timeout,
        scheme=args.scheme,
        management_port=args.management_port,
        grpc_management_port=args.grpc_management_port,
        management_token=args.management_token,
        api_key=args.api_key,
        retries=args.retries,
        backoff=args.backoff,
        ca_cert=args.ca_cert,
        client_cert=args.client_cert,
        client_key=args.client_key,
        tls_server_name=args.tls_server_name,
    )


def _dump(value: object, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2) + "\n")


def run_management(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """``models``, ``layers``, ``describe``: management API calls."""
    if args.command == "describe":
        _dump(client.describe(args.model), out)
        return 0
    if args.command == "layers":
        layers = client.layers(args.model)
        if args.json:
            _dump(layers, out)
        else:
            out.write("".join(f"{layer}\n" for layer in layers))
        return 0
    models = client.models()
    if args.json:
        _dump([m.to_dict() for m in models], out)
    else:
        width = max([len("model")] + [len(m.name) for m in models])
        out.write(f"{'model':<{width}}  {'status':<9}  workers  queued\n")
        for m in models:
            status = "ready" if m.ready else "not ready"
            out.write(f"{m.name:<{width}}  {status:<9}  {m.ready_workers}/{m.workers:<5}  {m.pending_requests}\n")
    return 0 if all(m.ready for m in models) else 1


def main(argv: Optional[List[str]] = None, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    """Run the CLI; returns the exit status (argparse exits with 2 on usage errors)."""
    out = out or sys.stdout
    err = err or sys.stderr
    runners: dict[str, Runner] = {}
    args = build_parser(runners).parse_args(argv)
    args.json = bool(getattr(args, "json", False) or args.json_output)  # global or per-subcommand --json
    try:
        with client_from_args(args) as client:
            if args.command == "classify":
                predictions = client.classify(args.image, topk=args.topk)
                if args.json:
                    out.write(json.dumps([p.to_dict() for p in predictions], indent=2) + "\n")
                else:
                    print_table(predictions, out)
            elif args.command == "saliency":
                run_saliency(client, args, out)
            elif args.command in ("models", "layers", "describe"):
                return run_management(client, args, out)
            elif args.command in runners:
                return runners[args.command](client, args, out) or 0
            else:
                status = client.health()
                if args.json:
                    _dump({"status": status}, out)
                else:
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
