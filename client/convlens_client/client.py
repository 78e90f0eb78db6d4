"""The ConvLens client: typed calls over TorchServe's HTTP or gRPC inference API."""

from __future__ import annotations

from typing import Any, Iterator, List, Mapping, Optional, Protocol, Union

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
from .results import Heatmap, Prediction
from .streaming import Progress, frames
from .transport_grpc import GrpcTransport
from .transport_http import HttpTransport

__all__ = ["Client", "Target", "Transport", "parse_response"]


class Transport(Protocol):
    """What the client needs from a transport; both raise :mod:`convlens_client.errors`."""

    def predict(self, model: str, fields: Fields) -> bytes: ...

    def explain(self, model: str, fields: Fields) -> bytes: ...

    def health(self) -> str: ...

    def stream(self, model: str, fields: Fields) -> Iterator[bytes]: ...

    def close(self) -> None: ...


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


class Client(AttributionMethods, SynthesisMethods, StyleMethods, LectureMethods):
    """A ConvLens client.

    ``transport`` is ``"http"`` (TorchServe's REST API on ``http_port``) or ``"grpc"`` (its gRPC
    inference API on ``grpc_port``); results and errors are the same on both. The token is taken
    from ``token``, ``CONVLENS_TOKEN``, or a TorchServe ``key_file.json`` (see
    :mod:`convlens_client.auth`). ``scheme="https"`` uses TLS on both transports.
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
        scheme: str = "http",
    ) -> None:
        if transport not in ("http", "grpc"):
            raise ValueError(f"transport must be 'http' or 'grpc', not {transport!r}")
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
        self.transport_name = transport
        self._token = TokenSource(token, key_file)
        self._transport: Transport
        if transport == "http":
            self._transport = HttpTransport(host, http_port, self._token, timeout, scheme)
        else:
            self._transport = GrpcTransport(host, grpc_port, self._token, timeout, secure=scheme == "https")

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

    def explain(self, image: ImageInput, target: Target = None) -> bytes:
        """TorchServe's explanation of ``classify`` (``POST /explanations/classify``): a PNG
        saliency map. HTTP only: TorchServe has no gRPC explanations RPC."""
        return self._transport.explain("classify", build_fields({"image": image}, {"target": target}))

    def health(self) -> str:
        """TorchServe's health: ``"Healthy"`` or ``"Unhealthy"`` (models may still be loading)."""
        return self._transport.health()

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
        fields = build_fields(images, {**params, "format": "proto"})
        msg = parse_response(self._transport.predict(model, fields))
        got = msg.WhichOneof("result")
        if got != expect:
            raise ConvLensError(
                f"expected a {expect} result from '{model}', got {got or 'nothing'}",
                type="MalformedResponse",
            )
        return msg

    def _raw(self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any]) -> bytes:
        """Call ``model`` and return the body as the server encoded it (a picture, npy, JSON)."""
        return self._transport.predict(model, build_fields(images, params))

    def _stream(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], expect: Optional[str]
    ) -> Iterator[Union[Progress, pb.Response, bytes]]:
        """Call ``model`` with progress=true: :class:`Progress` events as they arrive, then the result, last:
        the Response holding ``expect`` (format=proto, ``expect`` given), else the body as encoded."""
        fields = build_fields(images, {**params, "progress": True, **({"format": "proto"} if expect else {})})
        for frame in frames(self._transport.stream(model, fields), proto=expect is not None):
            if isinstance(frame, Progress):
                yield frame
            elif expect is None:
                error = error_from_json(frame)
                if error is not None:
                    raise error
                yield frame
            else:
                msg = parse_response(frame)
                got = msg.WhichOneof("result")
                if got != expect:
                    raise ConvLensError(
                        f"expected a {expect} result from '{model}', got {got or 'nothing'}",
                        type="MalformedResponse",
                    )
                yield msg

    def close(self) -> None:
        """Close the connection (HTTP session or gRPC channel)."""
        self._transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(transport={self.transport_name!r})"
