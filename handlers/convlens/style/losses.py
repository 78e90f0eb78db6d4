"""Perceptual losses of style transfer: content (feature MSE), style (Gram-matrix MSE or sliced Wasserstein),
total variation; the one definition the served engine and the stylizer trainers (tools/stylizers) share.

Gram normalization: G = F Fᵀ / (C·H·W) for features F of shape C×(H·W), as in Johnson's neural-style and
pytorch/examples, so style losses of layers with different sizes are comparable and image size changes little.
Style loss of one layer = mean over the C×C entries of (G - G_target)²; content loss = mean over C·H·W of the
squared feature difference; TV loss = mean of squared forward differences along H plus along W.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import torch
from torch import nn

from convlens.core.backbones import Backbone


def gram(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) features -> (N, C, C) Gram matrices divided by C·H·W."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference (per image, then averaged over the batch)."""
    return torch.mean((features - target) ** 2)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the Gram matrices of `features` and a target Gram (broadcast over N)."""
    return torch.mean((gram(features) - target_gram) ** 2)


def sorted_projections(features: torch.Tensor, directions: torch.Tensor, samples: int | None = None) -> torch.Tensor:
    """(N, C, H, W) features projected on (C, K) unit directions, sorted over pixels: (N, K, H·W or `samples`).

    `samples` resamples each sorted row to that many quantiles (linear interpolation), so a target of another
    size can be compared pixel-for-pixel with the output's sorted projections.
    """
    n, c, h, w = features.shape
    proj = (directions.t() @ features.reshape(n, c, h * w)).sort(dim=2).values
    if samples is None or samples == h * w:
        return proj
    return torch.nn.functional.interpolate(proj, size=samples, mode="linear", align_corners=True)


def sliced_wasserstein_loss(features: torch.Tensor, target: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Sliced Wasserstein style loss (Heitz et al. 2021): mean squared gap between sorted 1-D projections.

    Matches the whole distribution of feature vectors, not only its second moments, so the cheap way to satisfy
    a Gram matrix (a few extreme, saturated pixels) is no longer available. `target` is (1, C, h, w) features of
    the style image; both sides are projected on the same random `directions` (C, K).
    """
    out = sorted_projections(features, directions)
    ref = sorted_projections(target, directions, samples=out.shape[2])
    return torch.mean((out - ref) ** 2)


def random_directions(channels: int, count: int, generator: torch.Generator | None = None,
                      device: torch.device | None = None) -> torch.Tensor:
    """(channels, count) random unit vectors, the projection axes of one sliced Wasserstein evaluation."""
    v = torch.randn(channels, count, generator=generator)
    return (v / v.norm(dim=0, keepdim=True)).to(device or "cpu")


PIXELS = "pixels"  # pseudo-layer: the RGB image itself, so a style loss also matches the style's palette



class StyleLoss(Protocol):
    """A style loss of features (a dict by layer name) against one style per image (`which`) or the blend."""

    def __call__(self, feats: dict[str, torch.Tensor], which: torch.Tensor | None = None) -> torch.Tensor: ...


def with_pixels(features: dict[str, torch.Tensor], image01: torch.Tensor) -> dict[str, torch.Tensor]:
    """Network features plus the image itself under PIXELS."""
    return {**features, PIXELS: image01}


def network_layers(layers: Iterable[str]) -> list[str]:
    """The layers a network must compute: `layers` without the PIXELS pseudo-layer, duplicates dropped."""
    return [name for name in dict.fromkeys(layers) if name != PIXELS]


class SlicedLoss:
    """The sliced Wasserstein style loss against precomputed target features (one dict of (1, C, h, w) per style),
    each layer divided by its targets' mean square, on random directions from `generator`.

    Called with `which` (one style index per image), each image is compared with its own style; with `which=None`,
    each image with every style, weighted by `blend` (summing to 1). `redraw_every_call` draws fresh directions for
    every evaluation (stochastic training); otherwise they change only at `redraw()`, so an optimizer's line
    search (L-BFGS) sees one fixed function per step.
    """

    def __init__(self, targets: Sequence[dict[str, torch.Tensor]], layers: Sequence[str],
                 generator: torch.Generator, blend: Sequence[float] | None = None,
                 redraw_every_call: bool = True) -> None:
        self.targets, self.layers, self.generator = list(targets), list(layers), generator
        self.weights = list(blend) if blend is not None else [1.0 / len(self.targets)] * len(self.targets)
        self.redraw_every_call = redraw_every_call
        with torch.no_grad():
            self.scale = {name: float(torch.cat([t[name].flatten() for t in self.targets]).pow(2).mean())
                          for name in self.layers}
        self.directions: dict[str, torch.Tensor] = {}

    def redraw(self) -> None:
        """Fresh random directions for every layer (C of them for C channels)."""
        self.directions = {name: random_directions(self.targets[0][name].shape[1], self.targets[0][name].shape[1],
                                                   self.generator, self.targets[0][name].device)
                           for name in self.layers}

    def __call__(self, feats: dict[str, torch.Tensor], which: torch.Tensor | None = None) -> torch.Tensor:
        if self.redraw_every_call or not self.directions:
            self.redraw()
        total = torch.zeros((), device=feats[self.layers[0]].device)
        for name in self.layers:
            dirs = self.directions[name].to(feats[name].device)
            if which is None:
                per_image = [torch.stack([w * sliced_wasserstein_loss(feats[name][k:k + 1], t[name], dirs)
                                          for w, t in zip(self.weights, self.targets)]).sum()
                             for k in range(feats[name].shape[0])]
            else:
                per_image = [sliced_wasserstein_loss(feats[name][k:k + 1], self.targets[int(i)][name], dirs)
                             for k, i in enumerate(which)]
            total = total + torch.stack(per_image).mean() / max(self.scale[name], 1e-12)
        return total / len(self.layers)


def sliced_loss_to(targets: Sequence[dict[str, torch.Tensor]], layers: Sequence[str],
                   generator: torch.Generator) -> StyleLoss:
    """The stylizer trainers' sliced Wasserstein style loss: fresh directions every call (see SlicedLoss)."""
    return SlicedLoss(targets, layers, generator)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference of vertical plus horizontal neighbours."""
    dh = image[:, :, 1:, :] - image[:, :, :-1, :]
    dw = image[:, :, :, 1:] - image[:, :, :, :-1]
    return torch.mean(dh ** 2) + torch.mean(dw ** 2)


def softmax_smooth(features: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Wang et al. 2021 (SWAG): a softmax over each map's C·H·W activations raises their entropy.

    Non-VGG networks (residual connections, like EfficientNet's blocks) give peaky, low-entropy activations that
    stylize weakly; smoothing them before the Gram/content comparison counters that. Rescaled by C·H·W so values
    stay O(1).
    """
    n, c, h, w = features.shape
    flat = torch.softmax(features.reshape(n, -1) / temperature, dim=1) * (c * h * w)
    return flat.reshape(n, c, h, w)


class _Stop(Exception):
    """Raised by the hook of the deepest needed layer so the rest of the network is not run."""


class FeatureExtractor(nn.Module):
    """Outputs of named backbone layers for pixels in [0, 1]; hooks live only during one forward pass."""

    def __init__(self, backbone: Backbone, layers: Iterable[str], smoothing: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.names = list(dict.fromkeys(layers))
        self.modules_ = [backbone.layer(name, field_name="layers") for name in self.names]
        self.smoothing = smoothing

    def forward(self, pixels01: torch.Tensor) -> dict[str, torch.Tensor]:
        found: dict[str, torch.Tensor] = {}
        remaining = set(self.names)
        handles = []

        def hook_for(name: str):
            def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
                if name in remaining:
                    found[name] = output
                    remaining.discard(name)
                if not remaining:
                    raise _Stop

            return hook

        try:
            for name, module in zip(self.names, self.modules_):
                handles.append(module.register_forward_hook(hook_for(name)))
            try:
                self.backbone.model(self.backbone.normalize(pixels01))
            except _Stop:
                pass
        finally:
            for handle in handles:
                handle.remove()
        if self.smoothing:
            found = {k: softmax_smooth(v) for k, v in found.items()}
        return {name: found[name] for name in self.names}


def layer_weights(names: Sequence[str], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Per-layer style weights, equal (1/L) unless given."""
    if weights is None:
        return {n: 1.0 / len(names) for n in names}
    return dict(zip(names, weights))
