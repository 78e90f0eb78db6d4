"""HTTP transport: TorchServe's REST inference API (``/predictions``, ``/explanations``, ``/ping``).

Every call goes through :func:`convlens_client.transport.retry.call_with_retries` (backoff on 503/507 and
connection failures, one token refresh on Unauthorized). One ``httpx.Client`` (a thread-safe
connection pool) serves all calls, so a client may be shared by threads.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Callable, TypeVar, Union

import httpx

from ..errors import Busy, ConvLensError, ServerError, error_for, error_from_dict
from ..inputs import Fields, ImageFile
from .connection import Connection
from .responses import proto_error
from .retry import Retrying, TokenProvider

Timeout = Union[float, None, "httpx._client.UseClientDefault"]
Form = tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]

T = TypeVar("T")


def _timeout(seconds: float | None) -> Timeout:
    """httpx's per-request timeout: the client's default unless ``seconds`` is given."""
    return httpx.USE_CLIENT_DEFAULT if seconds is None else seconds


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind an httpx failure (certificate not trusted, handshake refused), if any."""
    seen: BaseException | None = exc
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


def error_from_response(response: httpx.Response) -> ConvLensError:
    """The exception for a non-2xx response: JSON error body, protobuf error body, or bare status."""
    body = response.content
    try:
        error = error_from_dict(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        error = None
    if error is None and body[:1] != b"{":
        error = proto_error(body)
    if error is not None:
        if error.code != response.status_code:  # the HTTP status is what the server enforced
            error = error_for(response.status_code, error.type, error.message, error.field)
        return error
    text = body.decode("utf-8", "replace").strip()[:500] or response.reason_phrase
    return error_for(response.status_code, "HTTPError", text or f"HTTP {response.status_code}")


def bearer(key: str | None) -> dict[str, str]:
    """The ``Authorization`` header of ``key``; none without a key (token auth disabled)."""
    return {"Authorization": f"Bearer {key}"} if key else {}


class HttpSession(Retrying):
    """One port of the server over a pooled ``httpx.Client``; the base of the inference and management clients."""

    def __init__(
        self, settings: Connection, port: int, token: TokenProvider, client: httpx.Client | None = None
    ) -> None:
        super().__init__(settings, token)
        self.base_url = settings.url(port)
        verify = settings.tls.ssl_context() if settings.secure else True
        self._http = client or httpx.Client(base_url=self.base_url, timeout=settings.timeout, verify=verify)

    def _request(
        self, method: str, path: str, key: str | None, timeout: float | None, form: Form | None = None
    ) -> httpx.Response:
        """One request with the bearer ``key`` (none without one); httpx's failures mapped, status not checked."""
        data, files = form or ({}, {})
        headers = bearer(key)
        return send_errors(
            self.base_url,
            lambda: self._http.request(
                method, path, data=data or None, files=files or None, headers=headers, timeout=_timeout(timeout)
            ),
        )

    def close(self) -> None:
        """Release the connection."""
        self._http.close()


def checked(response: httpx.Response) -> httpx.Response:
    """``response`` when it is a success; the client's exception for its error otherwise."""
    if not response.is_success:
        raise error_from_response(response)
    return response


class HttpTransport(HttpSession):
    """Sends request maps as multipart/form-data: images as file parts, everything else as text."""

    def __init__(self, settings: Connection, token: TokenProvider, client: httpx.Client | None = None) -> None:
        super().__init__(settings, settings.http_port, token, client)

    def _call(self, path: str, fields: Fields, timeout: float | None = None) -> bytes:
        """``POST path`` with the fields; the body of a successful answer."""
        def attempt() -> bytes:
            return checked(self._request("POST", path, self._token(), timeout, self._form(fields))).content

        return self._retried(attempt)

    def predict(self, model: str, fields: Fields, timeout: float | None = None) -> bytes:
        """``POST /predictions/{model}``; the response body."""
        return self._call(f"/predictions/{model}", fields, timeout)

    def explain(self, model: str, fields: Fields, timeout: float | None = None) -> bytes:
        """``POST /explanations/{model}``; the response body."""
        return self._call(f"/explanations/{model}", fields, timeout)

    @staticmethod
    def _form(fields: Fields | None) -> Form:
        """multipart/form-data parts: images as file parts, everything else as text."""
        data: dict[str, str] = {}
        files: dict[str, tuple[str, bytes, str]] = {}
        for name, value in (fields or {}).items():
            if isinstance(value, ImageFile):
                files[name] = (value.filename, value.data, value.content_type)
            else:
                data[name] = value
        return data, files

    def stream(self, model: str, fields: Fields, timeout: float | None = None) -> Iterator[bytes]:
        """``POST /predictions/{model}`` read as it arrives (chunked); yields the body's bytes in pieces (not
        retried: a stream may already have delivered events)."""
        data, files = self._form(fields)

        def open_stream() -> httpx.Response:
            request = self._http.build_request("POST", f"/predictions/{model}", data=data or None,
                                               files=files or None, headers=bearer(self._token()),
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

    def health(self, timeout: float | None = None) -> str:
        """``GET /ping``: TorchServe's status (``Healthy`` or ``Unhealthy``, which comes with a 500)."""

        def attempt() -> str:
            response = self._request("GET", "/ping", self._token(), timeout)
            try:
                status = json.loads(response.content).get("status")
            except (ValueError, AttributeError):
                status = None
            if isinstance(status, str):
                return status
            if not response.is_success:
                raise error_from_response(response)
            return response.text.strip()

        return self._retried(attempt)
