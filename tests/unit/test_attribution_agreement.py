"""ConvLens's maps against Captum's (the reference implementation) under matched settings, on a small CNN: the
rank correlation of the maps (benchmarks/faithfulness.py measures the same on the served backbone and photos)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convlens import attribution
from convlens.attribution import occlusion, sanity
from convlens.core.backbones import Backbone, Preprocessing

captum_attr = pytest.importorskip("captum.attr")


@pytest.fixture(scope="module")
def cnn() -> Backbone:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
    return Backbone(name="cnn", model=model, layers={"conv2": model[2]}, labels=list("abcd"),
                    preprocessing=Preprocessing(mean=(0.5, 0.4, 0.3), std=(0.25, 0.25, 0.25)),
                    default_layer="conv2", device=torch.device("cpu"))


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return (np.random.default_rng(0).random((24, 24, 3)) * 255).astype(np.uint8)


def x01(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def logits_of(bb: Backbone):
    return lambda p: bb.model(bb.normalize(p))


def ours(bb: Backbone, image: np.ndarray, method: str, **options) -> np.ndarray:
    return attribution.saliency(bb, image, [1], method=method, options=options)[0].values


def test_gradient_is_captums_saliency_max_over_channels(cnn, image):
    reference = captum_attr.Saliency(logits_of(cnn)).attribute(x01(image), target=1)[0].amax(0).numpy()
    np.testing.assert_allclose(ours(cnn, image, "gradient"), reference, rtol=1e-4, atol=1e-7)


def test_integrated_gradients_is_captums(cnn, image):
    x = x01(image)
    reference = captum_attr.IntegratedGradients(logits_of(cnn)).attribute(
        x, baselines=torch.zeros_like(x), target=1, n_steps=16, method="gausslegendre")[0].sum(0).numpy()
    np.testing.assert_allclose(ours(cnn, image, "integrated_gradients", steps=16), reference, rtol=1e-3,
                               atol=1e-6)


def test_gradcam_is_captums_layer_gradcam_upsampled(cnn, image):
    x = x01(image)
    cam = captum_attr.LayerGradCam(logits_of(cnn), cnn.layer("conv2")).attribute(x, target=1)
    reference = captum_attr.LayerAttribution.interpolate(cam, (24, 24), "bilinear")[0, 0].clamp(min=0).detach().numpy()
    np.testing.assert_allclose(ours(cnn, image, "gradcam"), reference, rtol=1e-4, atol=1e-6)


def test_occlusion_drop_is_captums_occlusion_of_the_probability(cnn, image):
    mean = torch.tensor(cnn.preprocessing.mean).view(1, 3, 1, 1).expand(1, 3, 24, 24)
    drop = captum_attr.Occlusion(lambda p: torch.softmax(logits_of(cnn)(p), dim=1)).attribute(
        x01(image), sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4), baselines=mean, target=1)
    reference = drop[0, 0].clamp(min=0).numpy()
    ours_drop = occlusion.occlusion(cnn, image, 1, patch=8, stride=4).importance
    np.testing.assert_allclose(ours_drop, reference, rtol=1e-4, atol=1e-6)


def test_smoothgrad_agrees_with_captums_noise_tunnel_up_to_sampling(cnn, image):
    """Both are Monte Carlo estimates of one expectation with their own noise: many samples make them agree."""
    x = x01(image)
    span = float(x.max() - x.min())
    torch.manual_seed(1)
    reference = captum_attr.NoiseTunnel(captum_attr.Saliency(logits_of(cnn))).attribute(
        x, nt_type="smoothgrad", nt_samples=400, nt_samples_batch_size=100, stdevs=0.15 * span, target=1,
        abs=False)[0].abs().amax(0).numpy()
    mine = ours(cnn, image, "smoothgrad", samples=400, noise=0.15)
    assert sanity.spearman(mine, reference) > 0.95
