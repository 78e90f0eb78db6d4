"""Decoding the server's ``convlens.v1.Response`` bodies (format=proto): the result, or the error it carries."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from .._proto import convlens_pb2 as pb
from ..errors import ConvLensError, error_for


def _carried_error(msg: pb.Response, default_code: int = 0) -> ConvLensError | None:
    """The exception for an error Response (``default_code`` when it names none), else None."""
    if msg.WhichOneof("result") != "error":
        return None
    e = msg.error
    code = e.code or default_code
    return error_for(code, e.type or "Error", e.message, e.field or None) if code else None


def proto_error(body: bytes) -> ConvLensError | None:
    """The error held in a ``convlens.v1.Response`` body, else None (also for bodies that are not one)."""
    msg = pb.Response()
    try:
        msg.ParseFromString(body)
    except DecodeError:
        return None
    return _carried_error(msg)


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
    error = _carried_error(msg, default_code=500)
    if error is not None:
        raise error
    return msg


def expect_result(msg: pb.Response, model: str, expect: str) -> pb.Response:
    """``msg`` when it holds the ``expect`` result; a MalformedResponse error otherwise."""
    got = msg.WhichOneof("result")
    if got != expect:
        raise ConvLensError(
            f"expected a {expect} result from '{model}', got {got or 'nothing'}", type="MalformedResponse"
        )
    return msg
