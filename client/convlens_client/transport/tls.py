"""TLS options shared by both transports: the CA that signed the server's certificate, and an
optional client certificate for mutual TLS.

TorchServe serves HTTPS when its addresses are ``https://`` (``certificate_file``/
``private_key_file`` or a keystore in ``config.properties``) and gRPC over TLS with
``enable_grpc_ssl=true``. Without a ``ca_cert`` the system's trust store is used.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # grpc is imported lazily: the HTTP transport does not need it
    import grpc

PathLike = Union[str, "os.PathLike[str]"]


def _read(path: PathLike | None, what: str) -> bytes | None:
    """A PEM file's bytes (None for no file); ValueError naming ``what`` when unreadable."""
    if path is None:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class TLSConfig:
    """Where the PEM files are; every field optional (all None = verify against the system store)."""

    ca_cert: PathLike | None = None  # CA bundle that signed the server's certificate
    client_cert: PathLike | None = None  # client certificate chain, for mutual TLS
    client_key: PathLike | None = None  # its private key (may be inside client_cert for HTTP)
    server_name: str | None = None  # gRPC only: the name to check in the server's certificate

    def __post_init__(self) -> None:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert")

    @property
    def configured(self) -> bool:
        """Whether any option is set (then TLS is implied)."""
        return any(v is not None for v in (self.ca_cert, self.client_cert, self.client_key, self.server_name))

    def ssl_context(self) -> ssl.SSLContext:
        """An :class:`ssl.SSLContext` for the HTTP transport (hostname checked, CA from ``ca_cert``)."""
        cafile = None if self.ca_cert is None else str(Path(self.ca_cert).expanduser())
        try:
            context = ssl.create_default_context(cafile=cafile)
            if self.client_cert is not None:
                keyfile = None if self.client_key is None else str(Path(self.client_key).expanduser())
                context.load_cert_chain(str(Path(self.client_cert).expanduser()), keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load the TLS files: {exc}") from None
        return context

    def grpc_credentials(self) -> grpc.ChannelCredentials:
        """``grpc.ssl_channel_credentials`` with the root CA and, for mutual TLS, the client pair."""
        import grpc

        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("gRPC mutual TLS needs both client_cert and client_key")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_cert, "CA certificate"),
            private_key=_read(self.client_key, "client key"),
            certificate_chain=_read(self.client_cert, "client certificate"),
        )

    def grpc_options(self) -> tuple[tuple[str, str], ...]:
        """Channel options: the certificate name override, when set."""
        if self.server_name is None:
            return ()
        return (("grpc.ssl_target_name_override", self.server_name),)
