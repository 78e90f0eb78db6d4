"""The page's calls, forwarded: its JSON request -> a client call -> the body, NDJSON progress lines or an error.

The page sends ``{"fields": {name: text}, "images": {name: base64}, "stream": bool}``; the fields go to the
server exactly as sent (the page shows the same request as curl, Python and CLI). Answers: the body as the server
encoded it (a picture, JSON, npy, protobuf); for ``stream`` one JSON line per progress event
(``{"progress": {...}}``, the preview as base64), then ``{"result": {"content_type", "data"}}`` or
``{"error": {...}}``; errors as the contract's ``{"code", "type", "message", "field"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..client import Client
from ..errors import ConvLensError, InvalidRequest, TooLarge
from ..inputs import sniff
from ..transport.streaming import Progress

MAX_IMAGE_BYTES = 32 * 1024 * 1024  # the server's default per image (model_store/*.yaml max_image_bytes)
MAX_REQUEST_BYTES = 48 * 1024 * 1024  # the server's request limit (a JSON body holds images as base64)
MAX_TEXT = 4096  # longer than any field value the server accepts
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class PageRequest:
    """One call the page asked for: text fields, decoded images, and whether to stream progress."""

    fields: dict[str, str]
    images: dict[str, bytes]
    stream: bool = False


def _name(name: object, where: str) -> str:
    """A field name as the server's fields look; a 400 naming it otherwise."""
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequest(f"not a field name: {str(name)[:80]!r}", 400, "InvalidParameter", where)
    return name


def _image(name: str, text: object) -> bytes:
    """Base64 text decoded, within the per-image limit."""
    if not isinstance(text, str):
        raise InvalidRequest("must be base64 text", 400, "InvalidImage", name)
    if len(text) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise TooLarge(f"over {MAX_IMAGE_BYTES // 2**20} MiB", 413, "TooLarge", name)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("not valid base64", 400, "InvalidImage", name) from None


def parse_page_request(body: bytes) -> PageRequest:
    """The page's JSON request, checked: names, text lengths, images within the limits."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidRequest("the request is not JSON", 400, "InvalidRequest") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request must be a JSON object", 400, "InvalidRequest")
    raw_fields, raw_images = data.get("fields") or {}, data.get("images") or {}
    if not isinstance(raw_fields, dict) or not isinstance(raw_images, dict):
        raise InvalidRequest("'fields' and 'images' must be objects", 400, "InvalidRequest")
    fields: dict[str, str] = {}
    for name, value in raw_fields.items():
        name = _name(name, "fields")
        if not isinstance(value, (str, int, float, bool)) or len(str(value)) > MAX_TEXT:
            raise InvalidRequest(f"must be text of at most {MAX_TEXT} characters", 400, "InvalidParameter", name)
        fields[name] = str(value).lower() if isinstance(value, bool) else str(value)
    images = {_name(name, "images"): b"" for name in raw_images}
    for name in images:
        images[name] = _image(name, raw_images[name])
    both = sorted(set(fields) & set(images))
    if both:
        raise InvalidRequest("sent both as text and as an image", 400, "InvalidParameter", both[0])
    return PageRequest(fields, images, bool(data.get("stream")))


def error_dict(error: ConvLensError) -> dict[str, Any]:
    """The contract's error body of a client exception."""
    return {"code": error.code or 502, "type": error.type, "message": error.message, "field": error.field}


def content_type(body: bytes) -> str:
    """What the server's answer is: a picture, JSON, npy, or (else) a protobuf ``Response``."""
    kind, _ = sniff(body)
    if kind != "application/octet-stream":
        return kind
    if body[:1] in (b"{", b"["):
        return "application/json"
    if body.startswith(b"\x93NUMPY"):
        return "application/x-npy"
    return "application/x-protobuf"


def call(client: Client, model: str, request: PageRequest) -> bytes:
    """The server's answer to one request, as encoded (raises the client's exceptions)."""
    return client._raw(model, request.images, request.fields)


def _line(value: Mapping[str, Any]) -> bytes:
    """One NDJSON line."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def progress_dict(event: Progress) -> dict[str, Any]:
    """A progress event for the page (the preview PNG as base64)."""
    preview = base64.b64encode(event.preview).decode() if event.preview else None
    return {"step": event.step, "total": event.total, "loss": event.loss, "stage": event.stage,
            "elapsed_s": event.elapsed_s, "preview": preview}


def stream_lines(client: Client, model: str, request: PageRequest) -> Iterator[bytes]:
    """NDJSON lines of a streamed call: progress events as they come, then the result or the error."""
    try:
        for item in client._stream(model, request.images, request.fields, None):
            if isinstance(item, Progress):
                yield _line({"progress": progress_dict(item)})
            else:
                data = base64.b64encode(item).decode()
                yield _line({"result": {"content_type": content_type(item), "data": data}})
    except ConvLensError as error:
        yield _line({"error": error_dict(error)})
