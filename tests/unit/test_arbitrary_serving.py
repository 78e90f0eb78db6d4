"""The arbitrary-style network served (issue 19): ONNX export = PyTorch, style vectors mixed and cached, `stylize`
with style images and style ids through the handler, and the shipped network moving a photo toward a new style."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from tools.stylizers import arbitrary as train_net
from tools.stylizers import export_arbitrary, nets

from convlens.stylize import arbitrary, runtime
from serving import convlens_pb2 as pb
from stylize import StylizeHandler
from test_handlers import FakeContext, png_bytes

STORE = Path(__file__).resolve().parents[2] / "model_store" / "stylizers"
RNG = np.random.default_rng(0)
PHOTO = (RNG.random((60, 80, 3)) * 255).astype(np.uint8)
RED = np.zeros((90, 70, 3), np.uint8) + np.array([200, 30, 30], np.uint8)
STRIPES = np.repeat(((np.arange(80) // 8) % 2 * 255).astype(np.uint8)[None, :, None], 64, axis=0).repeat(3, 2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, train_net.ArbitraryStylizer]:
    """A tiny random arbitrary-style net (width 4, 1 block, 8-d embedding), exported as the server loads it."""
    folder = tmp_path_factory.mktemp("arbitrary")
    torch.manual_seed(0)
    model = train_net.ArbitraryStylizer(nets.NetConfig(width=4, blocks=1),
                                        train_net.EncoderConfig(hidden=16, embed=8, style_size=64)).eval()
    with torch.no_grad():
        for m in model.transformer.modules():
            if isinstance(m, nets.CondInstanceNorm):
                m.scale.normal_(0, 0.5)
                m.shift.normal_(0, 0.5)
    train_net.save(model, folder / "tiny.pt", {"steps": 3, "recipe": "test"})
    export_arbitrary.export_arbitrary(folder / "tiny.pt", folder, "tiny")
    return folder, model


@pytest.fixture()
def net(tiny) -> arbitrary.ArbitraryStylizer:
    model = runtime.StyleLibrary(tiny[0], threads=1).arbitrary()
    assert model is not None
    return arbitrary.ArbitraryStylizer(model, arbitrary.VectorCache(8, 1 << 16))


def test_export_matches_pytorch_at_any_multiple_of_16(tiny, net):
    """The style graph (padding traced statically) and the transformer graphs equal PyTorch, non-square too."""
    _, model = tiny
    manifest = json.loads((tiny[0] / "tiny.json").read_text())
    assert manifest["kind"] == "arbitrary" and manifest["embedding"] == 8 and manifest["encoder_max_abs_diff"] < 1e-4
    features = train_net.StyleFeatures(model.encoder.config)
    for image in (STRIPES, RED, (RNG.random((50, 130, 3)) * 255).astype(np.uint8)):
        pixels = arbitrary.style_pixels(image, 64, 16)
        assert pixels.shape[2] % 16 == 0 and pixels.shape[3] % 16 == 0 and min(pixels.shape[2:]) == 64
        with torch.no_grad():
            want = model.style_vector(features.statistics(torch.from_numpy(pixels)))[0].numpy()
        got = net.encode(image)
        assert got.shape == (9,) and got[-1] == pytest.approx(1.0) and np.abs(got - want).max() < 1e-4
    vector = net.encode(STRIPES)
    out = runtime.stylize_array(net.model, PHOTO, vector)  # one tile: the fast graph
    with torch.no_grad():
        x = torch.from_numpy(runtime._pad4(runtime._chw(PHOTO)))
        want = model(x, torch.from_numpy(vector)[None])[0, :, :60, :80].permute(1, 2, 0).numpy()
    assert np.abs(out - want).max() < 1e-4
    tiled = runtime.stylize_array(net.model, PHOTO, vector, tile=32, thumbnail=80)  # statistics of the whole
    assert np.abs(tiled - out).max() < 1e-4


def test_style_pixels_keeps_the_scale_and_crops_long_strips():
    pixels = arbitrary.style_pixels(np.zeros((100, 1000, 3), np.uint8), 128, 16)
    assert pixels.shape == (1, 3, 128, 512)  # 4x the short side at most
    assert arbitrary.style_pixels(np.zeros((30, 40, 3), np.uint8), 128, 16).shape == (1, 3, 128, 176)


def test_mix_is_the_weighted_vector_and_alpha_moves_to_the_photo(net):
    decoded = []

    def source(image: np.ndarray, name: str) -> arbitrary.StyleSource:
        return arbitrary.StyleSource(name, lambda: decoded.append(name) or image)

    a, b, own = net.encode(STRIPES), net.encode(RED), net.encode(PHOTO)
    vector, weights = net.mix([source(STRIPES, "a"), source(RED, "b")], [1, 3])
    assert weights == [0.25, 0.75] and np.abs(vector - (0.25 * a + 0.75 * b)).max() < 1e-5
    vector, _ = net.mix([source(STRIPES, "a")], alpha=0.0, content=PHOTO)
    assert np.abs(vector - own).max() < 1e-5  # alpha 0: the photo's own style
    vector, _ = net.mix([source(STRIPES, "a")], alpha=0.4, content=PHOTO)
    assert np.abs(vector - (0.4 * a + 0.6 * own)).max() < 1e-5
    assert decoded == ["a", "b"]  # each style image decoded once: then its vector comes from the cache
    assert net.cache.hits == 2 and net.cache.misses == 2
    with pytest.raises(arbitrary.StyleNotCached) as err:
        net.mix([arbitrary.StyleSource("f" * 32)])
    assert err.value.code == 404 and err.value.field == "style_id"


def test_cache_is_bounded_in_entries_and_bytes_least_recent_first():
    v = np.zeros(10, np.float32)  # 40 bytes + a 1-character key
    cache = arbitrary.VectorCache(max_entries=3, max_bytes=1000)
    for key in "abcd":
        cache.put(key, v)
    assert len(cache) == 3 and cache.get("a") is None and cache.get("b") is not None
    cache.put("e", v)  # "c" is now the least recently used
    assert cache.get("c") is None and {k for k in "bde" if cache.get(k) is not None} == set("bde")
    small = arbitrary.VectorCache(max_entries=100, max_bytes=100)
    for key in "xyz":
        small.put(key, v)
    assert len(small) == 2 and small.bytes == 82 and small.get("x") is None
    small.put("big", np.zeros(100, np.float32))  # larger than the whole budget: not kept
    assert small.get("big") is None and len(small) == 2


def test_style_id_is_the_content_hash():
    assert arbitrary.style_id(b"abc") == hashlib.sha256(b"abc").hexdigest()[:32]


@pytest.fixture(scope="module")
def handler(tiny) -> StylizeHandler:
    ctx = FakeContext()
    ctx.model_yaml_config["convlens"].update(stylizers=str(tiny[0]), tile=64, onnx_threads=1,
                                             style_cache_entries=4)
    h = StylizeHandler()
    h.initialize(ctx)
    return h


def test_stylize_with_style_images_and_ids(handler):
    style, other = png_bytes(STRIPES), png_bytes(RED)
    sid, oid = arbitrary.style_id(style), arbitrary.style_id(other)
    photo = png_bytes(PHOTO)
    ctx = FakeContext()
    out = handler.handle([
        {"image": photo, "style_image": style, "format": "proto"},
        {"image": photo, "style_image": style, "style_image_2": other, "style_weights": "3,1", "format": "proto"},
        {"image": photo, "style_id": f"{sid},{oid}", "style_weights": "3,1", "format": "npy"},
        {"image": photo, "style_id": "0" * 32},
        {"image": photo, "style_image": style, "alpha": "0", "format": "npy"},
        {"image": photo, "style": "tiny"},
    ], ctx)
    one = pb.Response.FromString(out[0]).stylize
    assert one.model == "tiny" and list(one.styles) == [sid] and list(one.weights) == [1.0]
    two = pb.Response.FromString(out[1]).stylize
    assert list(two.styles) == [sid, oid] and list(two.weights) == [0.75, 0.25]
    by_id = np.load(io.BytesIO(out[2]))
    assert np.array_equal(by_id, np.asarray(Image.open(io.BytesIO(two.image.data)).convert("RGB")))
    assert ctx.status[3] == 404 and json.loads(out[3])["field"] == "style_id"
    assert json.loads(out[3])["type"] == "StyleNotCached"
    own = np.load(io.BytesIO(out[4]))  # alpha 0: the photo stylized with its own style vector
    want = runtime.stylize(handler.arbitrary.model, PHOTO, handler.arbitrary.encode(PHOTO))
    assert np.abs(own.astype(int) - want).max() <= 1
    assert ctx.status[5] == 400 and json.loads(out[5])["field"] == "style"  # not a named style
    described = json.loads(handler.handle([{}], FakeContext({"describe": "True"}))[0])
    assert described["arbitrary"]["cache"]["entries"] == 2 and "tiny" not in described["single_styles"]


def test_a_bad_style_image_names_its_field(handler):
    ctx = FakeContext()
    out = handler.handle([{"image": png_bytes(PHOTO), "style_image": png_bytes(RED), "style_image_2": b"nope"}], ctx)
    assert ctx.status[0] == 400 and json.loads(out[0])["field"] == "style_image_2"


def palette_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean gap between the per-channel quantiles of two images (how far apart their colour distributions are)."""
    q = np.linspace(0.02, 0.98, 25)
    return float(np.mean([np.abs(np.quantile(a[..., c], q) - np.quantile(b[..., c], q)).mean() for c in range(3)]))


def test_shipped_network_moves_a_photo_toward_a_new_style():
    """On a style image it never saw (scikit-learn's sample photo) the output's colours move toward the style's."""
    from sklearn.datasets import load_sample_image

    model = runtime.StyleLibrary(STORE, threads=1).arbitrary()
    assert model is not None and (STORE / model.manifest["encoder_file"]).stat().st_size < 3_000_000
    net = arbitrary.ArbitraryStylizer(model, arbitrary.VectorCache(4, 1 << 16))
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((128, 128)))
    for name in ("flower.jpg", "china.jpg"):
        style = load_sample_image(name)
        vector, _ = net.mix([arbitrary.StyleSource(name, lambda style=style: style)])
        out = runtime.stylize(model, photo, vector)
        closer = 0.8 if name == "flower.jpg" else 1.0  # china.jpg is a photo whose colours are near the astronaut's
        assert palette_distance(out, style) < closer * palette_distance(photo, style), name
