"""The ConvLens client: typed calls over TorchServe's HTTP or gRPC inference API."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Union

from ._proto import convlens_pb2 as pb
from .endpoints import AttributionMethods, CoreMethods, InspectMethods, StyleMethods, SynthesisMethods, Target
from .errors import error_from_json
from .inputs import ImageInput, build_fields
from .transport import Connection, Transport
from .transport.auth import TokenSource
from .transport.grpc import GrpcTransport
from .transport.http import HttpTransport
from .transport.management import GrpcManagement, HttpManagement
from .transport.responses import expect_result, parse_response
from .transport.retry import RetryPolicy
from .transport.streaming import Progress, frames
from .transport.tls import PathLike, TLSConfig

__all__ = ["Client", "Connection", "Target", "Transport", "parse_response"]

Manager = Union[HttpManagement, GrpcManagement]


class Client(CoreMethods, AttributionMethods, SynthesisMethods, StyleMethods, InspectMethods):
    """A ConvLens client; thread-safe (one connection pool / channel shared by all calls).

    The arguments become one :class:`~convlens_client.transport.Connection` (``client.settings``); pass
    ``settings=`` instead to reuse one.

    ``transport`` is ``"http"`` (TorchServe's REST API on ``http_port``, management on
    ``management_port``) or ``"grpc"`` (its gRPC inference API on ``grpc_port``, management on
    ``grpc_management_port``); results and errors are the same on both.

    Auth (see :mod:`convlens_client.transport.auth`): the inference token from ``token``,
    ``CONVLENS_TOKEN`` or a TorchServe ``key_file.json``; the management token (for
    :meth:`models`, :meth:`describe`, :meth:`layers`) from ``management_token``,
    ``CONVLENS_MANAGEMENT_TOKEN`` or the key file. Tokens read from the key file are refreshed
    once when refused (re-read, then rotated with the ``api_key`` / ``CONVLENS_API_KEY`` / the key
    file's API key).

    Reliability (see :mod:`convlens_client.transport.retry`): ``timeout`` seconds per attempt (every method
    also takes ``timeout=`` for one call); ``retries`` extra attempts with exponential backoff
    from ``backoff`` seconds and full jitter, only for retryable failures (503/507, no connection,
    gRPC UNAVAILABLE / RESOURCE_EXHAUSTED / TorchServe's full-queue INTERNAL), never for 4xx;
    ``retry_policy`` replaces the three.

    TLS: ``scheme="https"`` on both transports, implied by any of ``ca_cert`` (PEM bundle that
    signed the server's certificate; default: the system store), ``client_cert``/``client_key``
    (mutual TLS) and ``tls_server_name`` (gRPC: the name to check in the certificate).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        token: str | None = None,
        transport: str = "http",
        http_port: int = 8080,
        grpc_port: int = 7070,
        key_file: PathLike | None = None,
        timeout: float = 60.0,
        scheme: str | None = None,
        *,
        management_port: int = 8081,
        grpc_management_port: int = 7071,
        management_token: str | None = None,
        api_key: str | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        ca_cert: PathLike | None = None,
        client_cert: PathLike | None = None,
        client_key: PathLike | None = None,
        tls_server_name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        settings: Connection | None = None,
    ) -> None:
        if settings is None:
            settings = Connection(
                host, transport, http_port, grpc_port, management_port, grpc_management_port, scheme, token,
                key_file, management_token, api_key, timeout,
                retry=retry_policy or RetryPolicy(retries, backoff, max_backoff),
                tls=TLSConfig(ca_cert, client_cert, client_key, tls_server_name),
            )
        else:
            _no_arguments_besides(settings, {k: v for k, v in locals().items() if k not in ("self", "settings")})
        self.settings = settings
        self._token = TokenSource(settings.token, settings.key_file, api_key=settings.api_key)
        self._management_token = TokenSource(
            settings.management_token, settings.key_file, kind="management", api_key=settings.api_key
        )
        self._token.rotator = self._management_token.rotator = self._rotate_token
        self._managers: dict[str, Manager] = {}
        self._managers_lock = threading.Lock()
        self._transport: Transport = (
            HttpTransport(settings, self._token) if settings.transport == "http"
            else GrpcTransport(settings, self._token)
        )

    @property
    def transport_name(self) -> str:
        """``"http"`` or ``"grpc"``."""
        return self.settings.transport

    @property
    def retry(self) -> RetryPolicy:
        """Which failures are retried, and the backoff."""
        return self.settings.retry

    @property
    def tls(self) -> TLSConfig:
        """The TLS options (all None: the system's trust store, or no TLS over http)."""
        return self.settings.tls

    # -- the primitives of the endpoint mixins --------------------------------------------------

    def _request(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], expect: str
    ) -> pb.Response:
        """Call ``model`` with format=proto on several image fields; the Response, which must hold ``expect``."""
        if "format" in params:
            raise TypeError(f"{model}() always asks for format=proto; use the *_image() method for pictures")
        params = dict(params)
        timeout = params.pop("timeout", None)
        fields = build_fields(images, {**params, "format": "proto"})
        return expect_result(parse_response(self._transport.predict(model, fields, timeout=timeout)), model, expect)

    def _raw(self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any]) -> bytes:
        """Call ``model`` and return the body as the server encoded it (a picture, npy, JSON)."""
        params = dict(params)
        timeout = params.pop("timeout", None)
        return self._transport.predict(model, build_fields(images, params), timeout=timeout)

    def _stream(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], expect: str | None
    ) -> Iterator[Progress | pb.Response | bytes]:
        """Call ``model`` with progress=true: :class:`Progress` events as they arrive, then the result, last:
        the Response holding ``expect`` (format=proto, ``expect`` given), else the body as encoded."""
        params = dict(params)
        timeout = params.pop("timeout", None)
        # "stream": the value that asks for events on both transports (over gRPC "true" gets the result alone)
        fields = build_fields(images, {**params, "progress": "stream", **({"format": "proto"} if expect else {})})
        for frame in frames(self._transport.stream(model, fields, timeout=timeout), proto=expect is not None):
            if isinstance(frame, Progress):
                yield frame
            elif expect is None:
                error = error_from_json(frame)
                if error is not None:
                    raise error
                yield frame
            else:
                yield expect_result(parse_response(frame), model, expect)

    def _manager(self, kind: str | None = None) -> Manager:
        """The management API client of ``kind`` (default: this client's transport), made once."""
        kind = kind or self.settings.transport
        with self._managers_lock:
            if kind not in self._managers:
                token = self._management_token
                self._managers[kind] = (
                    HttpManagement(self.settings, token) if kind == "http" else GrpcManagement(self.settings, token)
                )
            return self._managers[kind]

    def _rotate_token(self, kind: str, api_key: str) -> None:
        """Have TorchServe write a new ``kind`` key into its key file (REST management API)."""
        manager = self._manager("http")
        assert isinstance(manager, HttpManagement)
        manager.rotate_token(kind, api_key)

    def close(self) -> None:
        """Close the connections (HTTP sessions or gRPC channels)."""
        self._transport.close()
        with self._managers_lock:
            for manager in self._managers.values():
                manager.close()
            self._managers.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(transport={self.transport_name!r})"


def _no_arguments_besides(settings: Connection, arguments: dict[str, Any]) -> None:
    """Refuse connection arguments given together with ``settings=`` (they would be ignored)."""
    defaults = inspect.signature(Client.__init__).parameters
    given = sorted(name for name, value in arguments.items() if value != defaults[name].default)
    if given:
        raise TypeError(f"Client(settings=...) takes no other connection arguments; got {', '.join(given)}")
