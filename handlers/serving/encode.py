"""One encoder for every endpoint: a result and a format -> response bytes and content type; and the error body.

The format switch lives here once; what differs per result type (its picture, npy array, JSON dict, protobuf
message and view options) is its `Wire` in messages*.py, found by the result's type in `WIRES`.
"""
from __future__ import annotations

import json
from typing import Any

from convlens.core import colormaps
from convlens.core.errors import ConvLensError

from . import convlens_pb2 as pb
from . import messages, messages_attribution, messages_inspect, messages_style, messages_synthesis
from .messages import FormatError, Wire

CONTENT_TYPES = {
    "json": "application/json",
    "proto": "application/x-protobuf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "npy": "application/x-npy",
}

WIRES: dict[type, type[Wire[Any]]] = {**messages.WIRES, **messages_attribution.WIRES, **messages_inspect.WIRES,
                                      **messages_style.WIRES, **messages_synthesis.WIRES}


def json_bytes(obj: Any) -> bytes:
    """Compact JSON (no spaces), as every JSON body of the contract."""
    return json.dumps(obj, separators=(",", ":")).encode()


def wire(result: Any, **view: Any) -> Wire[Any]:
    """The result type's Wire with the request's view options (a TypeError names an option it does not take)."""
    kind = WIRES.get(type(result))
    if kind is None:
        raise TypeError(f"no wire encoding for {type(result).__name__}; known: "
                        f"{', '.join(sorted(t.__name__ for t in WIRES))}")
    return kind(**view)


def encode(result: Any, fmt: str, **view: Any) -> tuple[bytes, str]:
    """`result` as format `fmt` (png, jpeg, npy, proto or json) with the request's view options (e.g. `view`,
    `colormap`) -> (body, content type); an unknown format, or one the type has no form in, is a FormatError."""
    if fmt not in CONTENT_TYPES:
        raise FormatError(f"unknown format {fmt!r}; one of {', '.join(CONTENT_TYPES)}")
    w = wire(result, **view)
    if fmt in ("png", "jpeg"):
        body = w.picture_bytes(result, fmt)
    elif fmt == "npy":
        body = colormaps.npy_bytes(w.array(result))
    elif fmt == "proto":
        body = pb.Response(**{w.response_field: w.message(result)}).SerializeToString()
    else:
        body = json_bytes(w.json(result))
    return body, CONTENT_TYPES[fmt]


def encode_error(error: ConvLensError, proto: bool = False) -> tuple[bytes, str]:
    """The contract's error body: JSON {code, type, message, field}, or a Response with `error` set."""
    if proto:
        msg = pb.Error(code=error.code, type=error.type, message=error.message, field=error.field or "")
        return pb.Response(error=msg).SerializeToString(), CONTENT_TYPES["proto"]
    return json_bytes(error.to_dict()), CONTENT_TYPES["json"]
