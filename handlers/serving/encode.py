"""One encoder for every endpoint: a result and a format -> response bytes and content type; and the error body.

The format switch lives here once; what differs per result type (its picture, npy array, JSON dict, protobuf
message and view options) is its `Wire` in messages*.py, found by the result's type in its area's module (WIRE_MODULES).
"""
from __future__ import annotations

import json
from importlib import import_module
from typing import Any

from convlens.core import colormaps
from convlens.core.errors import ConvLensError

from . import convlens_pb2 as pb
from .messages import FormatError, Wire

CONTENT_TYPES = {
    "json": "application/json",
    "proto": "application/x-protobuf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "npy": "application/x-npy",
}

# Which module holds the Wires of each engine area's results; imported on first use, so a worker loads only the
# message code (and engine area) of the results it returns.
WIRE_MODULES = {"core": "messages", "attribution": "messages_attribution", "inspect": "messages_inspect",
                "synthesis": "messages_synthesis", "style": "messages_style", "stylize": "messages_style"}


def all_wires() -> dict[type, type[Wire[Any]]]:
    """Every result type's Wire (loads every area's message module: for errors, docs and tests)."""
    found: dict[type, type[Wire[Any]]] = {}
    for module in dict.fromkeys(WIRE_MODULES.values()):
        found.update(import_module(f"{__package__}.{module}").WIRES)
    return found


def wire_type(result_type: type) -> type[Wire[Any]] | None:
    """The Wire of a `convlens.<area>....` result type, from its area's message module."""
    parts = result_type.__module__.split(".")
    module = WIRE_MODULES.get(parts[1]) if len(parts) > 2 and parts[0] == "convlens" else None
    wires: dict[type, type[Wire[Any]]] = import_module(f"{__package__}.{module}").WIRES if module else {}
    return wires.get(result_type)


def json_bytes(obj: Any) -> bytes:
    """Compact JSON (no spaces), as every JSON body of the contract."""
    return json.dumps(obj, separators=(",", ":")).encode()


def wire(result: Any, **view: Any) -> Wire[Any]:
    """The result type's Wire with the request's view options (a TypeError names an option it does not take)."""
    kind = wire_type(type(result))
    if kind is None:
        raise TypeError(f"no wire encoding for {type(result).__name__}; known: "
                        f"{', '.join(sorted(t.__name__ for t in all_wires()))}")
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
