"""Exceptions of the ConvLens client, one class per kind of failure, identical for HTTP and gRPC.

Every error carries the fields of the server's JSON error body: ``code`` (an HTTP-style status),
``type`` (e.g. ``InvalidParameter``, ``InvalidKeyException``, or a gRPC status name), ``message``
and ``field`` (the request field at fault, or None).
"""

from __future__ import annotations

import json
from typing import Any


class ConvLensError(Exception):
    """Base class of every error the client raises for a failed call."""

    def __init__(
        self, message: str, code: int = 0, type: str = "ConvLensError", field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.type = type
        self.field = field or None

    def __str__(self) -> str:
        where = f" (field '{self.field}')" if self.field else ""
        return f"{self.type}: {self.message}{where}"

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(message={self.message!r}, code={self.code!r}, "
            f"type={self.type!r}, field={self.field!r})"
        )


class InvalidRequest(ConvLensError):
    """The request is invalid (400 and other 4xx): a bad parameter or image; ``field`` names it."""


class Unauthorized(ConvLensError):
    """The token is missing, wrong or expired (TorchServe's InvalidKeyException / PERMISSION_DENIED)."""


class NotFound(ConvLensError):
    """The endpoint (TorchServe model) or version does not exist, or (type ``StyleNotCached``) a ``stylize``
    style id the server does not hold (404)."""


class TooLarge(ConvLensError):
    """The request or response exceeds a size or pixel limit (413 / RESOURCE_EXHAUSTED)."""


class Busy(ConvLensError):
    """The server cannot take the request now: queue full, no worker, or unreachable (503 / UNAVAILABLE)."""


class ServerError(ConvLensError):
    """The server failed (5xx other than 503: 500, 504 timeout, 507 out of memory)."""


class Unsupported(ConvLensError, NotImplementedError):
    """The call is not available on the chosen transport (e.g. explanations over gRPC)."""


def error_for(code: int, type_: str, message: str, field: str | None = None) -> ConvLensError:
    """The exception for an HTTP-style status and error type (the contract's error body)."""
    cls: type[ConvLensError]
    if type_ == "InvalidKeyException" or code in (401, 403):
        cls = Unauthorized
    elif code == 404:
        cls = NotFound
    elif code == 413:
        cls = TooLarge
    elif code == 503:
        cls = Busy
    elif 400 <= code < 500:
        cls = InvalidRequest
    elif 500 <= code < 600:
        cls = ServerError
    else:
        cls = ConvLensError
    return cls(message, code, type_, field)


def error_from_dict(body: Any) -> ConvLensError | None:
    """The exception for a decoded JSON error body ``{code, type, message, field}``, else None."""
    if not isinstance(body, dict):
        return None
    code, type_, message = body.get("code"), body.get("type"), body.get("message")
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(type_, str):
        return None
    if code < 400 or not isinstance(message, str):
        return None
    field = body.get("field")
    return error_for(code, type_, message, field if isinstance(field, str) else None)


def error_from_json(body: bytes) -> ConvLensError | None:
    """The exception for a JSON error body (bytes), or None when ``body`` is not one.

    Successful binary results (PNG, JPEG, npy, protobuf) never start with ``{``, so only bodies
    that do are parsed.
    """
    if body.lstrip()[:1] != b"{":
        return None
    try:
        return error_from_dict(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        return None
