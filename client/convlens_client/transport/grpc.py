"""gRPC transport: TorchServe's ``InferenceAPIsService`` (``Predictions``, ``Ping``).

TorchServe answers a handler's per-request error with status OK and the error in the body, so
bodies are checked for the contract's JSON error. Transport failures arrive as gRPC statuses and
are mapped to the same exceptions as their HTTP counterparts. Two quirks of TorchServe 0.12.0
(read from its frontend): an unknown model and a full job queue both arrive as ``INTERNAL``
(not NOT_FOUND / UNAVAILABLE), recognisable by their description.

Every call goes through :func:`convlens_client.transport.retry.call_with_retries`: ``UNAVAILABLE``, the
full-queue ``INTERNAL`` and ``RESOURCE_EXHAUSTED`` (other than a message over a size limit) are
retried with backoff; see :mod:`convlens_client.transport.retry`. A gRPC channel is thread-safe, so one
client may be shared by threads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Callable, TypeVar

import grpc
from google.protobuf import empty_pb2

from .._proto import inference_pb2, inference_pb2_grpc
from ..errors import ConvLensError, Unsupported, error_for, error_from_json
from ..inputs import Fields, ImageFile
from .connection import Connection
from .responses import proto_error
from .retry import Retrying, TokenProvider
from .tls import TLSConfig

T = TypeVar("T")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)

# gRPC status -> HTTP-style code, the inverse of TorchServe's GRPCUtils.getGRPCStatusCode.
_HTTP_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 416,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 413,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500,
}


# How gRPC (client or server side) words a message over a size limit; such a RESOURCE_EXHAUSTED
# repeats on every attempt, unlike an exhausted server resource.
_SIZE_LIMIT_WORDS = ("larger than max", "exceeds maximum", "message too large", "max message size")


# How gRPC words a TLS failure inside UNAVAILABLE (untrusted certificate, refused handshake).
_TLS_WORDS = ("CERTIFICATE_VERIFY_FAILED", "handshake failed", "Handshake failed", "SSL_ERROR", "TSI_")


def _same(response: Any) -> Any:
    """The RPC's response as it came."""
    return response


def make_channel(
    target: str, secure: bool = False, tls: TLSConfig | None = None
) -> grpc.Channel:
    """A channel with the raised message limits; TLS (``tls`` or the system roots) when ``secure``."""
    if not secure:
        return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    tls = tls or TLSConfig()
    return grpc.secure_channel(target, tls.grpc_credentials(), options=CHANNEL_OPTIONS + tls.grpc_options())


def error_from_rpc(exc: grpc.RpcError) -> ConvLensError:
    """The exception for a failed RPC, with the HTTP-style code of its status."""
    status: grpc.StatusCode = getattr(exc, "code", lambda: grpc.StatusCode.UNKNOWN)()
    details: str = getattr(exc, "details", lambda: "")() or ""
    first_line, _, rest = details.partition("\n")  # TorchServe appends the exception class
    embedded = error_from_json(first_line.encode("utf-8"))  # a handler's JSON error as message
    if embedded is not None:
        return embedded
    code, type_ = _HTTP_CODE.get(status, 500), status.name
    if status == grpc.StatusCode.UNAVAILABLE and any(w in details for w in _TLS_WORDS):
        return ConvLensError(f"TLS failed: {first_line}", 0, "TLSError")  # not retried
    if status == grpc.StatusCode.RESOURCE_EXHAUSTED and not any(
        w in details.lower() for w in _SIZE_LIMIT_WORDS
    ):
        code = 503  # an exhausted server resource (not a size limit): Busy, retryable
    elif status == grpc.StatusCode.INTERNAL:
        if "NotFoundException" in rest or first_line.startswith(("Model not found", "Model version")):
            code, type_ = 404, "ModelNotFoundException"
        elif "has no worker to serve inference request" in first_line:
            code, type_ = 503, "ServiceUnavailableException"
    return error_for(code, type_, first_line or status.name)


class GrpcSession(Retrying):
    """One port of the server over a gRPC channel; the base of the inference and management clients."""

    def __init__(
        self, settings: Connection, port: int, token: TokenProvider, channel: grpc.Channel | None = None
    ) -> None:
        super().__init__(settings, token)
        self.target = settings.address(port)
        self._channel = channel or make_channel(self.target, settings.secure, settings.tls)

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        """The ``authorization`` metadata of the current token (none without one)."""
        token = self._token()
        return (("authorization", f"Bearer {token}"),) if token else ()

    def _unary(
        self, method: Callable[..., Any], request: Any, timeout: float | None, result: Callable[[Any], T] = _same
    ) -> T:
        """One RPC with retries and token refresh; ``result(response)`` (which may raise, and is then retried as
        well); gRPC failures mapped to the client's exceptions."""

        def attempt() -> T:
            try:
                response = method(request, metadata=self._metadata(), timeout=timeout or self._timeout)
            except grpc.RpcError as exc:
                raise error_from_rpc(exc) from None
            return result(response)

        return self._retried(attempt)

    def close(self) -> None:
        """Release the connection."""
        self._channel.close()


class GrpcTransport(GrpcSession):
    """Calls ``Predictions`` with the fields as the ``input`` map (text UTF-8 encoded)."""

    def __init__(self, settings: Connection, token: TokenProvider, channel: grpc.Channel | None = None) -> None:
        super().__init__(settings, settings.grpc_port, token, channel)
        # The generated gRPC stub is untyped; its methods take/return the typed pb2 messages.
        self._stub = inference_pb2_grpc.InferenceAPIsServiceStub(self._channel)

    @staticmethod
    def _request(model: str, fields: Fields) -> inference_pb2.PredictionsRequest:
        """The ``PredictionsRequest``: fields as the ``input`` map, text UTF-8 encoded."""
        return inference_pb2.PredictionsRequest(
            model_name=model,
            input={
                name: value.data if isinstance(value, ImageFile) else value.encode("utf-8")
                for name, value in fields.items()
            },
        )

    def stream(self, model: str, fields: Fields, timeout: float | None = None) -> Iterator[bytes]:
        """``StreamPredictions``: yields each streamed message's ``prediction`` bytes as it arrives (not retried:
        a stream may already have delivered events)."""
        try:
            call = self._stub.StreamPredictions(
                self._request(model, fields), metadata=self._metadata(), timeout=timeout or self._timeout
            )
            for response in call:
                yield response.prediction
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def predict(self, model: str, fields: Fields, timeout: float | None = None) -> bytes:
        """``Predictions(model_name=model, input=fields)``; the response's ``prediction`` bytes."""
        proto = isinstance(fields.get("format"), str) and fields.get("format") == "proto"

        def body(response: inference_pb2.PredictionResponse) -> bytes:
            prediction: bytes = response.prediction
            error = error_from_json(prediction)  # a handler's error (TorchServe keeps status OK)
            if error is None and proto:  # ... or in a convlens.v1.Response when format=proto
                error = proto_error(prediction)
            if error is not None:
                raise error
            return prediction

        return self._unary(self._stub.Predictions, self._request(model, fields), timeout, body)

    def explain(self, model: str, fields: Fields, timeout: float | None = None) -> bytes:
        """Not available: TorchServe's gRPC API has no explanations RPC."""
        raise Unsupported(
            "TorchServe has no gRPC explanations RPC; use transport='http' for explain()",
            0,
            "Unsupported",
        )

    def health(self, timeout: float | None = None) -> str:
        """``Ping``: TorchServe's status (``Healthy`` or ``Unhealthy``)."""
        response: Any = self._unary(self._stub.Ping, empty_pb2.Empty(), timeout)
        try:
            status = json.loads(response.health).get("status")
        except (ValueError, AttributeError):
            status = None
        return status if isinstance(status, str) else response.health.strip()
