"""The attribution suite on the real EfficientNet-Lite0: the Adebayo et al. (2018) randomization sanity check,
a photographed object at a known box, and GrabCut segmentation seeded by a known map."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import spearmanr
from skimage import data

from convlens import attribution
from convlens.attribution import occlusion, segment
from convlens.core import backbones

CAT_BOX = (112, 40, 200, 112)  # x0, y0, x1, y1 of the pasted cat photo on the 224x144 canvas


@pytest.fixture(scope="module")
def backbone() -> backbones.Backbone:
    return backbones.load_backbone(device=torch.device("cpu"))


def cat_on_a_plain_canvas() -> np.ndarray:
    """Chelsea's face (a real photo, hand-cropped: x 120..380, y 20..290) pasted at CAT_BOX on a flat grey canvas,
    so the object's box is known exactly."""
    x0, y0, x1, y1 = CAT_BOX
    face = Image.fromarray(data.chelsea()).crop((120, 20, 380, 290)).resize((x1 - x0, y1 - y0), Image.BILINEAR)
    canvas = np.full((144, 224, 3), 128, np.uint8)
    canvas[y0:y1, x0:x1] = np.asarray(face)
    return canvas


def box_share(values: np.ndarray) -> float:
    x0, y0, x1, y1 = CAT_BOX
    v = np.abs(values)
    return float(v[y0:y1, x0:x1].sum() / v.sum())


def top_share(values: np.ndarray, top: float = 0.9) -> float:
    """Share of the 10% most salient pixels that lie inside the box."""
    x0, y0, x1, y1 = CAT_BOX
    hot = np.abs(values) >= np.quantile(np.abs(values), top)
    return float(hot[y0:y1, x0:x1].sum() / hot.sum())


@pytest.mark.parametrize("method", ["gradient", "gradcam", "guided_backprop", "guided_gradcam"])
def test_saliency_mass_lies_on_the_object(backbone, method):
    """The box covers 20% of the canvas: most of the hottest pixels, and about twice the box's share of the
    total mass (measured: gradient 0.43 / 0.53, Grad-CAM 0.40 / 0.84, guided backprop 0.83 / 0.90), lie in it."""
    pixels = cat_on_a_plain_canvas()
    result = attribution.saliency(backbone, pixels, method=method)[0]
    assert result.predicted.index in range(281, 286)  # a cat class
    area = (CAT_BOX[2] - CAT_BOX[0]) * (CAT_BOX[3] - CAT_BOX[1]) / pixels[..., 0].size
    assert area == pytest.approx(0.2, abs=0.01)
    assert top_share(result.values) > 0.5 and box_share(result.values) > 1.9 * area


def test_occlusion_mass_lies_on_the_object(backbone):
    pixels = cat_on_a_plain_canvas()
    result = occlusion.occlusion(backbone, pixels, patch=32, stride=32, batch_size=16)
    assert result.grid.shape == (5, 7) and result.predicted.index in range(281, 286)
    assert box_share(result.importance) > 0.6


@pytest.fixture(scope="module")
def randomized() -> backbones.Backbone:
    """The same architecture with every layer re-initialized (Adebayo et al.'s cascading randomization, full)."""
    torch.manual_seed(0)
    clone = backbones.load_backbone(device=torch.device("cpu"))
    for module in clone.model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return clone


@pytest.mark.parametrize("method", ["gradient", "gradcam"])
def test_maps_depend_on_the_learned_weights(backbone, randomized, method):
    pixels = np.asarray(Image.fromarray(data.chelsea()).resize((144, 96), Image.BILINEAR))
    noisy = np.clip(pixels + np.random.default_rng(0).normal(0, 2, pixels.shape), 0, 255).astype(np.uint8)
    trained = attribution.saliency(backbone, pixels, [285], method=method)[0].values
    trained_again = attribution.saliency(backbone, noisy, [285], method=method)[0].values  # imperceptible change
    random = attribution.saliency(randomized, pixels, [285], method=method)[0].values
    reference = spearmanr(trained.ravel(), trained_again.ravel())[0]
    after = spearmanr(trained.ravel(), random.ravel())[0]
    assert reference > 0.25 and after < 0.5 * reference, (reference, after)


def test_grabcut_recovers_a_region_from_a_noisy_seed_map():
    rng = np.random.default_rng(0)
    image = np.full((60, 80, 3), 90, np.uint8) + rng.integers(0, 20, (60, 80, 3), dtype=np.uint8)
    image[15:45, 20:50] = (200, 40, 40)  # a red square
    values = rng.random((60, 80)).astype(np.float32) * 0.3  # background: low, noisy
    values[15:45, 20:50] += 0.3  # the square: never among the least salient (Simonyan's premise)
    values[22:38, 27:43] += 1.0  # its core: the most salient
    mask = segment.grabcut_mask(image, values)
    truth = np.zeros((60, 80), bool)
    truth[15:45, 20:50] = True
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.9, iou
