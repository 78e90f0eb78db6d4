"""The six inspect handlers with a fake TorchServe context: formats agree, errors name their field."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image
from skimage import data

from activations import ActivationsHandler
from embed import EmbedHandler
from filters import FiltersHandler
from neighbors import NeighborsHandler
from serving import convlens_pb2 as pb
from test_handlers import FakeContext, png_bytes
from top_patches import TopPatchesHandler
from tsne import TsneHandler

CAT = png_bytes(np.array(Image.fromarray(data.chelsea()).resize((96, 64))))
ASTRONAUT = png_bytes(np.array(Image.fromarray(data.astronaut()).resize((64, 64))))
COFFEE = png_bytes(np.array(Image.fromarray(data.coffee()).resize((80, 64))))


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def handlers() -> dict:
    out = {}
    for cls in (FiltersHandler, ActivationsHandler, TopPatchesHandler, EmbedHandler, NeighborsHandler, TsneHandler):
        handler = cls()
        handler.initialize(FakeContext())
        out[cls.task] = handler
    return out


def call(handler, **fields):
    ctx = FakeContext()
    body = handler.handle([fields], ctx)[0]
    return body, ctx.status.get(0, 200), ctx.content_type[0]


def test_filters_formats_agree(handlers):
    npy, status, kind = call(handlers["filters"], format="npy")
    weights = np.load(io.BytesIO(npy))
    assert status == 200 and kind == "application/x-npy" and weights.shape == (32, 3, 3, 3)
    body = json.loads(call(handlers["filters"], format="json")[0])
    assert body["module"] == "stem.0" and body["rgb"] and body["total_filters"] == 32
    np.testing.assert_allclose(np.array(body["weights"]), weights, atol=1e-6)
    msg = pb.Response.FromString(call(handlers["filters"], format="proto")[0]).filters
    np.testing.assert_allclose(np.array(msg.weights.values).reshape(msg.weights.shape), weights)
    png, status, kind = call(handlers["filters"])
    assert kind == "image/png" and Image.open(io.BytesIO(png)).size == (6 * 24 + 7 * 2,) * 2
    deep = json.loads(call(handlers["filters"], layer="block2", max_filters="4", format="json")[0])
    assert deep["shape"] == [4, 1, 3, 3] and not deep["rgb"]


def test_activations_formats_agree_and_channel_is_checked(handlers):
    h = handlers["activations"]
    values = np.load(io.BytesIO(call(h, image=CAT, layer="block3", size="64", format="npy")[0]))
    assert values.shape == (24, 16, 24)
    body = json.loads(call(h, image=CAT, layer="block3", size="64", format="json")[0])
    means = values.reshape(24, -1).mean(axis=1)
    assert body["order"] == sorted(range(24), key=lambda c: -means[c])
    assert [s["mean"] for s in body["stats"]] == pytest.approx(means.tolist(), rel=1e-5)
    msg = pb.Response.FromString(call(h, image=CAT, layer="block3", size="64", format="proto")[0]).activations
    np.testing.assert_allclose(np.array(msg.values.values).reshape(msg.values.shape), values)
    one = np.load(io.BytesIO(call(h, image=CAT, layer="block3", size="64", channel="5", format="npy")[0]))
    np.testing.assert_array_equal(one[0], values[5])
    png = Image.open(io.BytesIO(call(h, image=CAT, layer="block3", size="64", channel="5")[0]))
    assert png.size == (24 * 28, 16 * 28)  # one channel large: 16x24 map enlarged to >= 448 px
    error, status, _ = call(h, image=CAT, layer="block3", channel="24")
    assert status == 400 and json.loads(error)["field"] == "channel"
    error, status, _ = call(h, image=CAT, layer="block0")
    assert status == 400 and json.loads(error)["field"] == "layer"


def test_top_patches_json_proto_and_picture(handlers):
    h = handlers["top_patches"]
    fields = dict(image=CAT, image_2=ASTRONAUT, zip=zipped(**{"c.png": COFFEE}), layer="block4", channel="3",
                  size="64", top="4")
    body = json.loads(call(h, **fields, format="json")[0])
    assert body["layer"] == "block4" and len(body["patches"]) == 4 and body["input_size"] == 64
    acts = [p["activation"] for p in body["patches"]]
    assert acts == sorted(acts, reverse=True)
    assert {p["name"] for p in body["patches"]} <= {"image", "image_2", "zip:c.png"}
    maps = np.load(io.BytesIO(call(h, **fields, format="npy")[0]))
    best = body["patches"][0]
    assert maps.shape == (3, 8, 8) and maps.max() == pytest.approx(best["activation"])
    assert maps[best["image"], best["y"], best["x"]] == pytest.approx(best["activation"])
    msg = pb.Response.FromString(call(h, **fields, guided="true", format="proto")[0]).top_patches
    first = msg.patches[0]
    crop = Image.open(io.BytesIO(first.crop.data))
    assert crop.size == (first.right - first.left + 1, first.bottom - first.top + 1)
    assert first.guided.data[:4] == b"\x89PNG" and msg.rf_stride == 8
    assert Image.open(io.BytesIO(call(h, **fields)[0])).format == "PNG"


def test_embed_formats_agree(handlers):
    h = handlers["embed"]
    vectors = np.load(io.BytesIO(call(h, image=CAT, image_2=ASTRONAUT, size="64", format="npy")[0]))
    assert vectors.shape == (2, 1280)
    msg = pb.Response.FromString(call(h, image=CAT, image_2=ASTRONAUT, size="64", format="proto")[0]).embedding
    assert msg.dims == 1280 and [v.name for v in msg.vectors] == ["image", "image_2"]
    np.testing.assert_allclose(np.array([v.values for v in msg.vectors]), vectors)
    pooled = json.loads(call(h, image=CAT, layer="block5", size="64", format="json")[0])
    assert pooled["dims"] == 40 and pooled["layer"] == "block5"


def test_neighbors_and_tsne(handlers):
    body = json.loads(call(handlers["neighbors"], image=CAT, gallery=ASTRONAUT, gallery_2=CAT, gallery_3=COFFEE,
                           size="64", metric="l2", format="json")[0])
    assert body["by_feature"][0]["name"] == "gallery_2" and body["by_pixel"][0]["name"] == "gallery_2"
    assert body["metric"] == "l2" and len(body["by_feature"]) == 3
    png = Image.open(io.BytesIO(call(handlers["neighbors"], image=CAT, gallery=ASTRONAUT, thumb="40", size="64")[0]))
    assert png.format == "PNG"
    layout = json.loads(call(handlers["tsne"], image=CAT, image_2=ASTRONAUT, image_3=COFFEE, size="64",
                             iterations="250", format="json")[0])
    assert layout["perplexity"] == 1.0 and (layout["columns"], layout["rows"]) == (2, 2)
    assert {(p["column"], p["row"]) for p in layout["points"]}.__len__() == 3
    coords = np.load(io.BytesIO(call(handlers["tsne"], image=CAT, image_2=ASTRONAUT, image_3=COFFEE, size="64",
                                     iterations="250", format="npy")[0]))
    np.testing.assert_allclose(coords, [[p["x"], p["y"]] for p in layout["points"]], rtol=1e-6)
    grid = Image.open(io.BytesIO(call(handlers["tsne"], image=CAT, image_2=ASTRONAUT, method="pca", view="grid",
                                      thumb="32", size="64")[0]))
    assert grid.size == (64, 32)


def test_bad_inputs_name_their_field(handlers):
    cases = [
        (handlers["embed"], dict(image=CAT, zip=b"PK not really"), 400, "zip"),
        (handlers["embed"], dict(image=CAT, zip=zipped(**{"notes.txt": b"hello"})), 400, "zip"),
        (handlers["embed"], dict(image=CAT, image_2=b"garbage"), 400, "image_2"),
        (handlers["tsne"], dict(image=CAT, image_2=CAT), 400, "image"),
        (handlers["top_patches"], dict(image=CAT, channel="9999", size="64"), 400, "channel"),
        (handlers["neighbors"], dict(image=CAT), 400, "gallery"),
        (handlers["embed"], {("image" if i == 1 else f"image_{i}"): CAT for i in range(1, 34)}, 413, "image_33"),
    ]
    for handler, fields, code, field in cases:
        body, status, _ = call(handler, **fields)
        assert (status, json.loads(body)["field"]) == (code, field), (handler.task, fields.keys())


def test_describe_says_how_many_images(handlers):
    described = json.loads(handlers["tsne"].handle([{}], FakeContext({"describe": "True"}))[0])
    assert described["max_images"] == 32 and described["methods"] == ["tsne", "pca"] and described["zip"]
