"""Synthesis handlers with a fake TorchServe context: streamed frames (decoded by the client's parser), the gRPC
end-of-stream header, formats, limits as 400s naming their field, and configs whose budget fits the timeout."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from classviz import ClassvizHandler
from convlens.core.errors import InvalidParameter
from convlens.core.progress import ProgressEvent
from convlens_client.transport.streaming import Progress, frames
from fooling import FoolingHandler
from serving import convlens_pb2 as pb
from serving.progress import ProgressStream, close_grpc_stream, delimited, event_frame, over_grpc, varint
from serving.specs import parse
from test_handlers import CAT, FakeContext
from texture import TextureHandler

ROOT = Path(__file__).resolve().parents[2]


class StreamContext(FakeContext):
    """A fake context that records intermediate frames and response headers."""

    def __init__(self, properties: dict | None = None) -> None:
        super().__init__()
        self.request_ids = {0: "req-0"}
        self.response_headers: dict[int, dict] = {}
        self.request_processor = [Processor(properties or {"explain": "False", "Host": "x"})]

    def set_response_header(self, idx, key, value):
        self.response_headers.setdefault(idx, {})[key] = value


class Processor:
    def __init__(self, properties: dict) -> None:
        self.properties = properties

    def get_request_properties(self) -> dict:
        return self.properties


@pytest.fixture(scope="module")
def fooling_handler():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    handler = FoolingHandler()
    handler.initialize(FakeContext())
    yield handler
    torch.set_num_threads(threads)


def run_streamed(handler, row, ctx=None):
    ctx = ctx or StreamContext()
    sent: list[bytes] = []
    handler.send_progress = lambda idx, context, body: sent.append(body)
    final = handler.handle([row], ctx)[0]
    return sent, final, ctx


def test_varint_and_delimited_frames():
    assert varint(0) == b"\x00" and varint(127) == b"\x7f" and varint(300) == b"\xac\x02"
    assert delimited(b"abc") == b"\x03abc"


def test_event_frames_in_both_framings_decode_with_the_client():
    event = ProgressEvent(step=3, total=10, loss=1.5, stage="octave 1/2", elapsed_s=0.25,
                          preview=np.zeros((4, 6, 3), np.uint8))
    for proto in (False, True):
        final = delimited(pb.Response(error=pb.Error(code=400)).SerializeToString()) if proto else b"\x89PNG..."
        items = list(frames([event_frame(event, proto) + final], proto))
        assert isinstance(items[0], Progress) and (items[0].step, items[0].total, items[0].stage) == (3, 10,
                                                                                                      "octave 1/2")
        assert items[0].loss == pytest.approx(1.5) and Image.open(io.BytesIO(items[0].preview)).size == (6, 4)
        assert isinstance(items[1], bytes)


def test_progress_stream_throttles_but_always_sends_the_last_step():
    sent = []
    stream = ProgressStream(0, FakeContext(), proto=False, send=lambda i, c, b: sent.append(b), min_interval_s=60)
    stream.start()
    for step in range(1, 11):
        stream(ProgressEvent(step=step, total=10))
    steps = [json.loads(b)["progress"]["step"] for b in sent]
    assert steps == [0, 10]
    stream(ProgressEvent(step=3, total=20))  # a run that stops early (fooling): its last event goes before the end
    assert stream.finish(b"result") == b"result" and json.loads(sent[-1])["progress"]["step"] == 3


def test_grpc_requests_are_told_apart_by_their_missing_http_headers():
    http, grpc_ctx = StreamContext(), StreamContext({"image": {"content-type": ""}})
    assert not over_grpc(0, http) and over_grpc(0, grpc_ctx) and not over_grpc(0, FakeContext())
    close_grpc_stream(0, http)
    close_grpc_stream(0, grpc_ctx)
    assert http.response_headers == {} and grpc_ctx.response_headers == {0: {"ts_stream_next": "false"}}


@pytest.mark.parametrize("fmt", ["json", "proto"])
def test_streamed_fooling_sends_events_then_the_result(fooling_handler, fmt):
    row = {"image": CAT, "target": "goldfish", "size": "48", "format": fmt, "progress": "true"}
    sent, final, ctx = run_streamed(fooling_handler, row)
    items = list(frames(sent + [final], proto=fmt == "proto"))
    events, result = items[:-1], items[-1]
    assert len(events) == len(sent) >= 2 and events[0].stage == "started" and events[-1].step >= 1
    if fmt == "proto":
        msg = pb.Response.FromString(result).synthesis
        assert msg.technique == "fooling" and msg.converged and msg.predicted[0].index == 1
    else:
        body = json.loads(result)
        assert body["converged"] and body["predicted"][0]["index"] == 1
    assert ctx.response_headers == {}  # HTTP: TorchServe adds its own ts_stream_next headers


def test_streamed_error_is_the_final_frame(fooling_handler):
    sent, final, ctx = run_streamed(fooling_handler, {"image": CAT, "target": "goldfish", "max_steps": "0",
                                                      "progress": "1"})
    assert len(sent) == 1 and ctx.status == {0: 400}
    assert json.loads(list(frames(sent + [final], proto=False))[-1])["field"] == "max_steps"


@pytest.mark.parametrize("fmt, check", [
    ("png", lambda b: Image.open(io.BytesIO(b)).size == (72, 48)),
    ("jpeg", lambda b: Image.open(io.BytesIO(b)).format == "JPEG"),
    ("npy", lambda b: np.load(io.BytesIO(b)).shape == (48, 72, 3)),
])
def test_fooling_formats(fooling_handler, fmt, check):
    ctx = FakeContext()
    out = fooling_handler.handle([{"image": CAT, "target": "1", "size": "48", "format": fmt}], ctx)[0]
    assert not ctx.status and check(out)
    both = fooling_handler.handle([{"image": CAT, "target": "1", "size": "48", "view": "both"}], FakeContext())[0]
    assert Image.open(io.BytesIO(both)).size == (2 * 72 + 4, 48)


@pytest.mark.parametrize("row, field", [
    ({"target": "1", "steps": "0"}, "steps"),
    ({"target": "1", "size": "4096"}, "size"),
    ({"layer": "block3"}, "channel"),
    ({"channel": "3"}, "target"),
    ({"target": "1", "layer": "block3", "channel": "1"}, "layer"),
    ({"target": "1", "param": "cppn"}, "param"),
    ({"target": "1", "count": "99"}, "count"),
    ({"target": "1", "progress": "maybe"}, "progress"),
    ({"target": "1", "tagret": "2"}, "tagret"),
    ({"target": "1", "objective": "neuron"}, "objective"),
    ({"objective": "class", "layer": "block3", "channel": "1"}, "target"),
    ({"target": "1", "objective": "pixels"}, "objective"),
    ({"target": "1", "blur_every": "2"}, "blur_every"),  # Yosinski's regularizers: param=pixel only
    ({"target": "1", "clip_norm_pct": "5"}, "clip_norm_pct"),
    ({"target": "1", "diversity": "-1"}, "diversity"),
    ({"target": "1", "param": "pixel", "diversity": "10"}, "diversity"),  # Olah's term: param=fourier only
])
def test_classviz_limits_name_the_field(row, field):
    with pytest.raises(InvalidParameter) as err:
        parse("classviz", row)
    assert err.value.field == field


def test_classviz_defaults_are_the_lucid_recipe_and_pixel_keeps_its_regularizers():
    lucid = parse("classviz", {"target": "1"})
    assert (lucid.param, lucid.steps, lucid.objective, lucid.blur_every, lucid.blur_sigma) == (
        "fourier", None, None, None, None)
    pixel = parse("classviz", {"target": "1", "param": "pixel", "blur_every": "3", "clip_norm_pct": "5"})
    assert (pixel.blur_every, pixel.blur_sigma, pixel.clip_norm_pct) == (3, 0.5, 5.0)
    assert parse("classviz", {"layer": "block3", "channel": "1", "objective": "neuron"}).objective == "neuron"


@pytest.mark.parametrize("task, row, field", [
    ("fooling", {"image": b"x"}, "target"),
    ("fooling", {"image": b"x", "target": "1", "confidence": "1.5"}, "confidence"),
    ("inversion", {"image": b"x", "steps": "99999"}, "steps"),
    ("deepdream", {"image": b"x", "octaves": "20"}, "octaves"),
    ("deepdream", {"image": b"x", "octave_scale": "0.5"}, "octave_scale"),
    ("texture", {"image": b"x", "layers": ",,"}, "layers"),
    ("texture", {"image": b"x", "size": "2048"}, "size"),
])
def test_other_limits_name_the_field(task, row, field):
    with pytest.raises(InvalidParameter) as err:
        parse(task, row)
    assert err.value.field == field


def test_unknown_layers_and_classes_are_400s_from_the_handlers():
    handler = TextureHandler()
    handler.initialize(FakeContext())
    ctx = FakeContext()
    out = handler.handle([{"image": CAT, "layers": "stem,block99", "steps": "1"}], ctx)[0]
    assert ctx.status == {0: 400} and json.loads(out)["field"] == "layers"
    viz = ClassvizHandler()
    viz.initialize(FakeContext())
    ctx = FakeContext()
    out = viz.handle([{"target": "no such class", "format": "proto"}], ctx)[0]
    assert ctx.status == {0: 400} and pb.Response.FromString(out).error.field == "target"
    described = viz.describe()
    assert described["endpoint"] == "classviz" and described["time_budget_s"] < 60 and "fourier" in described["params"]


@pytest.mark.parametrize("name", ["classviz", "fooling", "inversion", "deepdream", "texture"])
def test_time_budget_fits_below_the_response_timeout(name):
    config = yaml.safe_load((ROOT / "model_store" / f"{name}.yaml").read_text())
    assert 0 < config["convlens"]["time_budget_s"] <= config["responseTimeout"] - 5
    assert config["batchSize"] == 1


def test_tiny_images_are_400s_not_crashes():
    handler = TextureHandler()
    handler.initialize(FakeContext())
    tiny = io.BytesIO()
    Image.new("RGB", (8, 40)).save(tiny, format="PNG")
    ctx = FakeContext()
    out = handler.handle([{"image": tiny.getvalue(), "steps": "1"}], ctx)[0]
    assert ctx.status == {0: 400} and json.loads(out)["field"] == "image"


def test_grpc_streams_only_for_progress_stream(fooling_handler):
    """Over gRPC a unary Predictions call must never get intermediate responses (TorchServe's frontend would
    wedge the worker): progress=true gets the result alone; progress=stream (StreamPredictions) gets events."""
    row = {"image": CAT, "target": "goldfish", "size": "48", "format": "json"}
    grpc_ctx = StreamContext({"image": {"content-type": ""}})
    sent, final, ctx = run_streamed(fooling_handler, {**row, "progress": "true"}, grpc_ctx)
    assert sent == [] and json.loads(final)["converged"]
    assert ctx.response_headers == {0: {"ts_stream_next": "false"}}
    sent, final, _ = run_streamed(fooling_handler, {**row, "progress": "stream"},
                                  StreamContext({"image": {"content-type": ""}}))
    assert len(sent) >= 2 and json.loads(list(frames(sent + [final], proto=False))[-1])["converged"]
    sent, _, _ = run_streamed(fooling_handler, {**row, "progress": "stream"})  # HTTP: both spellings stream
    assert len(sent) >= 2
