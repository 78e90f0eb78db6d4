"""The one encoder: every format of every result type (pictures drawn by the result's area, arrays, JSON, proto),
and clear errors for an unknown format, result type or view option."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convlens.attribution import render as attribution_render
from convlens.attribution.results import Heatmap, OcclusionMap, Segmentation
from convlens.core.results import Classification, Prediction
from convlens.inspect import render as inspect_render
from convlens.inspect.results import (
    ActivationMaps,
    ChannelStat,
    Embedding,
    FilterBank,
    Layout,
    Neighbor,
    Neighbors,
    Patch,
    TopPatches,
)
from convlens.style.results import StyleTransferResult
from convlens.stylize.results import StylizeResult
from convlens.synthesis import SynthesisResult
from convlens.synthesis import render as synthesis_render
from serving import convlens_pb2 as pb
from serving.encode import CONTENT_TYPES, all_wires, encode
from serving.messages import FormatError

rng = np.random.default_rng(0)
P1, P2 = Prediction(281, "tabby cat", 0.625, 7.25), Prediction(285, "Egyptian cat", 0.125, -1.5)
IMAGE = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
SMALL = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
VALUES = rng.random((20, 24), dtype=np.float32)
ACTS = rng.standard_normal((3, 5, 6)).astype(np.float32)
CROPS = [rng.integers(0, 256, (11, 9, 3), dtype=np.uint8) for _ in range(2)]

# (result, view options, its picture as the area draws it (None: no picture), its npy array, a JSON key)
CASES = {
    "classification": (Classification([P1, P2], "effnet"), {}, None, None, "predictions"),
    "heatmap": (Heatmap(VALUES, IMAGE, "gradient", "effnet", P1, P2), {"view": "overlay", "colormap": "viridis"},
                lambda r: attribution_render.saliency_picture(r, "overlay", "viridis"), VALUES, "values"),
    "occlusion": (OcclusionMap(VALUES[:4, :5], VALUES, IMAGE, 8, 4, "mean", "effnet", P1, P2), {"view": "heatmap"},
                  lambda r: attribution_render.occlusion_picture(r, "heatmap"), VALUES[:4, :5], "grid"),
    "segmentation": (Segmentation(VALUES > 0.5, VALUES, IMAGE, "gradient", "effnet", P1, P2), {"view": "mask"},
                     lambda r: attribution_render.segment_picture(r, "mask"), (VALUES > 0.5).astype(np.uint8),
                     "foreground_fraction"),
    "filters": (FilterBank(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "", "stem", True, 32, 3, "effnet"),
                {}, inspect_render.filters_picture, None, "weights"),
    "activations": (ActivationMaps(ACTS, [ChannelStat(c, 0.1, 0.2, 0.5) for c in range(3)], [2, 0, 1], "b3",
                                   "effnet", IMAGE), {"channel": 1, "max_tiles": 4},
                    lambda r: inspect_render.activations_picture(r, 1, 4), ACTS[1:2], "stats"),
    "top_patches": (TopPatches([Patch(i, f"p{i}", 1, 2, 0.5, (0, 0, 8, 10), CROPS[i]) for i in range(2)],
                               ACTS[:2], "b6", 3, (35, 35), (16, 16), "effnet"), {"patch": 32, "input_size": 224},
                    lambda r: inspect_render.patches_picture(r, 32), ACTS[:2], "patches"),
    "embedding": (Embedding(ACTS[0], ["a", "b", "c", "d", "e"], "", "effnet"), {},
                  inspect_render.embedding_picture, ACTS[0], "vectors"),
    "neighbors": (Neighbors([Neighbor(1, "b", 0.25)], [Neighbor(2, "c", 3.0)], "cosine", "", "effnet", SMALL[0],
                            SMALL, np.array([0.5, 0.25, 0.75]), np.array([2.0, 4.0, 3.0])), {"thumb": 24},
                  lambda r: inspect_render.neighbors_picture(r, 24), np.array([[0.5, 0.25, 0.75], [2, 4, 3]]),
                  "by_feature"),
    "layout": (Layout(rng.random((3, 2)).astype(np.float32), np.array([[0, 0], [1, 0], [0, 1]]), (2, 2),
                      ["a", "b", "c"], "pca", None, "", "effnet", SMALL), {"view": "grid", "thumb": 16},
               lambda r: inspect_render.layout_picture(r, "grid", thumb=16), None, "points"),
    "synthesis": (SynthesisResult("classviz", "effnet", [("a", SMALL[0]), ("b", SMALL[1])], {"score": 1.5},
                                  raw=ACTS), {"view": "both"},
                  lambda r: synthesis_render.synthesis_picture(r, "both"), ACTS, "images"),
    "style_transfer": (StyleTransferResult(IMAGE, 3, 0.5, [64], {"total": 2.0}, {"total": 1.0}, [1.0], "effnet"),
                       {"quality": 80}, lambda r: r.image, IMAGE, "final_losses"),
    "stylize": (StylizeResult(IMAGE, "mosaic", ["mosaic"], [1.0], 0.25, 1), {"quality": 80}, lambda r: r.image,
                IMAGE, "tiles"),
}


def test_every_result_type_has_a_case_and_a_wire():
    assert {type(case[0]) for case in CASES.values()} == set(all_wires())


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
@pytest.mark.parametrize("name", CASES)
def test_pictures_are_the_picture_the_area_draws(name, fmt):
    result, view, picture, _, _ = CASES[name]
    if picture is None:
        with pytest.raises(FormatError, match=f"has no {fmt} form"):
            encode(result, fmt, **view)
        return
    body, content_type = encode(result, fmt, **view)
    expected = np.asarray(picture(result))
    decoded = Image.open(io.BytesIO(body))
    assert content_type == f"image/{fmt}" and decoded.format == fmt.upper()
    if fmt == "png":  # lossless: the very pixels
        np.testing.assert_array_equal(np.asarray(decoded), expected)
    else:
        assert decoded.size == expected.shape[1::-1]


@pytest.mark.parametrize("name", CASES)
def test_npy_is_the_result_array(name):
    result, view, _, array, _ = CASES[name]
    if name == "classification":
        with pytest.raises(FormatError, match="has no npy form"):
            encode(result, "npy", **view)
        return
    body, content_type = encode(result, "npy", **view)
    loaded = np.load(io.BytesIO(body), allow_pickle=False)
    assert content_type == "application/x-npy"
    if array is not None:
        np.testing.assert_allclose(loaded, array, rtol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_json_and_proto_carry_the_result(name):
    result, view, _, _, key = CASES[name]
    body, content_type = encode(result, "json", **view)
    assert content_type == "application/json" and key in json.loads(body)
    assert json.dumps(json.loads(body), separators=(",", ":")).encode() == body  # compact
    body, content_type = encode(result, "proto", **view)
    message = pb.Response.FromString(body)
    assert content_type == "application/x-protobuf"
    assert message.WhichOneof("result") == all_wires()[type(result)].response_field


def test_views_reach_the_picture_and_the_numbers():
    heat = CASES["heatmap"][0]
    assert encode(heat, "png", view="heatmap")[0] != encode(heat, "png", view="overlay")[0]
    maps = CASES["activations"][0]
    assert np.load(io.BytesIO(encode(maps, "npy")[0])).shape == (3, 5, 6)
    assert json.loads(encode(CASES["top_patches"][0], "json", input_size=160)[0])["input_size"] == 160
    style = CASES["stylize"][0]
    assert len(encode(style, "jpeg", quality=20)[0]) < len(encode(style, "jpeg", quality=95)[0])


def test_unknown_format_type_or_option_is_a_clear_error():
    heat = CASES["heatmap"][0]
    with pytest.raises(FormatError, match="unknown format 'gif'; one of json, proto, png, jpeg, npy"):
        encode(heat, "gif")
    with pytest.raises(TypeError, match="no wire encoding for ndarray"):
        encode(np.zeros(3), "json")
    with pytest.raises(TypeError, match="colourmap"):
        encode(heat, "png", colourmap="viridis")
    with pytest.raises(TypeError, match="input_size"):
        encode(CASES["top_patches"][0], "json")
    assert set(CONTENT_TYPES) == {"png", "jpeg", "npy", "proto", "json"}


def test_engine_render_modules_import_neither_serving_nor_protobuf():
    handlers = Path(__file__).resolve().parents[2] / "handlers"
    code = ("import sys; sys.path.insert(0, sys.argv[1]);"
            "from convlens.attribution import render; from convlens.inspect import render;"
            "from convlens.synthesis import render; import convlens.style.results, convlens.stylize.results;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('serving', 'google', 'ts')))")
    done = subprocess.run([sys.executable, "-c", code, str(handlers)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
