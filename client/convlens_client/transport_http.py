"""HTTP transport: TorchServe's REST inference API (``/predictions``, ``/explanations``, ``/ping``).

Every call goes through :func:`convlens_client.retry.call_with_retries` (backoff on 503/507 and
connection failures, one token refresh on Unauthorized). One ``httpx.Client`` (a thread-safe
connection pool) serves all calls, so a client may be shared by threads.
"""

from __future__ import annotations

import json
import ssl
from typing import Callable, Iterator, Optional, TypeVar, Union

import httpx
from google.protobuf.message import DecodeError

from ._proto import convlens_pb2 as pb
from .errors import Busy, ConvLensError, ServerError, error_for, error_from_dict
from .inputs import Fields, ImageFile
from .retry import RetryPolicy, call_with_retries
from .tls import TLSConfig

TokenProvider = Callable[[], Optional[str]]
Timeout = Union[float, None, "httpx._client.UseClientDefault"]


T = TypeVar("T")


def _timeout(seconds: Optional[float]) -> Timeout:
    """httpx's per-request timeout: the client's default unless ``seconds`` is given."""
    return httpx.USE_CLIENT_DEFAULT if seconds is None else seconds


def _verify(scheme: str, tls: Optional[TLSConfig]) -> Union[bool, "ssl.SSLContext"]:
    """httpx's ``verify``: an SSL context built from the TLS options for https, else the default."""
    if scheme == "https" and tls is not None:
        return tls.ssl_context()
    return True


def _tls_failure(exc: BaseException) -> Optional[ssl.SSLError]:
    """The TLS error behind an httpx failure (certificate not trusted, handshake refused), if any."""
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def send_errors(base_url: str, send: Callable[[], T]) -> T:
    """Run ``send``, mapping httpx's failures to the client's exceptions (connect -> retryable Busy;
    a TLS failure -> ``TLSError``, not retried: it would fail the same way again)."""
    try:
        try:
            return send()
        except httpx.TransportError as exc:
            tls_error = _tls_failure(exc)
            if tls_error is not None:
                raise ConvLensError(f"TLS with {base_url} failed: {tls_error}", 0, "TLSError") from exc
            raise
    except httpx.TimeoutException as exc:
        raise ServerError(f"request timed out: {exc}", 504, "Timeout") from exc
    except httpx.ConnectError as exc:
        raise Busy(f"cannot connect to {base_url}: {exc}", 503, "ConnectionError") from exc
    except httpx.RemoteProtocolError as exc:  # connection dropped before an answer (server restart)
        raise Busy(f"{base_url} closed the connection: {exc}", 503, "RemoteProtocolError") from exc
    except httpx.HTTPError as exc:
        raise ConvLensError(f"{type(exc).__name__}: {exc}", 0, "TransportError") from exc


def send_errors_iter(base_url: str, pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``pieces`` of a streamed body, with httpx's failures mapped as in :func:`send_errors`."""
    while True:
        piece = send_errors(base_url, lambda: next(pieces, None))
        if piece is None:
            return
        yield piece


def _host(host: str) -> str:
    """Bracket a bare IPv6 address for use in a URL."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _proto_error(body: bytes) -> Optional[ConvLensError]:
    """An error held in a ``convlens.v1.Response`` body, else None."""
    msg = pb.Response()
    try:
        msg.ParseFromString(body)
    except DecodeError:
        return None
    if msg.WhichOneof("result") != "error" or not msg.error.code:
        return None
    e = msg.error
    return error_for(e.code, e.type or "Error", e.message, e.field or None)


def error_from_response(response: httpx.Response) -> ConvLensError:
    """The exception for a non-2xx response: JSON error body, protobuf error body, or bare status."""
    body = response.content
    try:
        error = error_from_dict(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        error = None
    if error is None and body[:1] != b"{":
        error = _proto_error(body)
    if error is not None:
        if error.code != response.status_code:  # the HTTP status is what the server enforced
            error = error_for(response.status_code, error.type, error.message, error.field)
        return error
    text = body.decode("utf-8", "replace").strip()[:500] or response.reason_phrase
    return error_for(response.status_code, "HTTPError", text or f"HTTP {response.status_code}")


class HttpTransport:
    """Sends request maps as multipart/form-data: images as file parts, everything else as text."""

    def __init__(
        self,
        host: str,
        port: int,
        token: TokenProvider,
        timeout: float,
        scheme: str = "http",
        client: Optional[httpx.Client] = None,
        retry: Optional[RetryPolicy] = None,
        tls: Optional[TLSConfig] = None,
    ) -> None:
        self.base_url = f"{scheme}://{_host(host)}:{port}"
        self._token = token
        self.retry = retry or RetryPolicy()
        self._http = client or httpx.Client(
            base_url=self.base_url, timeout=timeout, verify=_verify(scheme, tls)
        )

    def _headers(self) -> dict[str, str]:
        token = self._token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _send(
        self, method: str, path: str, fields: Optional[Fields] = None, timeout: Optional[float] = None
    ) -> httpx.Response:
        data, files = self._form(fields)
        return send_errors(
            self.base_url,
            lambda: self._http.request(
                method,
                path,
                data=data or None,
                files=files or None,
                headers=self._headers(),
                timeout=_timeout(timeout),
            ),
        )

    def _call(self, path: str, fields: Fields, timeout: Optional[float] = None) -> bytes:
        def attempt() -> bytes:
            response = self._send("POST", path, fields, timeout)
            if not response.is_success:
                raise error_from_response(response)
            return response.content

        return call_with_retries(attempt, self.retry, self._token)

    def predict(self, model: str, fields: Fields, timeout: Optional[float] = None) -> bytes:
        """``POST /predictions/{model}``; the response body."""
        return self._call(f"/predictions/{model}", fields, timeout)

    def explain(self, model: str, fields: Fields, timeout: Optional[float] = None) -> bytes:
        """``POST /explanations/{model}``; the response body."""
        return self._call(f"/explanations/{model}", fields, timeout)

    @staticmethod
    def _form(fields: Optional[Fields]) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
        """multipart/form-data parts: images as file parts, everything else as text."""
        data: dict[str, str] = {}
        files: dict[str, tuple[str, bytes, str]] = {}
        for name, value in (fields or {}).items():
            if isinstance(value, ImageFile):
                files[name] = (value.filename, value.data, value.content_type)
            else:
                data[name] = value
        return data, files

    def stream(self, model: str, fields: Fields, timeout: Optional[float] = None) -> Iterator[bytes]:
        """``POST /predictions/{model}`` read as it arrives (chunked); yields the body's bytes in pieces (not
        retried: a stream may already have delivered events)."""
        data, files = self._form(fields)

        def open_stream() -> httpx.Response:
            request = self._http.build_request("POST", f"/predictions/{model}", data=data or None,
                                               files=files or None, headers=self._headers(),
                                               timeout=_timeout(timeout))
            return self._http.send(request, stream=True)

        response = send_errors(self.base_url, open_stream)
        try:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            yield from send_errors_iter(self.base_url, response.iter_bytes())
        finally:
            response.close()

    def health(self, timeout: Optional[float] = None) -> str:
        """``GET /ping``: TorchServe's status (``Healthy`` or ``Unhealthy``, which comes with a 500)."""

        def attempt() -> str:
            response = self._send("GET", "/ping", None, timeout)
            try:
                status = json.loads(response.content).get("status")
            except (ValueError, AttributeError):
                status = None
            if isinstance(status, str):
                return status
            if not response.is_success:
                raise error_from_response(response)
            return response.text.strip()

        return call_with_retries(attempt, self.retry, self._token)

    def close(self) -> None:
        """Release the connection."""
        self._http.close()
