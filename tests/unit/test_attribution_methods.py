"""Every saliency method against known answers: guided backprop vs an independent autograd.Function reference
(ReLU6 reused twice), IG completeness and its linear closed form, SmoothGrad, Grad-CAM = CAM on a GAP network,
inner neurons, hook removal, occlusion on a toy model, and the sanity checks on the real backbone."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convlens import attribution
from convlens.attribution import occlusion
from convlens.attribution.base import Neuron
from convlens.core.backbones import Backbone, Preprocessing
from convlens.core.errors import InvalidParameter

torch.set_num_threads(1)


def make_backbone(model: nn.Module, layers: dict | None = None, default_layer: str = "") -> Backbone:
    return Backbone(name="toy", model=model.eval(), layers=layers or {}, labels=list("abcde"),
                    preprocessing=Preprocessing(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3)),
                    default_layer=default_layer, device=torch.device("cpu"))


class ReusedActs(nn.Module):
    """Like an EfficientNet-Lite block: ONE ReLU6 module used twice, plus a ReLU, then GAP + linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
        self.act, self.relu = nn.ReLU6(), nn.ReLU()
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        x = self.act(4 * self.conv1(x))
        x = self.relu(self.conv2(x) - 0.2)
        x = self.act(3 * x)
        return self.fc(x.mean(dim=(2, 3)))


class GuidedClamp(torch.autograd.Function):
    """Reference: clamp(x, 0, top) whose backward is Springenberg's rule, written independently of the engine."""

    @staticmethod
    def forward(ctx, x, top):
        ctx.save_for_backward(x)
        ctx.top = top
        return x.clamp(0, top)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0) * (x < ctx.top) * (g > 0), None


def reference_guided(model: ReusedActs, x: torch.Tensor, target: int) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    z = x
    h = GuidedClamp.apply(4 * model.conv1(z), 6.0)
    h = GuidedClamp.apply(model.conv2(h) - 0.2, float("inf"))
    h = GuidedClamp.apply(3 * h, 6.0)
    model.fc(h.mean(dim=(2, 3)))[0, target].backward()
    return x.grad


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules())


def test_guided_backprop_matches_reference_on_a_reused_relu6():
    model = ReusedActs()
    bb = make_backbone(model)
    x = torch.rand(1, 3, 10, 12, dtype=torch.float32)
    guided = attribution.METHODS["guided_backprop"](bb).attribute(x, torch.tensor([2]))
    # the reference differentiates the same function of the normalized input
    expected = reference_guided(model, bb.normalize(x), 2) / torch.tensor(bb.preprocessing.std).view(1, 3, 1, 1)
    torch.testing.assert_close(guided, expected, rtol=1e-5, atol=1e-7)
    plain = attribution.Gradient(bb).attribute(x, torch.tensor([2]))
    assert not torch.allclose(guided, plain)  # the guidance changed something
    assert no_hooks(model)


def test_guided_backprop_passes_no_negative_gradient_through_any_activation_use():
    model = ReusedActs()
    bb = make_backbone(model)
    seen: list[torch.Tensor] = []

    def record_input_grad(module, inputs):  # a gradient arriving at the input of each use of an activation
        if inputs[0].requires_grad:
            inputs[0].register_hook(lambda g: seen.append(g.detach()))

    handles = [m.register_forward_pre_hook(record_input_grad) for m in (model.act, model.relu)]
    try:
        x = torch.rand(2, 3, 10, 12)
        attribution.METHODS["gradient"](bb).attribute(x, torch.tensor([1, 3]))
        assert len(seen) == 3 and any((g < 0).any() for g in seen)  # plain gradients do go negative
        seen.clear()
        attribution.METHODS["guided_backprop"](bb).attribute(x, torch.tensor([1, 3]))
        assert len(seen) == 3 and all((g >= 0).all() for g in seen)
    finally:
        for h in handles:
            h.remove()
    assert no_hooks(model)


def test_hooks_are_removed_after_an_exception():
    model = ReusedActs()
    bb = make_backbone(model, layers={"conv2": model.conv2})
    for method in ("guided_backprop", "gradient", "smoothgrad"):
        with pytest.raises(InvalidParameter) as err:  # channel 99 of a 6-channel layer fails mid-forward
            attribution.saliency(bb, np.zeros((8, 8, 3), np.uint8), method=method, neuron=Neuron("conv2", 99))
        assert err.value.field == "channel" and no_hooks(model)
    with pytest.raises(InvalidParameter) as err:
        attribution.saliency(bb, np.zeros((8, 8, 3), np.uint8), method="gradcam", options={"layer": "fc"})
    assert err.value.field == "layer" and "conv2" in err.value.message and no_hooks(model)


def smooth_backbone(dtype=torch.float64) -> Backbone:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Tanh(), nn.Conv2d(6, 6, 3, padding=1), nn.Tanh(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5)).to(dtype)
    return make_backbone(model, layers={"conv2": model[2], "tanh2": model[3]}, default_layer="tanh2")


def f(bb: Backbone, x: torch.Tensor, target: int) -> float:
    with torch.no_grad():
        return float(bb.model(bb.normalize(x))[0, target])


@pytest.mark.parametrize("baseline", ["black", "zero", "blur", "noise"])
def test_integrated_gradients_completeness(baseline):
    bb = smooth_backbone()
    x = torch.rand(1, 3, 8, 9, dtype=torch.float64)
    ig = attribution.METHODS["integrated_gradients"](bb, steps=64, baseline=baseline)
    attr = ig.attribute(x, torch.tensor([1]))
    delta = f(bb, x, 1) - f(bb, ig.baseline_pixels(x), 1)
    assert abs(float(attr.sum()) - delta) <= 1e-3 * abs(delta)
    # the reduced map keeps completeness (signed channel sum)
    assert float(ig.reduce(attr).sum()) == pytest.approx(float(attr.sum()), rel=1e-9)


def test_integrated_gradients_on_a_linear_model_is_input_times_weight():
    torch.manual_seed(1)
    lin = nn.Linear(3 * 5 * 4, 5).double()
    bb = make_backbone(nn.Sequential(nn.Flatten(), lin))
    x = torch.rand(2, 3, 5, 4, dtype=torch.float64)
    ig = attribution.METHODS["integrated_gradients"](bb, steps=7, baseline="zero")
    attr = ig.attribute(x, torch.tensor([0, 3]))
    std = torch.tensor(bb.preprocessing.std, dtype=torch.float64).view(1, 3, 1, 1)
    for n, t in enumerate([0, 3]):
        w = lin.weight[t].view(3, 5, 4) / std[0]  # d score / d pixel
        # exact up to Captum's quadrature weights, which it builds in float32 (they sum to 1 within ~5e-8)
        torch.testing.assert_close(attr[n], (x[n] - ig.baseline_pixels(x)[n]) * w, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("method, options", [("integrated_gradients", {"steps": 9}),
                                             ("smoothgrad", {"samples": 5, "noise": 0.2})])
def test_batched_equals_unbatched(method, options):
    bb = smooth_backbone()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    one = attribution.METHODS[method](bb, batch_size=1, **options).attribute(x, torch.tensor([0, 4]))
    many = attribution.METHODS[method](bb, batch_size=4, **options).attribute(x, torch.tensor([0, 4]))
    torch.testing.assert_close(one, many, rtol=1e-9, atol=1e-12)


def test_smoothgrad_without_noise_is_the_gradient_and_noise_averages():
    bb = smooth_backbone()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    grad = attribution.Gradient(bb).attribute(x, torch.tensor([2]))
    quiet = attribution.METHODS["smoothgrad"](bb, noise=0.0, samples=3).attribute(x, torch.tensor([2]))
    torch.testing.assert_close(quiet, grad)
    sg = attribution.METHODS["smoothgrad"](bb, noise=0.3, samples=4, seed=5)
    noisy = sg.attribute(x, torch.tensor([2]))
    gen = torch.Generator().manual_seed(5)
    eps = torch.randn((1, 4, 3, 8, 8), generator=gen, dtype=x.dtype)[0] * 0.3 * float(x.max() - x.min())
    expected = torch.stack([attribution.Gradient(bb).attribute(x + e, torch.tensor([2])) for e in eps]).mean(0)
    torch.testing.assert_close(noisy, expected)


def test_gradcam_equals_cam_on_a_global_average_pooling_network():
    bb = smooth_backbone()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    cam = attribution.METHODS["gradcam"](bb).attribute(x, torch.tensor([3]))  # layer tanh2: 8x8 like the input
    with torch.no_grad():
        a = bb.model[:4](bb.normalize(x))[0]
    w = bb.model[6].weight[3]  # Zhou et al.'s CAM: sum_k w_k A_k (Grad-CAM weights are w_k / (h*w))
    expected = torch.relu((w.view(6, 1, 1) * a).sum(0) / 64)
    torch.testing.assert_close(cam[0, 0], expected)
    with pytest.raises(InvalidParameter) as err:  # tanh only: no ReLU modules for guided backprop to guide
        attribution.METHODS["guided_backprop"](bb).attribute(x, torch.tensor([3]))
    assert err.value.field == "method"


def test_guided_gradcam_is_guided_backprop_times_the_cam():
    """Springenberg's guided backprop weighted pixel-wise by the upsampled Grad-CAM (Selvaraju et al.)."""
    model = ReusedActs().double()
    bb = make_backbone(model, layers={"conv2": model.conv2, "relu": model.relu}, default_layer="relu")
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cam = attribution.METHODS["gradcam"](bb).attribute(x, torch.tensor([3]))
    gb = attribution.METHODS["guided_backprop"](bb).attribute(x, torch.tensor([3]))
    ggc = attribution.METHODS["guided_gradcam"](bb).attribute(x, torch.tensor([3]))
    assert cam.abs().sum() > 0 and gb.abs().sum() > 0
    torch.testing.assert_close(ggc, gb * cam)


@pytest.mark.parametrize("position", [None, (2, 5)])
def test_neuron_gradient_is_the_gradient_of_that_activation(position):
    bb = smooth_backbone()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    act = bb.model[:3](bb.normalize(x))[0, 4]
    (act.mean() if position is None else act[position]).backward()
    got = attribution.Gradient(bb, neuron=Neuron("conv2", 4, position)).attribute(x.detach(), torch.tensor([0]))
    torch.testing.assert_close(got, x.grad)
    pixels = (x.detach()[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    result = attribution.saliency(smooth_backbone(torch.float32), pixels, method="gradient",
                                  neuron=Neuron("conv2", 4, position))[0]
    assert result.layer == "conv2" and result.target.index == 4 and "conv2 channel 4" in result.target.label


def test_neuron_errors_name_their_fields():
    bb = smooth_backbone(torch.float32)
    pixels = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InvalidParameter) as err:
        attribution.saliency(bb, pixels, neuron=Neuron("conv9", 0))
    assert err.value.field == "layer" and "conv2" in err.value.message
    with pytest.raises(InvalidParameter) as err:
        attribution.saliency(bb, pixels, neuron=Neuron("conv2", 0, (8, 0)))
    assert err.value.field == "position"
    with pytest.raises(InvalidParameter) as err:
        attribution.saliency(bb, pixels, method="integrated_gradients", neuron=Neuron("conv2", 0))
    assert err.value.field == "layer"


class LooksAtOneRegion(nn.Module):
    """Class 0's logit is 2 x the mean brightness of rows 8..15, columns 16..23; nothing else matters."""

    def forward(self, x):
        s = x[:, :, 8:16, 16:24].mean(dim=(1, 2, 3)) * 2
        return torch.stack([s, torch.zeros_like(s), -s], dim=1)


def test_occlusion_lights_exactly_the_region_the_model_uses():
    bb = make_backbone(LooksAtOneRegion())
    bb.preprocessing = Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    pixels = np.full((32, 40, 3), 230, np.uint8)
    result = occlusion.occlusion(bb, pixels, target=0, patch=8, stride=4, fill="zero")
    assert result.grid.shape == (7, 9) and result.target.index == 0
    ys, xs = np.arange(7) * 4, np.arange(9) * 4
    overlaps = ((ys[:, None] + 8 > 8) & (ys[:, None] < 16)) & ((xs[None] + 8 > 16) & (xs[None] < 24))
    assert (result.grid[~overlaps] == pytest.approx(result.target.probability, abs=1e-7))
    assert (result.grid[overlaps] < result.target.probability - 0.01).all()
    important = result.importance > 1e-6
    expected = np.zeros((32, 40), bool)
    expected[4:20, 12:28] = True  # every pixel under some patch that overlaps the region
    assert (important == expected).all()
    assert result.grid[2, 4] == result.grid.min() < result.grid[3, 5]  # the patch right on the region


def test_occlusion_batched_equals_unbatched_and_fills_differ():
    bb = smooth_backbone(torch.float32)
    pixels = (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)
    one = occlusion.occlusion(bb, pixels, target=1, patch=6, stride=3, batch_size=1)
    many = occlusion.occlusion(bb, pixels, target=1, patch=6, stride=3, batch_size=13)
    np.testing.assert_allclose(one.grid, many.grid, rtol=1e-5, atol=1e-7)
    assert one.values.shape == (20, 24)
    blur = occlusion.occlusion(bb, pixels, target=1, patch=6, stride=3, fill="blur")
    assert not np.allclose(blur.grid, one.grid)
