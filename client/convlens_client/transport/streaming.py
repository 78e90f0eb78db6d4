"""Decoding a streamed answer (``progress=true``): progress events, then the final result.

The server's framing (the same bytes over HTTP chunks and gRPC stream messages):

* ``format=proto``: every message is a ``convlens.v1.Response`` preceded by its length as a varint; events
  have ``progress`` set, the last message holds the result or an error;
* other formats: each event is one JSON line ``{"progress": {...}}``; everything after the last event line is
  the final body, as without progress (a picture, npy, JSON, or the JSON error).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Union

from .._proto import convlens_pb2 as pb
from ..errors import ConvLensError

EVENT_PREFIX = b'{"progress":'


@dataclass(frozen=True)
class Progress:
    """One progress event of an iterative endpoint; ``preview`` is a small PNG when the server sent one."""

    step: int
    total: int
    loss: float | None = None
    stage: str = ""
    elapsed_s: float = 0.0
    preview: bytes | None = None

    @classmethod
    def from_proto(cls, msg: pb.Progress) -> Progress:
        """From a ``convlens.v1.Progress``."""
        preview = msg.preview.data if msg.HasField("preview") else None
        return cls(msg.step, msg.total, msg.loss, msg.stage, msg.elapsed_s, preview or None)

    @classmethod
    def from_json(cls, body: dict) -> Progress:
        """From the ``progress`` object of a JSON event line."""
        preview = body.get("preview")
        return cls(
            int(body.get("step", 0)),
            int(body.get("total", 0)),
            body.get("loss"),
            str(body.get("stage", "")),
            float(body.get("elapsed_s", 0.0)),
            base64.b64decode(preview) if preview else None,
        )

    @property
    def fraction(self) -> float:
        """Share of the work done, 0..1 (0 while the total is unknown)."""
        return min(1.0, self.step / self.total) if self.total else 0.0


Frame = Union[Progress, bytes]  # an event, or the final body (always last)


def _malformed(what: str) -> ConvLensError:
    """The error for a stream that breaks the framing."""
    return ConvLensError(f"malformed progress stream: {what}", type="MalformedResponse")


def _read_varint(buffer: bytes) -> tuple[int, int] | None:
    """(value, bytes used) of a varint at the start of ``buffer``, or None if it is incomplete."""
    value = shift = 0
    for i, byte in enumerate(buffer[:10]):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    if len(buffer) >= 10:
        raise _malformed("length prefix too long")
    return None


def _proto_frames(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """Frames of length-prefixed ``convlens.v1.Response`` messages."""
    buffer = b""
    final: bytes | None = None
    for chunk in chunks:
        buffer += chunk
        while True:
            header = _read_varint(buffer)
            if header is None or len(buffer) < header[1] + header[0]:
                break
            size, used = header
            message, buffer = buffer[used : used + size], buffer[used + size :]
            if final is not None:
                raise _malformed("a message after the result")
            msg = pb.Response.FromString(message)
            if msg.WhichOneof("result") == "progress":
                yield Progress.from_proto(msg.progress)
            else:
                final = message
    if buffer or final is None:
        raise _malformed("the stream ended before its result")
    yield final


def _json_frames(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """Frames of JSON event lines followed by the final body."""
    buffer = b""
    events_done = False
    for chunk in chunks:
        buffer += chunk
        while not events_done:
            if buffer.startswith(EVENT_PREFIX):
                end = buffer.find(b"\n")
                if end < 0:
                    break
                line, buffer = buffer[:end], buffer[end + 1 :]
                try:
                    yield Progress.from_json(json.loads(line)["progress"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise _malformed(f"bad event line ({exc})") from None
            elif len(buffer) >= len(EVENT_PREFIX) or not EVENT_PREFIX.startswith(buffer):
                events_done = True  # the final body has begun
            else:
                break  # too short to tell yet
    if not events_done and not buffer:
        raise _malformed("the stream ended before its result")
    yield buffer


def frames(chunks: Iterable[bytes], proto: bool) -> Iterator[Frame]:
    """Progress events as they arrive, then the final body (bytes) as the last item."""
    return _proto_frames(chunks) if proto else _json_frames(chunks)
