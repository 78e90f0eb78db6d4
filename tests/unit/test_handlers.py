"""Handlers with a fake TorchServe context: batches, per-request statuses, formats, describe and explain."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from classify import ClassifyHandler
from saliency import SaliencyHandler
from serving import convlens_pb2 as pb


class FakeContext:
    """The parts of `ts.context.Context` the handlers use."""

    def __init__(self, headers: dict | None = None) -> None:
        self.system_properties = {"model_dir": ".", "gpu_id": None, "batch_size": 4}
        self.model_yaml_config = {"convlens": {"backbone": "efficientnet_lite0", "max_image_pixels": 1_000_000}}
        self.headers = headers or {}
        self.status: dict[int, int] = {}
        self.content_type: dict[int, str] = {}

    def get_request_header(self, idx: int, key: str):
        value = self.headers.get(key)
        return value[idx] if isinstance(value, list) else value

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_type[idx] = value

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.status[idx] = code


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


CAT = png_bytes(np.array(Image.fromarray(data.chelsea()).resize((150, 100))))


@pytest.fixture(scope="module")
def classify_handler() -> ClassifyHandler:
    handler = ClassifyHandler()
    handler.initialize(FakeContext())
    return handler


def test_one_bad_request_does_not_fail_its_batch(classify_handler):
    ctx = FakeContext()
    batch = [{"data": CAT, "topk": "2"}, {"data": b"not an image"}, {"body": {"image": "!!", "topk": 1}},
             {"data": CAT, "tpok": "2"}, {"body": CAT}]
    out = classify_handler.handle(batch, ctx)
    assert len(out) == 5
    assert ctx.status == {1: 400, 2: 400, 3: 400}
    first, last = json.loads(out[0]), json.loads(out[4])
    assert len(first["predictions"]) == 2 and len(last["predictions"]) == 5
    assert first["predictions"][0]["index"] in range(281, 286)
    errors = [json.loads(out[i]) for i in (1, 2, 3)]
    assert [e["field"] for e in errors] == ["image", "image", "tpok"]
    assert all(e["code"] == 400 and e["message"] for e in errors)
    assert ctx.content_type[0] == "application/json" and ctx.content_type[1] == "application/json"


def test_pixel_limit_gives_413_before_decoding(classify_handler):
    ctx = FakeContext()
    big = png_bytes(np.zeros((1100, 1000, 3), np.uint8))  # 1.1 MP > the fake config's 1 MP limit
    out = classify_handler.handle([{"image": big}], ctx)
    assert ctx.status == {0: 413} and json.loads(out[0])["type"] == "TooLarge"


def test_proto_results_and_proto_errors(classify_handler):
    ctx = FakeContext()
    out = classify_handler.handle([{"image": CAT, "format": b"proto", "topk": b"3"},
                                   {"image": b"garbage", "format": b"proto"}], ctx)
    ok, err = pb.Response.FromString(out[0]), pb.Response.FromString(out[1])
    assert ok.WhichOneof("result") == "classification" and len(ok.classification.predictions) == 3
    assert ok.classification.backbone == "efficientnet_lite0"
    assert err.WhichOneof("result") == "error" and err.error.code == 400 and err.error.field == "image"
    assert ctx.content_type == {0: "application/x-protobuf", 1: "application/x-protobuf"}


def raiser(error: BaseException):
    def fail(*args, **kwargs):
        raise error
    return fail


@pytest.mark.parametrize("error, code, kind", [(ZeroDivisionError(), 500, "InternalError"),
                                               (MemoryError(), 507, "OutOfMemory"),
                                               (torch.OutOfMemoryError("CUDA out of memory"), 507, "OutOfMemory")])
def test_unexpected_failures_answer_5xx_and_the_worker_keeps_serving(classify_handler, monkeypatch, error, code,
                                                                       kind):
    ctx = FakeContext()
    monkeypatch.setattr(classify_handler, "decode", raiser(error))
    out = classify_handler.handle([{"image": CAT}, {"image": CAT, "format": "proto"}], ctx)
    assert ctx.status == {0: code, 1: code} and json.loads(out[0])["type"] == kind
    assert pb.Response.FromString(out[1]).error.code == code
    monkeypatch.undo()
    assert json.loads(classify_handler.handle([{"image": CAT}], FakeContext())[0])["predictions"]


def test_explanations_route_returns_a_saliency_png(classify_handler):
    ctx = FakeContext({"explain": "True"})
    out = classify_handler.handle([{"data": CAT, "target": "tabby"}], ctx)
    assert ctx.content_type[0] == "image/png" and not ctx.status
    image = Image.open(io.BytesIO(out[0]))
    assert image.size == (336, 224) and image.mode == "RGB"  # shorter side 224, aspect kept


def test_explain_is_decided_per_request_in_a_batch(classify_handler):
    ctx = FakeContext({"explain": ["False", "True"]})
    out = classify_handler.handle([{"data": CAT}, {"data": CAT, "size": "64"}], ctx)
    assert ctx.content_type == {0: "application/json", 1: "image/png"} and not ctx.status
    assert json.loads(out[0])["predictions"] and Image.open(io.BytesIO(out[1])).size == (96, 64)


def test_describe_lists_what_the_endpoint_offers():
    handler = SaliencyHandler()
    handler.initialize(FakeContext())
    described = json.loads(handler.handle([{}], FakeContext({"describe": "True"}))[0])
    assert described["endpoint"] == "saliency" and described["methods"] == [
        "gradient", "smoothgrad", "guided_backprop", "integrated_gradients", "gradcam", "guided_gradcam"]
    assert described["neuron_methods"] == ["gradient", "smoothgrad", "guided_backprop"]
    assert "block16" in described["layers"] and described["limits"]["max_image_pixels"] == 1_000_000


@pytest.mark.parametrize("fmt, content_type", [("png", "image/png"), ("jpeg", "image/jpeg"),
                                               ("npy", "application/x-npy"), ("json", "application/json"),
                                               ("proto", "application/x-protobuf")])
def test_saliency_formats_agree(fmt, content_type):
    handler = SaliencyHandler()
    handler.initialize(FakeContext())
    ctx = FakeContext()
    out = handler.handle([{"image": CAT, "format": fmt, "size": "64", "target": "285"}], ctx)[0]
    assert ctx.content_type[0] == content_type and not ctx.status
    reference = np.load(io.BytesIO(handler.handle([{"image": CAT, "format": "npy", "size": "64",
                                                    "target": "285"}], FakeContext())[0]))
    assert reference.shape == (64, 96)
    if fmt == "json":
        body = json.loads(out)
        np.testing.assert_allclose(np.array(body["values"]), reference, atol=1e-6)
        assert body["target"]["index"] == 285 and body["max"] == pytest.approx(reference.max())
    elif fmt == "proto":
        heat = pb.Response.FromString(out).heatmap
        assert (heat.height, heat.width) == (64, 96) and heat.target.label == "Egyptian cat"
        np.testing.assert_allclose(np.array(heat.values).reshape(64, 96), reference, rtol=1e-6)
    elif fmt in ("png", "jpeg"):
        assert Image.open(io.BytesIO(out)).size == (96, 64)


def test_a_backbone_that_is_not_served_is_a_400(classify_handler):
    ctx = FakeContext()
    error = json.loads(classify_handler.handle([{"image": CAT, "backbone": "vgg16"}], ctx)[0])
    assert ctx.status == {0: 400} and error["field"] == "backbone" and "efficientnet_lite0" in error["message"]
    ok = json.loads(classify_handler.handle([{"image": CAT, "backbone": "efficientnet_lite0"}], FakeContext())[0])
    assert ok["backbone"] == "efficientnet_lite0"
