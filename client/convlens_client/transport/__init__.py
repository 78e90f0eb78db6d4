"""How the client reaches the server: settings, HTTP and gRPC transports, management APIs, TLS, tokens, retries.

Both transports offer the :class:`Transport` calls and raise :mod:`convlens_client.errors`; the endpoint
methods never see which one runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ..inputs import Fields
from .connection import Connection

__all__ = ["Connection", "Transport"]


class Transport(Protocol):
    """What the client needs from a transport; both raise :mod:`convlens_client.errors`."""

    def predict(self, model: str, fields: Fields, timeout: float | None = None) -> bytes:
        """The body of ``model``'s answer to ``fields`` (errors raised as exceptions)."""
        ...

    def explain(self, model: str, fields: Fields, timeout: float | None = None) -> bytes:
        """The body of TorchServe's explanations call."""
        ...

    def health(self, timeout: float | None = None) -> str:
        """TorchServe's health status."""
        ...

    def stream(self, model: str, fields: Fields, timeout: float | None = None) -> Iterator[bytes]:
        """``model``'s streamed answer (progress=true), piece by piece as it arrives."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
