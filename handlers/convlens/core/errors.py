"""Errors the engine raises for bad requests; the serving layer maps them to HTTP/gRPC statuses.

Every error names the request field at fault (when there is one) so clients can point users at it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ConvLensError(Exception):
    """Base class: an error that is the caller's to fix, with an HTTP-like status code."""

    message: str
    field: str | None = None
    code: int = 400
    type: str = "InvalidRequest"

    def __str__(self) -> str:
        where = f" (field '{self.field}')" if self.field else ""
        return f"{self.type}: {self.message}{where}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body of the public contract: code, type, message, field."""
        return {"code": self.code, "type": self.type, "message": self.message, "field": self.field}


class InvalidParameter(ConvLensError):
    """A field is missing, of the wrong type, out of range, or names something unknown (400)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message=message, field=field, code=400, type="InvalidParameter")


class InvalidImage(ConvLensError):
    """An image field holds bytes that are not a decodable, supported image (400)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message=message, field=field, code=400, type="InvalidImage")


class TooLarge(ConvLensError):
    """An input exceeds a byte or pixel limit (413); checked before any costly work."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message=message, field=field, code=413, type="TooLarge")
