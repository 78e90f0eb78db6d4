"""The attribution suite through a real TorchServe, over HTTP and gRPC, with the client SDK (tiny sizes)."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from convlens_client import OcclusionMap, Segmentation
from convlens_client.errors import InvalidRequest, TooLarge
from test_serving import CAT, CAT_CLASSES, TRANSPORTS, client

METHOD_FIELDS = {
    "gradient": {}, "smoothgrad": {"samples": 2, "noise": 0.1}, "guided_backprop": {},
    "integrated_gradients": {"steps": 4, "baseline": "blur"}, "gradcam": {"layer": "block12"},
    "guided_gradcam": {},
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("method", list(METHOD_FIELDS))
def test_every_saliency_method(server, transport, method):
    with client(server, transport) as c:
        heat = c.saliency(CAT, target=285, method=method, size=64, **METHOD_FIELDS[method])
    assert heat.method == method and (heat.height, heat.width) == (64, 96)
    assert np.isfinite(heat.array).all() and heat.max > heat.min
    assert heat.target.label == "Egyptian cat" and heat.predicted.index in CAT_CLASSES
    if method.endswith("gradcam"):
        assert heat.layer == METHOD_FIELDS[method].get("layer", "head")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_inner_neuron_and_errors_naming_fields(server, transport):
    with client(server, transport) as c:
        heat = c.saliency(CAT, method="gradient", layer="block8", channel=11, size=64)
        assert heat.layer == "block8" and heat.target.index == 11 and heat.max > 0
        with pytest.raises(InvalidRequest) as err:
            c.saliency(CAT, method="guided_backprop", layer="block99", channel=1, size=64)
        assert err.value.code == 400 and err.value.field == "layer" and "block16" in str(err.value)
        with pytest.raises(InvalidRequest) as err:
            c.saliency(CAT, layer="block8", channel=100000, size=64)
        assert err.value.field == "channel"
        with pytest.raises(InvalidRequest) as err:
            c.occlusion(CAT, fill="grey", size=64)
        assert err.value.field == "fill"
        with pytest.raises(TooLarge) as err:
            c.occlusion(CAT, size=512, patch=1, stride=1)
        assert err.value.field == "stride"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_occlusion(server, transport):
    with client(server, transport) as c:
        occ = c.occlusion(CAT, target="Egyptian cat", size=64, patch=16, stride=16, fill="blur")
        png = c.occlusion_image(CAT, size=64, patch=16, stride=16, view="overlay")
        grid = np.load(io.BytesIO(c.occlusion_image(CAT, size=64, patch=16, stride=16, format="npy",
                                                     target="Egyptian cat", fill="blur")))
    assert isinstance(occ, OcclusionMap) and (occ.rows, occ.cols, occ.fill) == (4, 6, "blur")
    assert occ.heatmap.array.shape == (64, 96) and occ.target.index == 285
    assert 0 <= occ.grid_array.min() <= occ.grid_array.max() <= 1
    np.testing.assert_allclose(grid, occ.grid_array, rtol=1e-6)
    assert Image.open(io.BytesIO(png)).size == (96, 64)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_segment(server, transport):
    with client(server, transport) as c:
        seg = c.segment(CAT, size=64)
        mask_png = c.segment_image(CAT, size=64, view="mask")
    assert isinstance(seg, Segmentation) and (seg.width, seg.height) == (96, 64)
    assert 0.02 < seg.foreground_fraction < 0.98 and seg.method == "gradcam"
    assert seg.mask.mean() == pytest.approx(seg.foreground_fraction, abs=1e-6)
    assert seg.cutout.size == (96, 64) and seg.cutout.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(mask_png))) > 0, seg.mask)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_faithfulness_on_request_in_proto_and_json(server, transport):
    with client(server, transport) as c:
        heat = c.saliency(CAT, target=285, method="gradcam", size=64, evaluate="deletion,insertion",
                          evaluate_steps=8)
        body = json.loads(c.saliency_image(CAT, target=285, method="gradcam", size=64, format="json",
                                           evaluate="insertion", evaluate_steps=8))
        occ = c.occlusion(CAT, size=64, patch=16, stride=16, evaluate="deletion", evaluate_steps=8)
        plain = c.saliency(CAT, target=285, size=64)
        with pytest.raises(InvalidRequest) as err:
            c.saliency(CAT, size=64, evaluate="deletion,rise")
        assert err.value.field == "evaluate" and "rise" in str(err.value)
        with pytest.raises(InvalidRequest) as err:
            c.saliency(CAT, size=64, layer="block8", channel=3, evaluate="deletion")
        assert err.value.field == "evaluate"
    assert plain.evaluation == () and set(heat.faithfulness) == {"deletion", "insertion"}
    for curve in heat.evaluation:
        assert len(curve.probabilities) == len(curve.random_probabilities) == 9
        assert curve.fractions[0] == 0 and curve.fractions[-1] == pytest.approx(1)
        assert 0 <= curve.auc <= 1 and 0 <= curve.random_auc <= 1
    deletion, insertion = heat.faithfulness["deletion"], heat.faithfulness["insertion"]
    # nothing removed = nothing revealed on the other curve's far end: the photo itself
    assert deletion.probabilities[0] == pytest.approx(insertion.probabilities[-1], rel=1e-4)
    assert deletion.probabilities[0] == pytest.approx(heat.target.probability, rel=1e-3)
    assert body["evaluation"]["insertion"]["auc"] == pytest.approx(insertion.auc, rel=1e-5)
    assert set(occ.heatmap.faithfulness) == {"deletion"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_faithfulness_removal_and_cell_size_on_request(server, transport):
    """`evaluate_removal` and `evaluate_patch` reach the engine and come back on each curve: with everything
    removed, the map's and the random map's deletion curves end on the same all-black (or all-mean) image, the
    two removals end apart, and insertion (always from the blurred copy) is the same for both."""
    asked = dict(target=285, method="gradcam", size=64, evaluate="deletion,insertion", evaluate_steps=8)
    with client(server, transport) as c:
        black = c.saliency(CAT, evaluate_removal="zero", evaluate_patch=8, **asked).faithfulness
        mean = c.saliency(CAT, evaluate_removal="mean", evaluate_patch=8, **asked).faithfulness
        body = json.loads(c.occlusion_image(CAT, size=64, patch=16, stride=16, format="json", evaluate="deletion",
                                            evaluate_steps=8, evaluate_removal="mean", evaluate_patch=1))
        for name, value in (("evaluate_removal", "noise"), ("evaluate_patch", 65), ("evaluate_patch", 0)):
            with pytest.raises(InvalidRequest) as err:
                c.saliency(CAT, size=64, evaluate="deletion", **{name: value})
            assert err.value.field == name
    for curves, removal in ((black, "zero"), (mean, "mean")):
        assert {(c.removal, c.patch) for c in curves.values()} == {(removal, 8)}
        assert curves["deletion"].probabilities[-1] == pytest.approx(curves["deletion"].random_probabilities[-1])
    assert black["deletion"].probabilities[-1] != pytest.approx(mean["deletion"].probabilities[-1], rel=1e-3)
    assert list(black["insertion"].probabilities) == pytest.approx(list(mean["insertion"].probabilities))
    assert (body["evaluation"]["deletion"]["removal"], body["evaluation"]["deletion"]["patch"]) == ("mean", 1)
