"""Faithfulness and sanity (issue 22): deletion/insertion against known curves, ranking by magnitude, the
randomization test's pieces, the memory-sized batch of integrated gradients, one memory layout on every path."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from convlens import attribution
from convlens.attribution import faithfulness, occlusion, sanity, segment
from convlens.attribution.base import MEMORY_FORMAT
from convlens.attribution.results import Heatmap
from convlens.core.backbones import Backbone, Preprocessing
from convlens.core.results import Prediction

ROOT = Path(__file__).resolve().parents[2]


class TopLeft(nn.Module):
    """Class 1's logit is 60 x (the mean brightness of the top-left 4x4 pixels - 0.9); class 0's is 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 60 * (x[:, :, :4, :4].mean(dim=(1, 2, 3)) - 0.9)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def backbone(model: nn.Module) -> Backbone:
    return Backbone(name="toy", model=model.eval(), layers={}, labels=["a", "b"],
                    preprocessing=Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)), default_layer="",
                    device=torch.device("cpu"))


def bright_corner() -> np.ndarray:
    """16x16 dark image with a white top-left 4x4 block."""
    image = np.zeros((16, 16, 3), np.uint8)
    image[:4, :4] = 255
    return image


def p1(bb: Backbone, image: np.ndarray) -> float:
    with torch.no_grad():
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        return float(torch.softmax(bb.model(bb.normalize(x)), dim=1)[0, 1])


def test_deletion_and_insertion_of_the_perfect_map_are_known_step_functions():
    bb, image = backbone(TopLeft()), bright_corner()
    perfect = np.zeros((16, 16), np.float32)
    perfect[:4, :4] = 1.0  # the 16 pixels the model reads, ranked first: 16 pixels = one step of 256 / 16
    deletion, insertion = faithfulness.deletion_insertion(bb, image, perfect, target=1, steps=16, patch=1)
    substrate = faithfulness.blurred(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255,
                                     sigma=max(1.0, faithfulness.BLUR_FRACTION * 16))
    blurred_p = float(torch.softmax(bb.model(substrate), dim=1)[0, 1])
    original_p = p1(bb, image)
    assert original_p > 0.99 and blurred_p < 0.05
    np.testing.assert_allclose(deletion.probabilities, [original_p] + [blurred_p] * 16, rtol=1e-5)
    np.testing.assert_allclose(insertion.probabilities, [blurred_p] + [original_p] * 16, rtol=1e-5)
    np.testing.assert_allclose(deletion.fractions, np.arange(17) / 16)
    # trapezoids: the first step is a ramp between the two values, the rest are flat
    assert deletion.auc == pytest.approx((original_p + blurred_p) / 2 / 16 + blurred_p * 15 / 16, rel=1e-5)
    assert deletion.beats_random and insertion.beats_random
    assert deletion.random_auc > deletion.auc and insertion.random_auc < insertion.auc


def test_a_constant_model_gives_flat_curves_for_map_and_random():
    class Constant(nn.Module):
        def forward(self, x):
            return torch.tensor([[0.0, 1.0]]).expand(len(x), 2)

    curves = faithfulness.deletion_insertion(backbone(Constant()), bright_corner(), np.ones((16, 16)), 1, steps=4)
    p = float(torch.softmax(torch.tensor([0.0, 1.0]), 0)[1])
    for curve in curves:
        assert curve.auc == pytest.approx(p, rel=1e-6) and curve.random_auc == pytest.approx(p, rel=1e-6)


def test_a_signed_map_is_ranked_by_magnitude():
    """Integrated gradients' strongly NEGATIVE pixels matter: deletion must remove them first (the defect: they
    were ranked last, as if negative meant unimportant)."""
    bb, image = backbone(TopLeft()), bright_corner()
    signed = np.full((16, 16), 0.01, np.float32)
    signed[:4, :4] = -1.0
    heatmap = Heatmap(values=signed, image=image, method="integrated_gradients", backbone="toy",
                      target=Prediction(1, "b", 1.0, 1.0), predicted=Prediction(1, "b", 1.0, 1.0), signed=True)
    evaluated = faithfulness.evaluate(bb, heatmap, steps=16, patch=1)
    deletion = {c.metric: c for c in evaluated.evaluation}["deletion"]
    assert deletion.probabilities[1] < 0.5 and deletion.beats_random


class TopLeftOfPixels(TopLeft):
    """TopLeft of the pixels before the backbone's normalization (which subtracts `mean`)."""

    def __init__(self, mean: float) -> None:
        super().__init__()
        self.mean = mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x + self.mean)


def toy_with_mean(mean: float) -> Backbone:
    """TopLeft with a dataset mean pixel of `mean` (what `removal=mean` puts in)."""
    return dataclasses.replace(backbone(TopLeftOfPixels(mean)),
                               preprocessing=Preprocessing(mean=(mean,) * 3, std=(1.0,) * 3))


def logistic(score: float) -> float:
    return 1.0 / (1.0 + float(np.exp(-score)))


def test_each_removal_puts_its_known_pixels_in_and_insertion_always_starts_from_the_blur():
    """The perfect map's first deletion step hides exactly the 16 pixels TopLeft reads: black gives its score at
    brightness 0, the mean pixel its score at the mean, blur the blurred copy's; insertion is the same for all."""
    bb, image = toy_with_mean(0.95), bright_corner()
    perfect = np.zeros((16, 16), np.float32)
    perfect[:4, :4] = 1.0
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    blurred_p = float(torch.softmax(bb.model(bb.normalize(faithfulness.blurred(x, sigma=1.0))), dim=1)[0, 1])
    expected = {"zero": logistic(60 * (0.0 - 0.9)), "mean": logistic(60 * (0.95 - 0.9)), "blur": blurred_p}
    insertions = []
    for removal, p_removed in expected.items():
        deletion, insertion = faithfulness.deletion_insertion(bb, image, perfect, 1, steps=16, removal=removal,
                                                              patch=1)
        assert (deletion.removal, deletion.patch) == (removal, 1)
        np.testing.assert_allclose(deletion.probabilities, [p1(bb, image)] + [p_removed] * 16, rtol=1e-5,
                                   atol=1e-7)
        insertions.append(insertion.probabilities)
    assert expected["mean"] == pytest.approx(0.9526, abs=1e-4) and expected["zero"] < 1e-20
    np.testing.assert_allclose(insertions[0], insertions[1])
    np.testing.assert_allclose(insertions[0], insertions[2])
    np.testing.assert_allclose(insertions[0], [blurred_p] + [p1(bb, image)] * 16, rtol=1e-5)
    with pytest.raises(ValueError, match="removal"):
        faithfulness.deletion_insertion(bb, image, perfect, 1, removal="noise")


def test_cells_are_scored_by_their_mean_and_numbered_row_major_with_smaller_edge_cells():
    cells = faithfulness.cell_index(5, 7, 3)
    assert cells.tolist() == [[0, 0, 0, 1, 1, 1, 2]] * 3 + [[3, 3, 3, 4, 4, 4, 5]] * 2
    values = torch.arange(35, dtype=torch.float32).view(5, 7)
    means = faithfulness.cell_means(values, cells)
    assert means.tolist() == pytest.approx([8.0, 11.0, 13.0, 25.5, 28.5, 30.5])  # e.g. cell 5: 27, 34
    assert faithfulness.cell_index(4, 4, 1).flatten().tolist() == list(range(16))


def test_the_random_map_removes_whole_cells_of_the_maps_size():
    """At 4-px cells, TopLeft's input is one cell, so EVERY curve, the random one included, only takes the two
    values "corner shown" and "corner hidden"; at single pixels the random curve passes through values between
    (scattered pixels of the corner removed), the granularity artefact the cells avoid."""
    bb, image = backbone(TopLeft()), bright_corner()
    perfect = np.zeros((16, 16), np.float32)
    perfect[:4, :4] = 1.0
    shown, hidden = p1(bb, image), faithfulness.deletion_insertion(bb, image, perfect, 1, steps=16,
                                                                    patch=1)[0].probabilities[1]
    cells = faithfulness.deletion_insertion(bb, image, perfect, 1, steps=16, patch=4)
    for curve in cells:
        assert curve.patch == 4 and curve.beats_random
        for probs in (curve.probabilities, curve.random_probabilities):
            assert np.all(np.isclose(probs, shown, rtol=1e-5) | np.isclose(probs, hidden, rtol=1e-5))
    np.testing.assert_allclose(cells[0].probabilities, [shown] + [hidden] * 16, rtol=1e-5)  # 16 cells, 16 steps
    pixels = faithfulness.deletion_insertion(bb, image, perfect, 1, steps=16, patch=1)
    between = (pixels[0].random_probabilities < shown * 0.99) & (pixels[0].random_probabilities > hidden * 1.01)
    assert between.any()


def test_segment_seeds_grabcut_from_the_magnitude_of_a_signed_map(monkeypatch):
    image = np.full((48, 48, 3), 40, np.uint8)
    image[12:36, 12:36] = (220, 60, 30)
    signed = np.zeros((48, 48), np.float32)
    signed[12:36, 12:36] = -1.0  # the object pushes the class DOWN: still the object
    fake = Heatmap(values=signed, image=image, method="integrated_gradients", backbone="toy",
                   target=Prediction(1, "b", 1.0, 1.0), predicted=Prediction(1, "b", 1.0, 1.0), signed=True)
    monkeypatch.setattr(segment, "saliency", lambda *a, **k: [fake])
    result = segment.segment(backbone(TopLeft()), image, method="integrated_gradients", foreground=0.9,
                             background=0.3)
    assert result.mask[12:36, 12:36].mean() > 0.9 and result.mask[:8].mean() < 0.05
    assert (result.saliency >= 0).all()


class Recording(nn.Module):
    """A small conv classifier that records `what` of every batch it is fed."""

    def __init__(self, what) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.what, self.seen = what, []

    def forward(self, x):
        self.seen.append(self.what(x))
        return self.conv(x).mean(dim=(2, 3))


def test_integrated_gradients_passes_stay_within_the_batch_whatever_the_number_of_images():
    """The defect: internal_batch_size was batch x n, so n requests in a TorchServe batch took n x the memory."""
    model = Recording(len)
    rows = model.seen
    bb = backbone(model)
    images = (np.random.default_rng(0).random((4, 8, 8, 3)) * 255).astype(np.uint8)
    attribution.saliency(bb, images, [0, 1, 0, 1], method="integrated_gradients",
                         options={"steps": 16, "batch_size": 8})
    assert max(rows[1:]) <= 8  # rows[0]: the forward pass that resolves the targets
    rows.clear()
    attribution.saliency(bb, images, [0, 1, 0, 1], method="integrated_gradients",
                         options={"steps": 16, "batch_size": 2})
    assert max(rows[1:]) == 4  # never below one path point per image (Captum's floor)


def test_every_engine_path_feeds_the_network_one_memory_layout():
    model = Recording(lambda x: x.is_contiguous(memory_format=MEMORY_FORMAT))
    layouts = model.seen
    bb = backbone(model)
    image = (np.random.default_rng(1).random((12, 12, 3)) * 255).astype(np.uint8)
    for method in ("gradient", "smoothgrad", "integrated_gradients"):
        heatmap = attribution.saliency(bb, image, [1], method=method, options={} if method == "gradient" else
                                       {"samples": 2} if method == "smoothgrad" else {"steps": 2})[0]
    faithfulness.evaluate(bb, heatmap, steps=4)
    occlusion.occlusion(bb, image, 1, patch=4, stride=4)
    assert layouts and all(layouts)


def test_the_occlusion_benchmark_compares_with_plain_inference_in_the_engines_layout():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import attribution as bench  # benchmarks/attribution.py

    model = Recording(lambda x: x.is_contiguous(memory_format=MEMORY_FORMAT))
    x = torch.rand(2, 3, 8, 8).contiguous(memory_format=MEMORY_FORMAT)
    bench.plain_inference(backbone(model), x, positions=3)()
    assert model.seen == [True, True]
    assert "MEMORY_FORMAT" in (ROOT / "benchmarks" / "attribution.py").read_text()


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(2)
    a = rng.random((9, 7))
    b = np.round(a + rng.random((9, 7)), 1)  # ties
    b[0] = 0.0
    assert sanity.spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-12)
    assert sanity.spearman(a, a) == pytest.approx(1.0) and sanity.spearman(a, -a) == pytest.approx(-1.0)
    assert sanity.spearman(a, np.zeros_like(a)) == 0.0


def test_adebayos_four_similarity_measures_on_known_pairs():
    """Identical maps score 1 on all four; a sign flip keeps the magnitudes (1) but reverses the signed ranks
    (-1); an edge map and the same edges moved far away share little structure."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from map_similarity import MEASURES, similarities, unit_scaled

    rng = np.random.default_rng(0)
    signed = rng.normal(size=(64, 64))
    assert similarities(signed, signed) == pytest.approx(dict.fromkeys(MEASURES, 1.0))
    flipped = similarities(signed, -signed)
    assert flipped["spearman"] == pytest.approx(-1.0)
    assert (flipped["spearman_abs"], flipped["ssim"], flipped["hog"]) == pytest.approx((1.0, 1.0, 1.0))
    assert unit_scaled(np.array([-2.0, 1.0])).tolist() == [1.0, 0.5] and unit_scaled(np.zeros(3)).max() == 0
    square = np.zeros((64, 64))
    square[8:24, 8:24] = 1.0
    moved = np.roll(square, (32, 32), axis=(0, 1))
    apart = similarities(square, moved)
    assert apart["spearman_abs"] < 0 and apart["ssim"] < 0.8 and apart["hog"] < 0.5


def test_null_levels_show_that_two_unrelated_maps_on_one_coarse_grid_already_share_hog_structure():
    """Known answers for the measures' null levels: independent per-pixel maps have Spearman ~0 (sd 1/sqrt(n))
    and little HOG correlation, while two maps constant on the same 16-px cells (built here with np.kron, not by
    the null-map code) correlate by HOG far above that whatever their values; a map with itself scores 1. The
    occlusion-shaped null map is constant on 16-px cells, as the engine's 32-px patches every 16 px make it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from map_similarity import MEASURES, null_levels, null_map, similarities

    rng = np.random.default_rng(0)
    blocks = [np.kron(rng.uniform(size=(4, 4)), np.ones((16, 16))) for _ in range(2)]
    pixels = [rng.uniform(size=(64, 64)) for _ in range(2)]
    assert similarities(*blocks)["hog"] > 0.6 > 0.2 > similarities(*pixels)["hog"]
    per_pixel = null_levels("gradient", 64)
    assert abs(per_pixel["spearman_abs"]) < 0.05 and per_pixel["hog"] < 0.2 and per_pixel["ssim"] < 0.05
    occluded = null_levels("occlusion", 64)
    assert occluded["hog"] > 0.6 and occluded["hog"] > per_pixel["hog"] + 0.4
    grid = null_map("occlusion", 64, np.random.default_rng(1))
    assert all(np.unique(grid[y:y + 16, x:x + 16]).size == 1 for y in range(0, 64, 16) for x in range(0, 64, 16))
    assert np.unique(grid).size == 16
    for method in ("gradcam", "occlusion", "integrated_gradients"):
        same = null_map(method, 64, np.random.default_rng(2))
        assert similarities(same, same) == pytest.approx(dict.fromkeys(MEASURES, 1.0)), method


def test_deleted_images_remove_the_map_order_first_and_the_same_cell_count_at_random():
    """The gallery's pictures of the deletion curve: with a map that ranks the top-left 16-px cell first, 1 of 16
    cells deleted (fraction 1/16) blurs exactly that cell, showing the blurred copy there; the random order blurs
    one cell too; nothing at 0."""
    bb = backbone(TopLeft())
    image = (np.random.default_rng(0).uniform(size=(64, 64, 3)) * 255).astype(np.uint8)
    importance = np.zeros((64, 64), np.float32)
    importance[:16, :16] = 1.0
    mapped, random = faithfulness.deleted_images(bb, image, importance, [0.0, 1 / 16], patch=16)
    assert mapped.shape == (2, 64, 64, 3) and mapped.dtype == np.uint8
    assert np.array_equal(mapped[0], image) and np.array_equal(random[0], image)
    copy = faithfulness.blurred(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255,
                                sigma=max(1.0, faithfulness.BLUR_FRACTION * 64))
    expected = (copy[0].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    assert np.array_equal(mapped[1][:16, :16], expected[:16, :16])
    changed = np.abs(mapped[1].astype(int) - image).sum(-1) > 0
    assert changed[:16, :16].mean() > 0.9 and not changed[16:].any() and not changed[:, 16:].any()
    changed_random = np.abs(random[1].astype(int) - image).sum(-1) > 0
    cells = changed_random.reshape(4, 16, 4, 16).any(axis=(1, 3))
    assert cells.sum() == 1


def test_cascading_randomization_reinitialises_only_the_named_stages_of_a_copy():
    from convlens.core.backbones import EfficientNetLite  # noqa: F401 - the served architecture's stage names

    model = nn.Sequential()
    model.add_module("stem", nn.Conv2d(3, 4, 3))
    model.add_module("blocks", nn.ModuleList([nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)]))
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("fc", nn.Linear(4, 2))
    assert sanity.cascade(model) == ["fc", "blocks.1", "blocks.0", "stem"]
    bb = Backbone(name="toy", model=model, layers={"block1": model.blocks[0]}, labels=["a", "b"],
                  preprocessing=Preprocessing((0, 0, 0), (1, 1, 1)), default_layer="block1",
                  device=torch.device("cpu"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy = sanity.randomized(bb, ["fc", "blocks.1"], seed=3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the original is untouched
    after = copy.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fc.weight", "fc.bias", "blocks.1.weight", "blocks.1.bias"}
    assert copy.layers["block1"] is copy.model.blocks[0]  # named layers point into the copy
    again = sanity.randomized(bb, ["fc", "blocks.1"], seed=3).model.state_dict()
    assert all(torch.equal(after[k], again[k]) for k in after)  # seeded


def test_pointing_hit_with_tolerance():
    values = np.zeros((10, 10))
    values[2, 7] = 1
    assert sanity.pointing_hit(values, (0, 5, 5, 10))
    assert not sanity.pointing_hit(values, (3, 0, 10, 5))
    assert sanity.pointing_hit(values, (3, 0, 10, 7), tolerance=1)


def test_chance_correction_scales_a_similarity_to_the_headroom_above_its_null_level():
    """Known answers: at the null level 0, identical maps 1, halfway between null and 1 one half; a measure below
    its null level is negative. The rule fails a method when any one measure is at or above the cut."""
    assert sanity.above_chance(0.75, 0.75) == 0.0 and sanity.above_chance(1.0, 0.75) == pytest.approx(1.0)
    assert sanity.above_chance(0.875, 0.75) == pytest.approx(0.5) and sanity.above_chance(0.3, 0.0) == 0.3
    assert sanity.above_chance(0.2, 0.4) == pytest.approx(-1 / 3)
    nulls = {"spearman": 0.0, "hog": 0.75}
    assert sanity.passes_randomization({"spearman": 0.1, "hog": 0.8}, nulls, 0.5)  # HOG 0.2 above chance
    assert not sanity.passes_randomization({"spearman": 0.1, "hog": 0.9}, nulls, 0.5)  # HOG 0.6 above chance
    assert not sanity.passes_randomization({"spearman": 0.5, "hog": 0.0}, nulls, 0.5)  # at the cut fails


def test_the_committed_randomization_table_flags_guided_backprop_and_guided_gradcam_and_passes_gradient_and_gradcam():
    """As Adebayo et al. 2018 found: guided backprop and guided Grad-CAM stay similar to the trained map when the
    top of the network is random, gradient and Grad-CAM do not; each verdict is the stated rule (every one of the
    paper's four measures less than the threshold above its null level) applied to the committed numbers, and the
    uncorrected verdict (raw measures below the threshold) is kept beside it."""
    table = json.loads(sanity.RESULTS.read_text())
    rows, nulls = table["methods"], table["null_levels"]
    assert set(rows) == set(nulls) == {*attribution.METHODS, "occlusion"}
    assert table["size"] == 224 and len(table["photos"]) == 7
    assert table["measures"] == ["spearman_abs", "spearman", "ssim", "hog"] and "above chance" in table["rule"]
    for method, row in rows.items():
        measured = {m: row[m] for m in table["measures"]}
        assert row["passes"] == sanity.passes_randomization(measured, nulls[method], table["pass_below"]), method
        assert row["passes_uncorrected"] == all(v < table["pass_below"] for v in measured.values()), method
    assert rows["gradient"]["passes"] and rows["gradcam"]["passes"]
    assert not rows["guided_backprop"]["passes"] and not rows["guided_gradcam"]["passes"]
    assert rows["guided_backprop"]["spearman_abs"] > 0.9
    assert sanity.randomization_verdicts() == {m: "passes" if r["passes"] else "fails" for m, r in rows.items()}


def test_random_baselines_are_seeded_permutations_and_seed_0_is_the_endpoints():
    """The benchmark averages several random maps: each is a ranking of every cell, the same for the same seed,
    different for another, and seed 0 is the baseline the endpoint returns (`cell_rankings`)."""
    ranks = [faithfulness.random_ranks(49, seed) for seed in range(3)]
    for r in ranks:
        assert sorted(r.tolist()) == list(range(49))
    assert torch.equal(ranks[0], faithfulness.random_ranks(49, 0)) and not torch.equal(ranks[0], ranks[1])
    _, _, endpoint = faithfulness.cell_rankings(np.zeros((28, 28), np.float32), 4)
    assert torch.equal(endpoint, ranks[0])


def test_segment_defaults_to_a_method_that_passes_the_randomization_test():
    from serving.spec import REGISTRY
    from serving.specs.attribution import SegmentParams  # noqa: F401 - registers the spec

    default = REGISTRY["segment"].field("method").default
    assert sanity.randomization_verdicts()[default] == "passes"
    assert segment.segment.__defaults__ is not None and default in segment.segment.__defaults__


def test_captum_saliency_keeps_channels_and_occlusion_takes_any_baseline():
    """What the docstrings now say of Captum (the defect: they said Saliency sums channels)."""
    import captum.attr as ca

    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    x = torch.rand(1, 3, 8, 8)
    assert ca.Saliency(model).attribute(x, target=1).shape == x.shape
    blurred = faithfulness.blurred(x, 2.0)
    assert ca.Occlusion(model).attribute(x, sliding_window_shapes=(3, 4, 4), baselines=blurred, target=1).shape \
        == x.shape
    from convlens.attribution import gradient

    assert "sums channels" not in (gradient.__doc__ or "") + (gradient.Gradient.__doc__ or "")


def test_signed_maps_are_drawn_by_magnitude_positive_part_or_diverging_around_zero():
    from convlens.attribution import render

    values = np.zeros((4, 8), np.float32)
    values[:, :2], values[:, 6:] = -1.0, 1.0  # against the target on the left, for it on the right
    image = np.zeros((4, 8, 3), np.uint8)
    signed = Heatmap(values=values, image=image, method="integrated_gradients", backbone="toy",
                     target=Prediction(1, "b", 1.0, 1.0), predicted=Prediction(1, "b", 1.0, 1.0), signed=True)
    absolute = render.saliency_picture(signed, sign="absolute")
    np.testing.assert_array_equal(absolute[:, 0], absolute[:, 7])  # -1 and +1 look alike: both matter
    assert absolute[0, 0].sum() > absolute[0, 4].sum()
    positive = render.saliency_picture(signed, sign="positive")
    np.testing.assert_array_equal(positive[:, 0], positive[:, 4])  # negative = nothing
    diverging = render.saliency_picture(signed, sign="diverging")
    assert tuple(diverging[0, 0]) == (0, 0, 255) and tuple(diverging[0, 7]) == (255, 0, 0)
    assert tuple(diverging[0, 4]) == (255, 255, 255)  # zero is white
    unsigned = dataclasses.replace(signed, values=np.abs(values), signed=False)
    np.testing.assert_array_equal(render.saliency_picture(unsigned, sign="diverging"),
                                  render.saliency_picture(unsigned))  # unsigned maps ignore `sign`


def faithfulness_benchmark():
    """benchmarks/faithfulness.py as a module (its name would clash with the engine's `faithfulness`)."""
    import importlib.util

    sys.path.insert(0, str(ROOT / "benchmarks"))  # for its own `map_similarity` import
    spec = importlib.util.spec_from_file_location("faithfulness_benchmark", ROOT / "benchmarks" / "faithfulness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_judges_each_method_against_its_null_level_and_keeps_the_raw_verdict():
    """A grid-shaped map whose HOG after randomization sits at its null level passes the corrected rule while the
    raw rule fails it; a map that kept its ranks (ρ 0.9 against a null of 0) fails both."""
    bench = faithfulness_benchmark()
    judged = {"spearman_abs": 0.1, "spearman": 0.1, "ssim": 0.4, "hog": 0.75}
    kept = {"spearman_abs": 0.9, "spearman": 0.9, "ssim": 0.2, "hog": 0.2}
    results = {"randomization": {"grid": {"similarity": {bench.JUDGED_AT: judged}},
                                 "edges": {"similarity": {bench.JUDGED_AT: kept}}},
               "null_levels": {"methods": {"grid": {"spearman_abs": 0.0, "spearman": 0.0, "ssim": 0.47, "hog": 0.75},
                                           "edges": dict.fromkeys(bench.MEASURES, 0.0)}}}
    assert bench.verdicts(results) == {"grid": {"passes": True, "passes_uncorrected": False},
                                       "edges": {"passes": False, "passes_uncorrected": False}}


def test_the_benchmarks_crop_view_is_the_centre_square_of_the_photo():
    """`--view crop` keeps the aspect ratio: a landscape photo loses equal strips left and right."""
    from skimage import data

    bench = faithfulness_benchmark()
    full = data.coffee()  # 400 x 600
    cropped = bench.photo("coffee", 400, "crop")
    assert cropped.shape == (400, 400, 3) and np.array_equal(cropped, full[:, 100:500])
    assert bench.photo("coffee", 64).shape == (64, 64, 3)
