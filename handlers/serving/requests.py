"""One TorchServe request (a dict per batch element) -> the flat field map of the public request schema."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convlens.core.errors import InvalidParameter

BODY = "body"


def request_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten multipart fields, query parameters, a JSON object body or a raw image body into one map.

    TorchServe hands us `{"body": <decoded JSON | bytes | str>}` for non-form bodies, one key per form field or
    query parameter otherwise, and the gRPC `input` map as bytes values.
    """
    if row is None:
        raise InvalidParameter(None, "empty request")
    fields = {str(k): v for k, v in row.items() if k != BODY}
    body = row.get(BODY)
    if isinstance(body, dict):
        for key, value in body.items():
            if key in fields:
                raise InvalidParameter(key, f"field '{key}' is given twice (query string and JSON body)")
            fields[str(key)] = value
    elif isinstance(body, (list, int, float, bool)):
        raise InvalidParameter(BODY, "a JSON body must be an object of named fields")
    elif body not in (None, b"", ""):
        fields[BODY] = body  # a raw image upload: the endpoint's image field
    return fields


def wants_proto(row: Mapping[str, Any] | None) -> bool:
    """Whether a request asked for protobuf output (used to encode errors before its fields were validated)."""
    if not row:
        return False
    value = row.get("format")
    if value is None and isinstance(row.get(BODY), dict):
        value = row[BODY].get("format")
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    return isinstance(value, str) and value.strip().lower() == "proto"
