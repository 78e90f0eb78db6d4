"""``convlens``: the command-line face of the client, with the helpers its area modules share.

    convlens [--host H] [--transport http|grpc] [--http-port P] [--grpc-port P] [--token T]
             [--key-file F] [--timeout S] [--retries N] [--backoff S] [--json]
             [--management-port P] [--grpc-management-port P] [--management-token T] [--api-key K]
             [--scheme https] [--ca-cert PEM] [--client-cert PEM] [--client-key PEM]
             [--tls-server-name NAME] COMMAND ...

Subcommands come from one module per area, like the client's endpoints: :mod:`.core` (classify, saliency,
raw, health, models, layers, describe), :mod:`.attribution`, :mod:`.synthesis`, :mod:`.style`, :mod:`.inspect`
and :mod:`.playground` (the web page); each has ``add_commands(subparsers) -> {name: runner}``.

``--json`` (global, or after a subcommand) prints JSON instead of text; runners see it as ``args.json``.

Exit status: 0 on success, 1 when the call fails (``error: <type>: <message>`` on stderr),
2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from ..client import Client, Target
from ..errors import ConvLensError
from ..transport.streaming import Progress

__all__ = ["build_parser", "client_from_args", "main"]

# A subcommand's runner: does the call, writes what it made, returns the exit status (None = 0).
Runner = Callable[[Client, argparse.Namespace, TextIO], Optional[int]]

EXTENSIONS = {"png": "png", "jpeg": "jpg", "npy": "npy", "json": "json"}  # --format -> file extension
BAR = 30  # width of the progress bar


def target(text: str) -> Target:
    """A class index when the text is an integer, else a label."""
    try:
        return int(text)
    except ValueError:
        return text


def name_value(text: str) -> tuple[str, str]:
    """``--set NAME=VALUE`` (or ``--image NAME=FILE``) as (name, value)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def dump(value: object, out: TextIO) -> None:
    """Print ``value`` as indented JSON."""
    out.write(json.dumps(value, indent=2) + "\n")


def write_output(output: Path, data: bytes, out: TextIO) -> None:
    """Write ``data`` to ``output`` and say so."""
    output.write_bytes(data)
    out.write(f"wrote {output}\n")


def default_output(args: argparse.Namespace, source: str, suffix: str, fmt: str) -> Path:
    """``-o``, else ``<stem of the source image>_<suffix>.<extension of fmt>`` here."""
    return Path(args.output or f"{Path(source).stem}_{suffix}.{EXTENSIONS[fmt]}")


def progress_bar(event: Progress, err: TextIO) -> None:
    """One line per event, rewritten in place: [#####.....] step/total loss stage."""
    filled = round(BAR * event.fraction)
    loss = "" if event.loss is None else f" loss {event.loss:.4g}"
    total = event.total or "?"
    err.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {event.step}/{total}{loss} {event.stage}".ljust(78))
    err.flush()


def finish(result: Any, err: TextIO) -> Any:
    """A call's result as it is, or for a progress stream its last item, after a progress bar of its events."""
    if not isinstance(result, Iterator):
        return result
    last = None
    for item in result:
        if isinstance(item, Progress):
            progress_bar(item, err)
        else:
            last = item
    err.write("\n")
    return last


def build_parser(runners: dict[str, Runner] | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``runners`` (when given) receives each subcommand's runner by name."""
    from . import attribution, core, inspect, playground, style, synthesis

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
    for area in (core, attribution, synthesis, style, inspect, playground):
        added = area.add_commands(sub)
        if runners is not None:
            runners.update(added)
    return parser


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


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the CLI; returns the exit status (argparse exits with 2 on usage errors)."""
    out = out or sys.stdout
    err = err or sys.stderr
    runners: dict[str, Runner] = {}
    args = build_parser(runners).parse_args(argv)
    args.json = bool(getattr(args, "json", False) or args.json_output)  # global or per-subcommand --json
    try:
        with client_from_args(args) as client:
            return runners[args.command](client, args, out) or 0
    except ConvLensError as exc:
        err.write(f"error: {exc}\n")
        return 1
    except (OSError, ValueError) as exc:  # unreadable image or output file, bad local input
        err.write(f"error: {type(exc).__name__}: {exc}\n")
        return 1
