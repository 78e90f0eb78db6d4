"""The playground's local web server: the page, the sample photos, and the page's calls forwarded with the token.

Security by default: it binds to loopback unless ``allow_remote`` (whoever reaches it calls the server with your
token); it serves only the files shipped in ``static/`` and the listed samples, never a path from a request (so
never the key file); the page's calls must come from the page (``Host`` and ``Origin`` are this server, a custom
header and a JSON body, which other web sites cannot send without a CORS preflight that is never granted); and a
request body is limited like the server's (:data:`~.forward.MAX_REQUEST_BYTES`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import unquote, urlsplit

from ..client import Client
from ..errors import ConvLensError
from . import forward
from .samples import Samples

PACKAGE = __name__.rpartition(".")[0]  # convlens_client.playground: static/ lies in it (package data)
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
PAGE_HEADER = "X-ConvLens-Playground"  # a header only the page sends: cross-site requests would need a preflight
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
                               "object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback address unless ``allow_remote``: anyone reaching it would use your token."""
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"refusing to listen on {host}: the playground calls the server with your token, so it "
                         "binds to loopback only (127.0.0.1, ::1, localhost); pass --allow-remote to override")


def static_files() -> dict[str, bytes]:
    """The page's files by name, read once from the package (the only files ever served)."""
    folder = files(PACKAGE).joinpath("static")
    return {entry.name: entry.read_bytes() for entry in folder.iterdir()
            if entry.is_file() and "." + entry.name.rpartition(".")[2] in STATIC_TYPES}


def describe_all(client: Client) -> list[dict[str, Any]]:
    """Every served endpoint with its describe() (or the error that kept it), by name."""
    endpoints: list[dict[str, Any]] = []
    for model in client.models():
        try:
            endpoints.append({"name": model.name, "describe": client.describe(model.name)})
        except ConvLensError as error:
            endpoints.append({"name": model.name, "error": forward.error_dict(error)})
    return endpoints


def server_info(client: Client) -> dict[str, Any]:
    """Where the ConvLens server is, for the page's curl / Python / CLI snippets (no token)."""
    settings = client.settings
    return {"host": settings.host, "scheme": settings.scheme, "transport": settings.transport,
            "http_port": settings.http_port, "grpc_port": settings.grpc_port,
            "url": settings.url(settings.http_port)}


class Playground(ThreadingHTTPServer):
    """The local web server of the page, forwarding its calls through ``client`` (one thread per request)."""

    daemon_threads = True

    def __init__(self, client: Client, host: str = "127.0.0.1", port: int = 8765, samples: Samples | None = None,
                 allow_remote: bool = False) -> None:
        check_bind(host, allow_remote)
        self.client = client
        self.samples = samples or Samples(None, forward.MAX_IMAGE_BYTES)
        self.static = static_files()
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host.strip("[]"), port), PlaygroundHandler)

    @property
    def url(self) -> str:
        """The page's address."""
        host, port = str(self.server_address[0]), self.server_address[1]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    @contextlib.contextmanager
    def running(self) -> Iterator[Playground]:
        """Serve in a background thread while in the block (tests, notebooks); stopped and closed after it."""
        thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="convlens-playground", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()


class PlaygroundHandler(BaseHTTPRequestHandler):
    """Routes: ``/`` and ``/static/*`` (the page), ``/api/info``, ``/api/endpoints``, ``/api/samples[/name]``
    (GET) and ``/api/predict/<endpoint>`` (POST, from the page only)."""

    server: Playground
    server_version = "ConvLensPlayground"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's parameter name
        """Quiet: the terminal shows the URL and errors, not every request."""

    # -- answers ------------------------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        """One whole answer with the security headers."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        """A JSON answer."""
        self._send(status, json.dumps(value).encode(), "application/json")

    def _error(self, status: int, message: str, type_: str = "PlaygroundError", field: str | None = None) -> None:
        """An error in the contract's shape."""
        self._json({"code": status, "type": type_, "message": message, "field": field}, status)

    # -- requests -----------------------------------------------------------------------------------------------

    def _own_names(self) -> set[str]:
        """``host:port`` spellings of this server."""
        bound, port = str(self.server.server_address[0]), self.server.server_address[1]
        return {f"{host}:{port}" for host in ("127.0.0.1", "localhost", "[::1]", bound, f"[{bound}]")}

    def _own_host(self) -> bool:
        """Whether the request was sent to this server by name (no DNS rebinding); any name when bound to all."""
        return self.headers.get("Host", "") in self._own_names() or str(self.server.server_address[0]) in (
            "0.0.0.0", "::")

    def _from_page(self) -> bool:
        """Whether the request comes from this server's page (Host and Origin are ours, the page's header set)."""
        origin = self.headers.get("Origin")
        origin_ok = origin is None or urlsplit(origin).netloc in self._own_names()
        return self._own_host() and origin_ok and self.headers.get(PAGE_HEADER) == "1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's method name
        """The page, its files, the server's endpoints and the sample photos."""
        path = urlsplit(self.path).path
        if path.startswith("/api/") and not self._own_host():
            self._error(403, "only the playground page may call the server through it")
        elif path in ("/", "/index.html"):
            self._send(200, self.server.static["index.html"], STATIC_TYPES[".html"])
        elif path.startswith("/static/") and path[len("/static/"):] in self.server.static:
            name = path[len("/static/"):]
            self._send(200, self.server.static[name], STATIC_TYPES["." + name.rpartition(".")[2]])
        elif path == "/api/info":
            self._json(server_info(self.server.client))
        elif path == "/api/endpoints":
            self._api(lambda: {"server": server_info(self.server.client),
                               "endpoints": describe_all(self.server.client)})
        elif path == "/api/samples":
            self._json({"samples": self.server.samples.names()})
        elif path.startswith("/api/samples/"):
            data = self.server.samples.read(unquote(path[len("/api/samples/"):]))
            if data is None:
                self._error(404, "no such sample")
            else:
                self._send(200, data, forward.content_type(data))
        else:
            self._error(404, f"not found: {path[:100]}")

    do_HEAD = do_GET  # noqa: N815 - http.server's method name

    def _api(self, answer: Any) -> None:
        """Answer ``answer()`` as JSON; a client error as the contract's error body."""
        try:
            self._json(answer())
        except ConvLensError as error:
            self._client_error(error)

    def _client_error(self, error: ConvLensError) -> None:
        """A client exception as the contract's error body, with its status (502 when it has none)."""
        body = forward.error_dict(error)
        self._json(body, body["code"] if 400 <= body["code"] < 600 else 502)

    def do_POST(self) -> None:  # noqa: N802 - http.server's method name
        """``/api/predict/<endpoint>``: the page's call, forwarded with the token."""
        path = urlsplit(self.path).path
        model = path[len("/api/predict/"):] if path.startswith("/api/predict/") else ""
        if not forward.NAME.match(model):
            self._error(404, f"not found: {path[:100]}")
            return
        if not self._from_page() or "application/json" not in self.headers.get("Content-Type", ""):
            self._error(403, "only the playground page may call the server through it")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(411, "a Content-Length is required")
            return
        if length > forward.MAX_REQUEST_BYTES:
            self.close_connection = True
            self._error(413, f"the request is over {forward.MAX_REQUEST_BYTES // 2**20} MiB", "TooLarge")
            return
        try:
            request = forward.parse_page_request(self.rfile.read(length))
            if request.stream:
                self._stream(model, request)
            else:
                answer = forward.call(self.server.client, model, request)
                self._send(200, answer, forward.content_type(answer))
        except ConvLensError as error:
            self._client_error(error)

    def _stream(self, model: str, request: forward.PageRequest) -> None:
        """NDJSON lines as the server streams (the connection closes at the end: no length needed)."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        for line in forward.stream_lines(self.server.client, model, request):
            self.wfile.write(line)
            self.wfile.flush()
