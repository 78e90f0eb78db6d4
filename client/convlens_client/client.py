"""The ConvLens client: typed calls over TorchServe's HTTP or gRPC inference API."""

from __future__ import annotations

import json
import threading
from typing import Any, Dict, Iterator, List, Mapping, Optional, Protocol, Union

from google.protobuf.message import DecodeError

from ._proto import convlens_pb2 as pb
from .auth import PathLike, TokenSource
from .endpoints_attribution import AttributionMethods
from .endpoints_base import Target
from .endpoints_lecture import LectureMethods
from .endpoints_style import StyleMethods
from .endpoints_synthesis import SynthesisMethods
from .errors import ConvLensError, error_for, error_from_json
from .inputs import Fields, ImageInput, build_fields
from .management import GrpcManagement, HttpManagement
from .results import Heatmap, ModelStatus, Prediction
from .retry import RetryPolicy
from .streaming import Progress, frames
from .tls import TLSConfig
from .transport_grpc import GrpcTransport
from .transport_http import HttpTransport

__all__ = ["Client", "Target", "Transport", "parse_response"]


class Transport(Protocol):
    """What the client needs from a transport; both raise :mod:`convlens_client.errors`."""

    def predict(self, model: str, fields: Fields, timeout: Optional[float] = None) -> bytes:
        """The body of ``model``'s answer to ``fields`` (errors raised as exceptions)."""
        ...

    def explain(self, model: str, fields: Fields, timeout: Optional[float] = None) -> bytes:
        """The body of TorchServe's explanations call."""
        ...

    def health(self, timeout: Optional[float] = None) -> str:
        """TorchServe's health status."""
        ...

    def stream(self, model: str, fields: Fields, timeout: Optional[float] = None) -> Iterator[bytes]:
        """``model``'s streamed answer (progress=true), piece by piece as it arrives."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def parse_response(body: bytes) -> pb.Response:
    """Decode a format=proto body; raise the error it carries, if any."""
    msg = pb.Response()
    try:
        msg.ParseFromString(body)
    except DecodeError as exc:
        raise ConvLensError(
            f"the server's answer is not a convlens.v1.Response ({len(body)} bytes)",
            type="MalformedResponse",
        ) from exc
    if msg.WhichOneof("result") == "error":
        e = msg.error
        raise error_for(e.code or 500, e.type or "Error", e.message, e.field or None)
    return msg


def expect_result(msg: pb.Response, model: str, expect: str) -> pb.Response:
    """``msg`` when it holds the ``expect`` result; a MalformedResponse error otherwise."""
    got = msg.WhichOneof("result")
    if got != expect:
        raise ConvLensError(
            f"expected a {expect} result from '{model}', got {got or 'nothing'}", type="MalformedResponse"
        )
    return msg


class Client(AttributionMethods, SynthesisMethods, StyleMethods, LectureMethods):
    """A ConvLens client; thread-safe (one connection pool / channel shared by all calls).

    ``transport`` is ``"http"`` (TorchServe's REST API on ``http_port``, management on
    ``management_port``) or ``"grpc"`` (its gRPC inference API on ``grpc_port``, management on
    ``grpc_management_port``); results and errors are the same on both.

    Auth (see :mod:`convlens_client.auth`): the inference token from ``token``,
    ``CONVLENS_TOKEN`` or a TorchServe ``key_file.json``; the management token (for
    :meth:`models`, :meth:`describe`, :meth:`layers`) from ``management_token``,
    ``CONVLENS_MANAGEMENT_TOKEN`` or the key file. Tokens read from the key file are refreshed
    once when refused (re-read, then rotated with the ``api_key`` / ``CONVLENS_API_KEY`` / the key
    file's API key).

    Reliability (see :mod:`convlens_client.retry`): ``timeout`` seconds per attempt (every method
    also takes ``timeout=`` for one call); ``retries`` extra attempts with exponential backoff
    from ``backoff`` seconds and full jitter, only for retryable failures (503/507, no connection,
    gRPC UNAVAILABLE / RESOURCE_EXHAUSTED / TorchServe's full-queue INTERNAL), never for 4xx.

    TLS: ``scheme="https"`` on both transports, implied by any of ``ca_cert`` (PEM bundle that
    signed the server's certificate; default: the system store), ``client_cert``/``client_key``
    (mutual TLS) and ``tls_server_name`` (gRPC: the name to check in the certificate).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        token: Optional[str] = None,
        transport: str = "http",
        http_port: int = 8080,
        grpc_port: int = 7070,
        key_file: Optional[PathLike] = None,
        timeout: float = 60.0,
        scheme: Optional[str] = None,
        *,
        management_port: int = 8081,
        grpc_management_port: int = 7071,
        management_token: Optional[str] = None,
        api_key: Optional[str] = None,
        retries: int = 2,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        ca_cert: Optional[PathLike] = None,
        client_cert: Optional[PathLike] = None,
        client_key: Optional[PathLike] = None,
        tls_server_name: Optional[str] = None,
        retry_policy: Optional[RetryPolicy] = None,
    ) -> None:
        if transport not in ("http", "grpc"):
            raise ValueError(f"transport must be 'http' or 'grpc', not {transport!r}")
        self.tls = TLSConfig(ca_cert, client_cert, client_key, tls_server_name)
        scheme = scheme or ("https" if self.tls.configured else "http")
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
        if scheme == "http" and self.tls.configured:
            raise ValueError("TLS options (ca_cert, client_cert, ...) need scheme='https'")
        self.transport_name = transport
        self.retry = retry_policy or RetryPolicy(retries, backoff, max_backoff)
        self._token = TokenSource(token, key_file, api_key=api_key)
        self._management_token = TokenSource(management_token, key_file, kind="management", api_key=api_key)
        self._token.rotator = self._management_token.rotator = self._rotate_token
        self._host, self._scheme, self._timeout = host, scheme, timeout
        self._management_ports = {"http": management_port, "grpc": grpc_management_port}
        self._managers: Dict[str, Union[HttpManagement, GrpcManagement]] = {}
        self._managers_lock = threading.Lock()
        self._transport: Transport
        if transport == "http":
            self._transport = HttpTransport(
                host, http_port, self._token, timeout, scheme, retry=self.retry, tls=self.tls
            )
        else:
            self._transport = GrpcTransport(
                host, grpc_port, self._token, timeout, secure=scheme == "https", retry=self.retry, tls=self.tls
            )

    # -- endpoints ---------------------------------------------------------------------------

    def classify(self, image: ImageInput, topk: int = 5, **fields: Any) -> List[Prediction]:
        """The ``topk`` most probable classes of ``image``, most probable first."""
        msg = self._proto("classify", image, dict(topk=topk, **fields), "classification")
        return [Prediction.from_proto(p) for p in msg.classification.predictions]

    def saliency(
        self,
        image: ImageInput,
        target: Target = None,
        method: str = "gradient",
        size: Optional[int] = None,
        **fields: Any,
    ) -> Heatmap:
        """The saliency map of ``target`` (class index or label; default: top-1) on ``image``."""
        params = dict(target=target, method=method, size=size, **fields)
        return Heatmap.from_proto(self._proto("saliency", image, params, "heatmap").heatmap)

    def saliency_image(
        self,
        image: ImageInput,
        target: Target = None,
        method: str = "gradient",
        view: str = "heatmap",
        format: str = "png",
        **fields: Any,
    ) -> bytes:
        """The saliency map rendered by the server: a ``heatmap`` or ``overlay`` picture
        (``png``/``jpeg``), or the raw array (``npy``)."""
        params = dict(target=target, method=method, view=view, format=format, **fields)
        return self._transport.predict("saliency", build_fields({"image": image}, params))

    def explain(self, image: ImageInput, target: Target = None, timeout: Optional[float] = None) -> bytes:
        """TorchServe's explanation of ``classify`` (``POST /explanations/classify``): a PNG
        saliency map. HTTP only: TorchServe has no gRPC explanations RPC."""
        fields = build_fields({"image": image}, {"target": target})
        return self._transport.explain("classify", fields, timeout=timeout)

    def health(self, timeout: Optional[float] = None) -> str:
        """TorchServe's health: ``"Healthy"`` or ``"Unhealthy"`` (models may still be loading)."""
        return self._transport.health(timeout=timeout)

    # -- management (management token; HTTP port 8081 or gRPC ManagementAPIsService 7071) ----

    def models(self, timeout: Optional[float] = None) -> List[ModelStatus]:
        """Every served model (endpoint) with its workers, sorted by name; ``.ready`` says whether
        it can serve now (TorchServe's /ping says Healthy while models still load)."""
        manager = self._manager()
        names = sorted({str(m.get("modelName")) for m in manager.list_models(timeout=timeout)})
        return [
            ModelStatus.from_describe(manager.describe(name, customized=False, timeout=timeout)[0])
            for name in names
        ]

    def describe(self, model: str, version: Optional[str] = None, timeout: Optional[float] = None) -> Dict[str, Any]:
        """What endpoint ``model`` offers: its handler's describe dict (TorchServe's describe call
        with ``customized=true``): backbone, device, layers, limits and the endpoint's own keys
        (methods, styles, ...)."""
        entries = self._manager().describe(model, version, customized=True, timeout=timeout)
        meta = entries[0].get("customizedMetadata") if entries else None
        if isinstance(meta, str):  # a handler that returned JSON text
            try:
                meta = json.loads(meta)
            except ValueError:
                pass
        if not isinstance(meta, dict):
            raise ConvLensError(f"'{model}' has no ConvLens description", type="MalformedResponse")
        return meta

    def layers(self, model: str = "saliency", timeout: Optional[float] = None) -> List[str]:
        """The named layers of ``model``'s backbone (usable as ``layer=``), input to output."""
        layers = self.describe(model, timeout=timeout).get("layers")
        if not isinstance(layers, list):
            raise ConvLensError(f"'{model}' does not list its layers", type="MalformedResponse")
        return [str(layer) for layer in layers]

    # -- plumbing ----------------------------------------------------------------------------

    def _proto(self, model: str, image: ImageInput, params: dict[str, Any], expect: str) -> pb.Response:
        """Call ``model`` on one ``image`` with format=proto; the Response, which must hold ``expect``."""
        return self._request(model, {"image": image}, params, expect)

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

    def _manager(self, kind: Optional[str] = None) -> Union[HttpManagement, GrpcManagement]:
        """The management API client of ``kind`` (default: this client's transport), made once."""
        kind = kind or self.transport_name
        with self._managers_lock:
            if kind not in self._managers:
                port = self._management_ports[kind]
                token, timeout, tls = self._management_token, self._timeout, self.tls
                self._managers[kind] = (
                    HttpManagement(self._host, port, token, timeout, self._scheme, self.retry, tls)
                    if kind == "http"
                    else GrpcManagement(self._host, port, token, timeout, self._scheme == "https", self.retry, tls)
                )
            return self._managers[kind]

    def _rotate_token(self, kind: str, api_key: str) -> None:
        """Have TorchServe write a new ``kind`` key into its key file (REST management API)."""
        manager = self._manager("http")
        assert isinstance(manager, HttpManagement)
        manager.rotate_token(kind, api_key)

    def _stream(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], expect: Optional[str]
    ) -> Iterator[Union[Progress, pb.Response, bytes]]:
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

    def close(self) -> None:
        """Close the connections (HTTP sessions or gRPC channels)."""
        self._transport.close()
        with self._managers_lock:
            for manager in self._managers.values():
                manager.close()
            self._managers.clear()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(transport={self.transport_name!r})"
