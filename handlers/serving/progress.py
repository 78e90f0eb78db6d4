"""Progress streaming for iterative endpoints (progress=true), on TorchServe's intermediate responses.

TorchServe 0.12 sends each `send_intermediate_predict_response` as one HTTP chunk (the first one carries the
status line and headers) and as one gRPC `StreamPredictions` message; the final return value of `handle` ends
the stream. Chunk boundaries are not guaranteed to survive proxies and client libraries, so the body is
self-delimiting:

* format=proto: every message, events and the final result (or error) alike, is a `convlens.v1.Response`
  preceded by its length as a protobuf varint (the "delimited" framing); events have `progress` set.
* other formats: every event is one line of JSON, `{"progress": {...}}` + newline; everything after the last
  event line is the final body exactly as without progress (PNG, JSON, npy, or the JSON error), to the end.

Over gRPC each stream message carries exactly one such frame. Measured on TorchServe 0.12.0: every intermediate
response arrives as its own HTTP chunk (the first carries status 200, the headers and `ts_stream_next: true`)
and as its own `StreamPredictions` message.

Two traps of TorchServe 0.12's gRPC frontend (GRPCJob), both checked against the real server:
* `StreamPredictions` on a request that sends no intermediate response: the final response lacks the
  `ts_stream_next` header and the frontend fails with a NullPointerException ("Worker died"). So every final
  response to a gRPC request carries `ts_stream_next: false` (`close_grpc_stream`); unary calls ignore it. HTTP
  requests must not get it (the REST frontend would treat the answer as the end of a stream it never started);
  they are told apart by their HTTP headers, which TorchServe forwards (gRPC requests have none).
* unary `Predictions` with streamed events: the first event completes the call and the next one fails in the
  frontend (IllegalStateException), leaving the worker's replies out of step. The handler cannot tell unary from
  streaming gRPC calls, so over gRPC events are sent only for `progress=stream`, the explicit opt-in that a
  `StreamPredictions` caller makes (the client SDK does); `progress=true` over gRPC gets the result alone, on
  either RPC, and never wedges the worker. Over HTTP `true` and `stream` both stream. A stream always starts
  with a step-0 event sent
before any work: TorchServe's gRPC streaming needs at least one intermediate response before the final one,
and an HTTP client sees at once that its request is running. Errors after the start arrive as the final frame
(the HTTP status is then already 200).
"""
from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from convlens.core import images
from convlens.core.progress import ProgressEvent

from . import convlens_pb2 as pb
from .requests import BODY

logger = logging.getLogger(__name__)

STREAM_CONTENT_TYPE = "application/x-convlens-stream"
EVENT_PREFIX = b'{"progress":'
TRUE = ("true", "1", "yes", "on")
STREAM = "stream"  # the gRPC opt-in: only StreamPredictions callers may ask for events
MIN_INTERVAL_S = 0.25  # at most ~4 events per second (the first and the last always go)

Sender = Callable[[int, Any, bytes], None]


def progress_requested(row: Mapping[str, Any] | None, grpc: bool = False) -> bool:
    """Whether a request asked for streamed progress (form field, gRPC input or JSON body): progress=true or
    progress=stream over HTTP; only progress=stream over gRPC (see the module docstring)."""
    if not row:
        return False
    value = row.get("progress")
    if value is None and isinstance(row.get(BODY), dict):
        value = row[BODY].get("progress")
    if isinstance(value, bool):
        return value
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if not isinstance(value, str):
        return False
    value = value.strip().lower()
    return value == STREAM or (not grpc and value in TRUE)


def over_grpc(idx: int, context: Any) -> bool:
    """Whether request `idx` came over gRPC: HTTP requests carry request headers (at least TorchServe's own
    `explain` and `url_path`), gRPC requests only their per-field entries."""
    processors = getattr(context, "request_processor", None)
    if not processors or idx >= len(processors) or processors[idx] is None:
        return False
    properties = processors[idx].get_request_properties() or {}
    return not any(not isinstance(value, dict) for value in properties.values())


def close_grpc_stream(idx: int, context: Any) -> None:
    """Mark a gRPC final response as the end of a stream (see the module docstring); nothing for HTTP."""
    if over_grpc(idx, context):
        context.set_response_header(idx, "ts_stream_next", "false")


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def delimited(message: bytes) -> bytes:
    """A serialized message preceded by its length as a varint."""
    return varint(len(message)) + message


def event_frame(event: ProgressEvent, proto: bool) -> bytes:
    """One progress event as a stream frame (see the module docstring)."""
    picture = event.preview
    preview = images.encode_png(picture) if picture is not None else None
    if proto:
        msg = pb.Progress(step=event.step, total=event.total, loss=event.loss or 0.0, stage=event.stage,
                          elapsed_s=event.elapsed_s)
        if picture is not None and preview is not None:
            msg.preview.CopyFrom(pb.Image(data=preview, format="png", width=picture.shape[1],
                                          height=picture.shape[0], name="preview"))
        return delimited(pb.Response(progress=msg).SerializeToString())
    body: dict[str, Any] = {"step": event.step, "total": event.total, "loss": event.loss, "stage": event.stage,
                            "elapsed_s": round(event.elapsed_s, 3)}
    if preview is not None:
        body["preview"] = base64.b64encode(preview).decode("ascii")
    return EVENT_PREFIX + json.dumps(body, separators=(",", ":")).encode() + b"}\n"


def send_intermediate(idx: int, context: Any, body: bytes) -> None:
    """TorchServe's intermediate response, to this request only (its batch neighbours are not streamed)."""
    from ts.handler_utils.utils import send_intermediate_predict_response

    send_intermediate_predict_response({idx: body}, {idx: context.request_ids[idx]},
                                       "Intermediate Prediction success", 200, context)


class ProgressStream:
    """The progress callback handed to an engine function for one request: throttled events as frames."""

    def __init__(self, idx: int, context: Any, proto: bool, send: Sender = send_intermediate,
                 min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.idx, self.context, self.proto, self.send = idx, context, proto, send
        self.min_interval_s = min_interval_s
        self.last_sent = -float("inf")
        self.sent = 0
        self.pending: ProgressEvent | None = None  # the latest event held back by the throttle

    def start(self) -> None:
        """Send the step-0 event that opens the stream (before any validation or work)."""
        self.context.set_response_content_type(self.idx, f"{STREAM_CONTENT_TYPE}; format="
                                                         f"{'proto' if self.proto else 'frames'}")
        self._send(ProgressEvent(step=0, total=0, stage="started"))

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.step >= event.total or now - self.last_sent >= self.min_interval_s:
            self._send(event)
        else:
            self.pending = event

    def _send(self, event: ProgressEvent) -> None:
        self.pending = None
        self.last_sent = time.monotonic()
        self.send(self.idx, self.context, event_frame(event, self.proto))
        self.sent += 1

    def finish(self, body: bytes) -> bytes:
        """The final frame (delimited in proto mode, as it is otherwise), after the last held-back event."""
        if self.pending is not None:
            self._send(self.pending)
        return delimited(body) if self.proto else body
