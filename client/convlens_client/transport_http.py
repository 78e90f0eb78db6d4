"""HTTP transport: TorchServe's REST inference API (``/predictions``, ``/explanations``, ``/ping``)."""

from __future__ import annotations

import json
from typing import Callable, Iterator, Optional

import httpx
from google.protobuf.message import DecodeError

from ._proto import convlens_pb2 as pb
from .errors import Busy, ConvLensError, ServerError, error_for, error_from_dict
from .inputs import Fields, ImageFile

TokenProvider = Callable[[], Optional[str]]


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
    ) -> None:
        self.base_url = f"{scheme}://{_host(host)}:{port}"
        self._token = token
        self._http = client or httpx.Client(base_url=self.base_url, timeout=timeout)

    def _headers(self) -> dict[str, str]:
        token = self._token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _send(self, method: str, path: str, fields: Optional[Fields] = None) -> httpx.Response:
        data: dict[str, str] = {}
        files: dict[str, tuple[str, bytes, str]] = {}
        for name, value in (fields or {}).items():
            if isinstance(value, ImageFile):
                files[name] = (value.filename, value.data, value.content_type)
            else:
                data[name] = value
        try:
            return self._http.request(
                method, path, data=data or None, files=files or None, headers=self._headers()
            )
        except httpx.TimeoutException as exc:
            raise ServerError(f"request timed out: {exc}", 504, "Timeout") from exc
        except httpx.ConnectError as exc:
            raise Busy(f"cannot connect to {self.base_url}: {exc}", 503, "ConnectionError") from exc
        except httpx.HTTPError as exc:
            raise ConvLensError(f"{type(exc).__name__}: {exc}", 0, "TransportError") from exc

    def _call(self, path: str, fields: Fields) -> bytes:
        response = self._send("POST", path, fields)
        if not response.is_success:
            raise error_from_response(response)
        return response.content

    def predict(self, model: str, fields: Fields) -> bytes:
        """``POST /predictions/{model}``; the response body."""
        return self._call(f"/predictions/{model}", fields)

    def explain(self, model: str, fields: Fields) -> bytes:
        """``POST /explanations/{model}``; the response body."""
        return self._call(f"/explanations/{model}", fields)

    def stream(self, model: str, fields: Fields) -> Iterator[bytes]:
        """``POST /predictions/{model}`` read as it arrives (chunked); yields the body's bytes in pieces."""
        data: dict[str, str] = {}
        files: dict[str, tuple[str, bytes, str]] = {}
        for name, value in fields.items():
            if isinstance(value, ImageFile):
                files[name] = (value.filename, value.data, value.content_type)
            else:
                data[name] = value
        try:
            with self._http.stream("POST", f"/predictions/{model}", data=data or None, files=files or None,
                                   headers=self._headers()) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                yield from response.iter_bytes()
        except httpx.TimeoutException as exc:
            raise ServerError(f"request timed out: {exc}", 504, "Timeout") from exc
        except httpx.ConnectError as exc:
            raise Busy(f"cannot connect to {self.base_url}: {exc}", 503, "ConnectionError") from exc
        except httpx.HTTPError as exc:
            raise ConvLensError(f"{type(exc).__name__}: {exc}", 0, "TransportError") from exc

    def health(self) -> str:
        """``GET /ping``: TorchServe's status (``Healthy`` or ``Unhealthy``, which comes with a 500)."""
        response = self._send("GET", "/ping")
        try:
            status = json.loads(response.content).get("status")
        except (ValueError, AttributeError):
            status = None
        if isinstance(status, str):
            return status
        if not response.is_success:
            raise error_from_response(response)
        return response.text.strip()

    def close(self) -> None:
        self._http.close()
