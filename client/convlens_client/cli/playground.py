"""``convlens playground``: the web page to try every endpoint (:mod:`convlens_client.playground`).

    convlens playground [--port 8765] [--key-file PATH] [--host 127.0.0.1] [--server URL] [--samples DIR]
                        [--allow-remote] [--open]

``--host`` is where the page listens (loopback only unless ``--allow-remote``); the ConvLens server is the global
``--host``/``--http-port`` or ``--server http://HOST:PORT``; the token comes from ``--key-file``, ``$CONVLENS_TOKEN``
or the default key files, as for every command, and stays in this process.
"""

from __future__ import annotations

import argparse
import webbrowser
from typing import Any, TextIO
from urllib.parse import urlsplit

from ..client import Client
from ..playground import Playground
from ..playground.forward import MAX_IMAGE_BYTES
from ..playground.samples import Samples, find_samples
from . import Runner


class ServerAction(argparse.Action):
    """``--server http[s]://HOST[:PORT]`` (or ``HOST[:PORT]``): the server's host, HTTP port and scheme."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        text = str(values)
        parts = urlsplit(text if "://" in text else f"http://{text}")
        try:
            port = parts.port
        except ValueError:
            port = None
            parser.error(f"--server: bad port in {text!r}")
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            parser.error(f"--server: expected http[s]://HOST[:PORT], got {text!r}")
        namespace.host = parts.hostname
        namespace.scheme = parts.scheme
        if port is not None:
            namespace.http_port = port


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Runner]:
    """The ``playground`` subcommand."""
    p = sub.add_parser("playground", help="a local web page to try every endpoint in a browser",
                       description="Serve a web page that builds each endpoint's form from the server's describe() "
                                   "and forwards its calls with your token (the browser never sees it).")
    p.add_argument("--port", type=int, default=8765, help="the page's port (default: %(default)s; 0: any free one)")
    p.add_argument("--host", dest="bind", default="127.0.0.1",
                   help="the page's address (default: %(default)s; loopback only unless --allow-remote)")
    # SUPPRESS: given here or before the subcommand alike, without one default overwriting the other
    p.add_argument("--key-file", default=argparse.SUPPRESS,
                   help="TorchServe key_file.json (default: $CONVLENS_KEY_FILE, ./key_file.json, ./.run/key_file.json)")
    p.add_argument("--server", action=ServerAction, default=argparse.SUPPRESS, metavar="URL",
                   help="the ConvLens server, http[s]://HOST[:PORT] (default: the global --host and --http-port)")
    p.add_argument("--samples", metavar="DIR",
                   help="a folder of sample photos (default: $CONVLENS_SAMPLES, else ./build/samples if present)")
    p.add_argument("--allow-remote", action="store_true",
                   help="listen on a non-loopback --host: anyone who reaches it calls the server with your token")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    return {"playground": run_playground}


def run_playground(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """Serve the page until interrupted."""
    samples = Samples(find_samples(args.samples), MAX_IMAGE_BYTES)
    page = Playground(client, args.bind, args.port, samples, allow_remote=args.allow_remote)
    out.write(f"ConvLens playground at {page.url} (server {client.settings.url(client.settings.http_port)}, "
              f"{len(samples.names())} sample photos); Ctrl-C stops it\n")
    out.flush()
    if args.open:
        webbrowser.open(page.url)
    try:
        page.serve_forever()
    except KeyboardInterrupt:
        out.write("stopped\n")
    finally:
        page.server_close()
    return 0
