"""Every kind of error maps to the same exception on HTTP and gRPC.

Each case gives what TorchServe sends over HTTP (a status and a JSON body) and over gRPC (a
per-request error in an OK response's body, or a transport-level status), as read from its 0.12.0
frontend: e.g. an unknown model and a full queue arrive as INTERNAL over gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from client_fakes import Reply, Servers, json_error, proto_error
from convlens_client import (
    Busy,
    ConvLensError,
    InvalidRequest,
    NotFound,
    ServerError,
    TooLarge,
    Unauthorized,
)
from convlens_client.errors import error_for, error_from_json

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
TOKEN_FAILED = "Token Authorization failed. Token either incorrect, expired, or not provided correctly"
NO_WORKER = (
    'Model "classify" has no worker to serve inference request. Please use scale workers API to add '
    "workers. If this is a sequence inference, please check if it is closed, or expired; or exceeds "
    "maxSequenceJobQueueSize"
)


@dataclass
class Case:
    id: str
    http: Reply
    grpc: Reply
    error: type
    code: int | None = None  # expected on both transports, when they agree
    type: str | None = None
    field: str | None = None
    call: str = "classify"  # "classify" (format=proto) or "picture" (saliency_image, format=png)


def _json(
    status: int, type_: str, message: str, field: str | None = None, with_field: bool = True
) -> Reply:
    return Reply(json_error(status, type_, message, field, with_field), status, "application/json")


def _abort(code: grpc.StatusCode, details: str) -> Reply:
    return Reply(grpc_code=code, grpc_details=details)


def _ok(body: bytes) -> Reply:
    return Reply(body, 200)


CASES = [
    Case(
        "handler-400-proto",
        _json(400, "InvalidParameter", "topk must be >= 1", "topk"),
        _ok(proto_error(400, "InvalidParameter", "topk must be >= 1", "topk")),
        InvalidRequest,
        400,
        "InvalidParameter",
        "topk",
    ),
    Case(
        "handler-400-proto-body-over-http",
        Reply(proto_error(400, "InvalidParameter", "unknown layer", "layer"), 400, "application/x-protobuf"),
        _ok(proto_error(400, "InvalidParameter", "unknown layer", "layer")),
        InvalidRequest,
        400,
        "InvalidParameter",
        "layer",
    ),
    Case(
        "handler-400-json",
        _json(400, "InvalidImage", "not an image", "image"),
        _ok(json_error(400, "InvalidImage", "not an image", "image")),
        InvalidRequest,
        400,
        "InvalidImage",
        "image",
        call="picture",
    ),
    Case(
        "bad-token",
        _json(400, "InvalidKeyException", TOKEN_FAILED, with_field=False),
        _abort(grpc.StatusCode.PERMISSION_DENIED, TOKEN_FAILED),
        Unauthorized,
    ),
    Case(
        "unauthenticated",
        _json(401, "Unauthorized", "who are you"),
        _abort(grpc.StatusCode.UNAUTHENTICATED, "who are you"),
        Unauthorized,
        401,
    ),
    Case(
        "unknown-model",
        _json(404, "ModelNotFoundException", "Model not found: classify", with_field=False),
        _abort(
            grpc.StatusCode.INTERNAL,
            "Model not found: classify\norg.pytorch.serve.archive.model.ModelNotFoundException",
        ),
        NotFound,
        404,
        "ModelNotFoundException",
    ),
    Case(
        "not-found-status",
        _json(404, "ModelNotFoundException", "gone", with_field=False),
        _abort(grpc.StatusCode.NOT_FOUND, "gone"),
        NotFound,
        404,
    ),
    Case(
        "too-large-transport",
        Reply(b"", 413, "text/plain"),
        _abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "message larger than max"),
        TooLarge,
        413,
    ),
    Case(
        "too-large-handler",
        _json(413, "TooLarge", "image has 90 megapixels", "image"),
        _ok(proto_error(413, "TooLarge", "image has 90 megapixels", "image")),
        TooLarge,
        413,
        "TooLarge",
        "image",
    ),
    Case(
        "queue-full",
        _json(503, "ServiceUnavailableException", NO_WORKER, with_field=False),
        _abort(grpc.StatusCode.INTERNAL, NO_WORKER + "\nInternalServerException.()"),
        Busy,
        503,
        "ServiceUnavailableException",
    ),
    Case(
        "unavailable",
        _json(503, "ServiceUnavailableException", "busy", with_field=False),
        _abort(grpc.StatusCode.UNAVAILABLE, "busy"),
        Busy,
        503,
    ),
    Case(
        "out-of-memory",
        _json(507, "OutOfMemory", "CUDA out of memory"),
        _ok(proto_error(507, "OutOfMemory", "CUDA out of memory")),
        ServerError,
        507,
        "OutOfMemory",
    ),
    Case(
        "out-of-memory-json",
        _json(507, "OutOfMemory", "CUDA out of memory"),
        _ok(json_error(507, "OutOfMemory", "CUDA out of memory")),
        ServerError,
        507,
        "OutOfMemory",
        call="picture",
    ),
    Case(
        "internal",
        _json(500, "InternalServerException", "Worker died.", with_field=False),
        _abort(grpc.StatusCode.INTERNAL, "Worker died.\norg.pytorch.serve.http.InternalServerException"),
        ServerError,
        500,
    ),
    Case(
        "invalid-argument",
        _json(400, "BadRequestException", "bad input", with_field=False),
        _abort(grpc.StatusCode.INVALID_ARGUMENT, "bad input"),
        InvalidRequest,
        400,
    ),
    Case(
        "timeout",
        _json(504, "RequestTimeout", "too slow", with_field=False),
        _abort(grpc.StatusCode.DEADLINE_EXCEEDED, "too slow"),
        ServerError,
        504,
    ),
    Case(
        "handler-json-in-grpc-details",
        _json(400, "InvalidParameter", "bad steps", "steps"),
        _abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            json_error(400, "InvalidParameter", "bad steps", "steps").decode()
            + "\norg.pytorch.serve.http.InternalServerException",
        ),
        InvalidRequest,
        400,
        "InvalidParameter",
        "steps",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_errors_map_the_same_on_both_transports(servers: Servers, backend, case: Case) -> None:
    errors = {}
    for transport in ("http", "grpc"):
        backend.reply = getattr(case, transport)
        with servers.client(transport) as c, pytest.raises(ConvLensError) as info:
            if case.call == "classify":
                c.classify(PNG)
            else:
                c.saliency_image(PNG)
        errors[transport] = info.value
    for transport, err in errors.items():
        assert type(err) is case.error, (transport, err)
        if case.code is not None:
            assert err.code == case.code, (transport, err)
        if case.type is not None:
            assert err.type == case.type, (transport, err)
        assert err.field == case.field, (transport, err)
        assert err.message
    assert errors["http"].message == errors["grpc"].message or case.id in ("too-large-transport",)


def test_error_text_names_type_message_and_field() -> None:
    err = InvalidRequest("must be >= 1", 400, "InvalidParameter", "topk")
    assert str(err) == "InvalidParameter: must be >= 1 (field 'topk')"
    assert str(ServerError("boom", 500, "InternalServerException")) == "InternalServerException: boom"
    assert "field='topk'" in repr(err)


@pytest.mark.parametrize(
    "code, type_, expected",
    [
        (400, "InvalidParameter", InvalidRequest),
        (400, "InvalidKeyException", Unauthorized),
        (401, "X", Unauthorized),
        (403, "X", Unauthorized),
        (404, "ModelNotFoundException", NotFound),
        (405, "MethodNotAllowedException", InvalidRequest),
        (413, "TooLarge", TooLarge),
        (500, "InternalServerException", ServerError),
        (503, "ServiceUnavailableException", Busy),
        (507, "OutOfMemory", ServerError),
        (0, "Odd", ConvLensError),
    ],
)
def test_status_table(code: int, type_: str, expected: type) -> None:
    assert type(error_for(code, type_, "m")) is expected


@pytest.mark.parametrize(
    "body",
    [
        b"\x89PNG\r\n\x1a\n{",
        b"\xff\xd8\xff\xe0",
        b"\x93NUMPY\x01\x00",
        b'{"width": 3, "height": 2, "values": []}',  # a successful format=json body
        b'{"code": 200, "type": "x", "message": "fine"}',
        b"{not json",
        b"",
    ],
)
def test_non_error_bodies_are_not_errors(body: bytes) -> None:
    assert error_from_json(body) is None
