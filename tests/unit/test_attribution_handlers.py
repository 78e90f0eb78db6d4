"""saliency (every method, inner neurons), occlusion and segment handlers with a fake TorchServe context."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from occlusion import OcclusionHandler
from saliency import SaliencyHandler
from segment import SegmentHandler
from serving import convlens_pb2 as pb
from test_handlers import CAT, FakeContext


def ready(cls):
    handler = cls()
    handler.initialize(FakeContext())
    return handler


@pytest.fixture(scope="module")
def handlers():
    return {cls.task: ready(cls) for cls in (SaliencyHandler, OcclusionHandler, SegmentHandler)}


def call(handler, **fields):
    ctx = FakeContext()
    out = handler.handle([fields], ctx)[0]
    return out, ctx


@pytest.mark.parametrize("method, extra", [
    ("smoothgrad", {"samples": "2", "noise": "0.1"}), ("guided_backprop", {}),
    ("integrated_gradients", {"steps": "4", "baseline": "blur"}), ("gradcam", {"layer": "block10"}),
    ("guided_gradcam", {})])
def test_every_method_answers_with_metadata(handlers, method, extra):
    out, ctx = call(handlers["saliency"], image=CAT, size="48", target="285", method=method, format="json", **extra)
    body = json.loads(out)
    assert not ctx.status and body["method"] == method and body["target"]["label"] == "Egyptian cat"
    values = np.array(body["values"])
    assert values.shape == (48, 72) and np.isfinite(values).all() and body["max"] == pytest.approx(values.max())
    if method.endswith("gradcam"):
        assert body["layer"] == extra.get("layer", "head")


def test_inner_neuron_over_the_wire(handlers):
    out, ctx = call(handlers["saliency"], image=CAT, size="48", method="guided_backprop", layer="block6",
                    channel="7", position="1,2", format="proto")
    heat = pb.Response.FromString(out).heatmap
    assert not ctx.status and heat.layer == "block6" and heat.target.index == 7
    assert heat.target.label == "block6 channel 7 at y=1,x=2" and max(heat.values) > 0


@pytest.mark.parametrize("fields, field, code", [
    ({"layer": "block99", "channel": "1"}, "layer", 400),
    ({"layer": "block6", "channel": "5000"}, "channel", 400),
    ({"layer": "block6", "channel": "1", "position": "99,0"}, "position", 400),
    ({"method": "integrated_gradients", "layer": "block6", "channel": "1"}, "layer", 400),
    ({"samples": "3"}, "samples", 400),
    ({"method": "integrated_gradients", "steps": "300", "size": "224"}, "steps", 413),
    ({"method": "gradcam", "layer": "nope"}, "layer", 400),
])
def test_bad_saliency_fields_are_named(handlers, fields, field, code):
    out, ctx = call(handlers["saliency"], image=CAT, size=fields.pop("size", "48"), **fields)
    error = json.loads(out)
    assert ctx.status == {0: code} and error["field"] == field, error
    if field == "layer" and "block99" in str(fields):
        assert "block16" in error["message"]  # lists the valid layers


def test_occlusion_formats_carry_the_grid(handlers):
    common = dict(image=CAT, size="48", patch="16", stride="16", target="285")
    proto = pb.Response.FromString(call(handlers["occlusion"], format="proto", **common)[0]).occlusion
    assert (proto.rows, proto.cols, proto.patch, proto.stride, proto.fill) == (3, 5, 16, 16, "mean")
    assert (proto.heatmap.height, proto.heatmap.width) == (48, 72) and proto.heatmap.target.index == 285
    grid = np.array(proto.grid).reshape(3, 5)
    npy = np.load(io.BytesIO(call(handlers["occlusion"], format="npy", **common)[0]))
    np.testing.assert_allclose(npy, grid, rtol=1e-6)
    body = json.loads(call(handlers["occlusion"], format="json", **common)[0])
    np.testing.assert_allclose(np.array(body["grid"]["values"]), grid, rtol=1e-5)
    assert body["base_probability"] == pytest.approx(proto.base_probability)
    png, ctx = call(handlers["occlusion"], view="overlay", **common)
    assert ctx.content_type[0] == "image/png" and Image.open(io.BytesIO(png)).size == (72, 48)


def test_occlusion_limits(handlers):
    out, ctx = call(handlers["occlusion"], image=CAT, size="512", patch="1", stride="1")
    assert ctx.status == {0: 413} and json.loads(out)["field"] == "stride"
    out, ctx = call(handlers["occlusion"], image=CAT, size="48", fill="grey")
    assert ctx.status == {0: 400} and json.loads(out)["field"] == "fill"


def test_segment_returns_mask_and_cutout(handlers):
    out, ctx = call(handlers["segment"], image=CAT, size="64", format="proto")
    seg = pb.Response.FromString(out).segmentation
    assert not ctx.status and (seg.width, seg.height) == (96, 64) and 0 < seg.foreground_fraction < 1
    mask = np.asarray(Image.open(io.BytesIO(seg.mask.data)))
    cut = np.asarray(Image.open(io.BytesIO(seg.cutout.data)))
    assert mask.shape == (64, 96) and cut.shape == (64, 96, 4)
    assert ((mask > 0) == (cut[..., 3] > 0)).all() and (mask > 0).mean() == pytest.approx(seg.foreground_fraction)
    out, ctx = call(handlers["segment"], image=CAT, size="64", background="0.99")
    assert ctx.status == {0: 400} and json.loads(out)["field"] == "background"
