"""The connection settings: one frozen object shared by the client, its transports and management clients."""

from __future__ import annotations

from dataclasses import dataclass, field

from .retry import RetryPolicy
from .tls import PathLike, TLSConfig

TRANSPORTS = ("http", "grpc")
SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Connection:
    """Where a ConvLens server is and how to reach it (one object instead of an argument list per class).

    ``transport`` picks the inference API (``http``: REST on ``http_port``, management on ``management_port``;
    ``grpc``: ``grpc_port``, management on ``grpc_management_port``). ``scheme`` None becomes ``https`` when
    ``tls`` has any option set, else ``http``. Tokens: see :mod:`convlens_client.transport.auth`; ``timeout``
    is seconds per attempt and ``retry`` says which failures are repeated (:mod:`convlens_client.transport.retry`).
    """

    host: str = "127.0.0.1"
    transport: str = "http"
    http_port: int = 8080
    grpc_port: int = 7070
    management_port: int = 8081
    grpc_management_port: int = 7071
    scheme: str | None = None
    token: str | None = field(default=None, repr=False)
    key_file: PathLike | None = None
    management_token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tls: TLSConfig = field(default_factory=TLSConfig)

    def __post_init__(self) -> None:
        """Check the transport and scheme; resolve the scheme from the TLS options."""
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be 'http' or 'grpc', not {self.transport!r}")
        scheme = self.scheme or ("https" if self.tls.configured else "http")
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
        if scheme == "http" and self.tls.configured:
            raise ValueError("TLS options (ca_cert, client_cert, ...) need scheme='https'")
        object.__setattr__(self, "scheme", scheme)

    @property
    def secure(self) -> bool:
        """Whether connections use TLS."""
        return self.scheme == "https"

    def port(self, transport: str, management: bool = False) -> int:
        """The port of ``transport``'s inference API, or of its management API."""
        if transport == "http":
            return self.management_port if management else self.http_port
        return self.grpc_management_port if management else self.grpc_port

    def address(self, port: int) -> str:
        """``host:port``, with a bare IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{port}"

    def url(self, port: int) -> str:
        """The base URL of ``port`` (``scheme://host:port``)."""
        return f"{self.scheme}://{self.address(port)}"
