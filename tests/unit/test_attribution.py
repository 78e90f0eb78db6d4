"""Saliency (Simonyan et al.): gradients checked against finite differences on a tiny smooth model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convlens import attribution
from convlens.core.backbones import Backbone, Preprocessing
from convlens.core.errors import InvalidParameter


def tiny_backbone(dtype=torch.float64) -> Backbone:
    """A smooth 5-class CNN (tanh, average pooling) with a non-trivial per-channel normalization."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Tanh(), nn.Conv2d(6, 6, 3, stride=2), nn.Tanh(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5)).to(dtype).eval()
    return Backbone(name="tiny", model=model, layers={}, labels=list("abcde"),
                    preprocessing=Preprocessing(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3)),
                    default_layer="", device=torch.device("cpu"))


def score(backbone: Backbone, pixels: torch.Tensor, target: int) -> float:
    with torch.no_grad():
        return float(backbone.model(backbone.normalize(pixels))[0, target])


def test_gradient_equals_finite_differences():
    bb = tiny_backbone()
    x = torch.rand(1, 3, 9, 11, dtype=torch.float64)
    grad = attribution.Gradient(bb).attribute(x, torch.tensor([3]))
    assert grad.shape == x.shape
    eps = 1e-6
    rng = np.random.default_rng(0)
    for _ in range(25):
        c, i, j = rng.integers(3), rng.integers(9), rng.integers(11)
        plus, minus = x.clone(), x.clone()
        plus[0, c, i, j] += eps
        minus[0, c, i, j] -= eps
        numeric = (score(bb, plus, 3) - score(bb, minus, 3)) / (2 * eps)
        assert grad[0, c, i, j].item() == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_reduction_is_max_abs_over_channels():
    attr = torch.tensor([[[[1.0, -5.0]], [[-3.0, 2.0]], [[0.5, 4.0]]]])  # (1, 3, 1, 2)
    assert attribution.Attribution.reduce(attr).tolist() == [[[3.0, 5.0]]]


def test_top1_target_and_explicit_target():
    bb = tiny_backbone(torch.float32)
    pixels = (np.random.default_rng(1).random((12, 10, 3)) * 255).astype(np.uint8)
    default = attribution.saliency(bb, pixels)[0]
    assert default.target == default.predicted
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        logits = bb.model(bb.normalize(x))[0]
    assert default.predicted.index == int(logits.argmax())
    assert default.predicted.score == pytest.approx(float(logits.max()), rel=1e-5)
    other = (default.predicted.index + 1) % 5
    chosen = attribution.saliency(bb, pixels, [other])[0]
    assert chosen.target.index == other and chosen.target.label == "abcde"[other]
    assert chosen.values.shape == (12, 10) and chosen.values.dtype == np.float32
    assert (chosen.values >= 0).all() and not np.allclose(chosen.values, default.values)


def test_batched_equals_unbatched():
    bb = tiny_backbone(torch.float32)
    rng = np.random.default_rng(2)
    images = (rng.random((3, 8, 8, 3)) * 255).astype(np.uint8)
    batched = attribution.saliency(bb, images, [0, 2, attribution.TOP1])
    for n, target in enumerate([0, 2, attribution.TOP1]):
        single = attribution.saliency(bb, images[n], [target])[0]
        np.testing.assert_allclose(batched[n].values, single.values, rtol=1e-5, atol=1e-7)
        assert batched[n].target.index == single.target.index
        assert batched[n].target.score == pytest.approx(single.target.score, rel=1e-5)


def test_unknown_method_names_the_field():
    with pytest.raises(InvalidParameter) as err:
        attribution.saliency(tiny_backbone(torch.float32), np.zeros((8, 8, 3), np.uint8), method="occult")
    assert err.value.field == "method" and "gradient" in err.value.message


class TopLeftOnly(nn.Module):
    """A classifier that only ever looks at the top-left 4x4 pixels: saliency must be zero everywhere else."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.tanh(x[:, :, :4, :4]).flatten(1))


def test_saliency_is_zero_where_the_model_does_not_look():
    bb = tiny_backbone(torch.float32)
    bb.model = TopLeftOnly().eval()
    pixels = (np.random.default_rng(3).random((10, 12, 3)) * 255).astype(np.uint8)
    values = attribution.saliency(bb, pixels, [1])[0].values
    assert (values[:4, :4] > 0).all()
    assert (values[4:, :] == 0).all() and (values[:, 4:] == 0).all()


def test_real_backbone_saliency_covers_the_whole_image():
    from PIL import Image
    from skimage import data

    from convlens.core import backbones, inputs

    bb = backbones.load_backbone(device=torch.device("cpu"))
    pixels = inputs.explanation_pixels(Image.fromarray(data.chelsea()), 96)
    result = attribution.saliency(bb, pixels, [285])[0]
    assert pixels.shape == (96, 144, 3) and result.values.shape == (96, 144)
    assert np.isfinite(result.values).all() and result.values.max() > 0
    assert result.target.label == "Egyptian cat" and result.predicted.index in range(281, 286)
