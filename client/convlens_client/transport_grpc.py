"""gRPC transport: TorchServe's ``InferenceAPIsService`` (``Predictions``, ``Ping``).

TorchServe answers a handler's per-request error with status OK and the error in the body, so
bodies are checked for the contract's JSON error. Transport failures arrive as gRPC statuses and
are mapped to the same exceptions as their HTTP counterparts. Two quirks of TorchServe 0.12.0
(read from its frontend): an unknown model and a full job queue both arrive as ``INTERNAL``
(not NOT_FOUND / UNAVAILABLE), recognisable by their description.

Every call goes through :func:`convlens_client.retry.call_with_retries`: ``UNAVAILABLE``, the
full-queue ``INTERNAL`` and ``RESOURCE_EXHAUSTED`` (other than a message over a size limit) are
retried with backoff; see :mod:`convlens_client.retry`. A gRPC channel is thread-safe, so one
client may be shared by threads.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Optional

import grpc
from google.protobuf import empty_pb2

from ._proto import inference_pb2, inference_pb2_grpc
from .errors import ConvLensError, Unsupported, error_for, error_from_json
from .inputs import Fields, ImageFile
from .retry import RetryPolicy, call_with_retries
from .tls import TLSConfig
from .transport_http import _proto_error as proto_error

TokenProvider = Callable[[], Optional[str]]

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


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def make_channel(
    target: str, secure: bool = False, tls: Optional[TLSConfig] = None
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


class GrpcTransport:
    """Calls ``Predictions`` with the fields as the ``input`` map (text UTF-8 encoded)."""

    def __init__(
        self,
        host: str,
        port: int,
        token: TokenProvider,
        timeout: float,
        secure: bool = False,
        channel: Optional[grpc.Channel] = None,
        retry: Optional[RetryPolicy] = None,
        tls: Optional[TLSConfig] = None,
    ) -> None:
        self.target = f"{_host(host)}:{port}"
        self._token = token
        self._timeout = timeout
        self.retry = retry or RetryPolicy()
        if channel is None:
            channel = make_channel(self.target, secure, tls)
        self._channel = channel
        # The generated gRPC stub is untyped; its methods take/return the typed pb2 messages.
        self._stub = inference_pb2_grpc.InferenceAPIsServiceStub(channel)  # type: ignore[no-untyped-call]

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        token = self._token()
        return (("authorization", f"Bearer {token}"),) if token else ()

    def _unary(self, method: Callable[..., Any], request: Any, timeout: Optional[float]) -> Any:
        """One RPC with retries and token refresh; gRPC failures mapped to the client's exceptions."""

        def attempt() -> Any:
            try:
                return method(request, metadata=self._metadata(), timeout=timeout or self._timeout)
            except grpc.RpcError as exc:
                raise error_from_rpc(exc) from None

        return call_with_retries(attempt, self.retry, self._token)

    @staticmethod
    def _request(model: str, fields: Fields) -> inference_pb2.PredictionsRequest:
        return inference_pb2.PredictionsRequest(
            model_name=model,
            input={
                name: value.data if isinstance(value, ImageFile) else value.encode("utf-8")
                for name, value in fields.items()
            },
        )

    def stream(self, model: str, fields: Fields, timeout: Optional[float] = None) -> Iterator[bytes]:
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

    def predict(self, model: str, fields: Fields, timeout: Optional[float] = None) -> bytes:
        """``Predictions(model_name=model, input=fields)``; the response's ``prediction`` bytes."""
        request = self._request(model, fields)
        proto = isinstance(fields.get("format"), str) and fields.get("format") == "proto"

        def attempt() -> bytes:
            try:
                response = self._stub.Predictions(
                    request, metadata=self._metadata(), timeout=timeout or self._timeout
                )
            except grpc.RpcError as exc:
                raise error_from_rpc(exc) from None
            body: bytes = response.prediction
            error = error_from_json(body)  # a handler's error (TorchServe keeps status OK)
            if error is None and proto:  # ... or in a convlens.v1.Response when format=proto
                error = proto_error(body)
            if error is not None:
                raise error
            return body

        return call_with_retries(attempt, self.retry, self._token)

    def explain(self, model: str, fields: Fields, timeout: Optional[float] = None) -> bytes:
        """Not available: TorchServe's gRPC API has no explanations RPC."""
        raise Unsupported(
            "TorchServe has no gRPC explanations RPC; use transport='http' for explain()",
            0,
            "Unsupported",
        )

    def health(self, timeout: Optional[float] = None) -> str:
        """``Ping``: TorchServe's status (``Healthy`` or ``Unhealthy``)."""
        response = self._unary(self._stub.Ping, empty_pb2.Empty(), timeout)
        try:
            status = json.loads(response.health).get("status")
        except (ValueError, AttributeError):
            status = None
        return status if isinstance(status, str) else response.health.strip()

    def close(self) -> None:
        """Release the connection."""
        self._channel.close()
