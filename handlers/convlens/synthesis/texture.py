"""Texture synthesis (Gatys, Ecker & Bethge 2015): an image of any size whose feature statistics at the chosen
layers match those of a sample, optimized from seeded noise.

Default loss: sliced Wasserstein (Heitz et al. 2021) over whole feature distributions, with the `pixels`
pseudo-layer so the palette is matched too; Gram matrices (`loss="gram"`, the 2015 paper's) only match second
moments, which a few saturated outlier pixels satisfy: on small networks they paint green/magenta blobs.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch

from convlens.core.backbones import Backbone
from convlens.core.progress import Deadline, ProgressCallback
from convlens.style import color, losses
from convlens.style.metrics import near_pure_share, palette_distance

from .common import Steps, features, generator, gram, noise, resize, to_float_hwc, to_tensor, to_uint8
from .results import SynthesisResult

LOSSES = ("sliced", "gram")
DEFAULT_LAYERS = (losses.PIXELS, "stem", "block2", "block4", "block6")  # EfficientNet-Lite0; `pixels`: the palette
COARSE_SHARE = 0.3  # share of the steps spent at half size first (large structures; no pixel noise left over)


def gram_loss(grams: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the summed squared difference of Gram matrices."""
    return cast(torch.Tensor, sum(((grams[name] - targets[name]) ** 2).sum() for name in targets))


def _features(backbone: Backbone, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """The named layers' outputs, and the image itself under the `pixels` pseudo-layer."""
    net = losses.network_layers(layers)
    return losses.with_pixels(features(backbone, x, net)[0] if net else {}, x)


def texture(backbone: Backbone, pixels: np.ndarray, layers: Sequence[str], *, size: tuple[int, int] = (128, 128),
            steps: int = 200, lr: float = 0.02, seed: int = 0, loss: str = "sliced", match_palette: bool = True,
            progress: ProgressCallback | None = None, deadline: Deadline | None = None) -> SynthesisResult:
    """Synthesize a `size` (h, w) texture from an HxWx3 uint8 sample with Adam on the pixels (lr cosine-decayed),
    half the size for the first COARSE_SHARE of the steps; `match_palette` gives the result the sample's exact
    colour distribution at the end (distribution transfer, as Portilla & Simoncelli match pixel histograms)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    for name in losses.network_layers(layers):
        backbone.layer(name, "layers")
    device = backbone.device
    gen = generator(seed)
    with torch.no_grad():
        target_feats = _features(backbone, to_tensor(pixels, device), layers)
        grams = {name: gram(target_feats[name]) for name in layers}
    sliced = losses.SlicedLoss([target_feats], list(layers), gen)

    def objective(x: torch.Tensor) -> torch.Tensor:
        current = _features(backbone, x, layers)
        if loss == "sliced":
            return sliced(current)
        return gram_loss({n: gram(current[n]) for n in layers}, grams)

    mean = to_tensor(pixels, device).mean(dim=(2, 3), keepdim=True)  # the sample's mean colour, grey noise on it
    coarse = (max(16, size[0] // 2), max(16, size[1] // 2))
    x = (mean + noise((1, 1, *coarse), gen, device, 0.15)).clamp(0, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1))))
    tracker = Steps(steps, progress, deadline)
    with torch.no_grad():
        initial = float(objective(x))
    for step in range(steps):
        tracker.check()
        if step == int(steps * COARSE_SHARE):  # coarse-to-fine: the half-size draft, upsampled, goes on at full size
            x = resize(x.detach(), size).requires_grad_(True)
            optimizer.param_groups[0]["params"] = [x]
            optimizer.state.clear()
        with torch.enable_grad():
            value = objective(x)
            optimizer.zero_grad()
            value.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        tracker.step(float(value.detach()), picture=lambda: x)  # noqa: B023 - step() calls it at once
    with torch.no_grad():
        if match_palette:
            x = color.match_palette(x, to_tensor(pixels, device), gen)
        final = float(objective(x))
    image = to_uint8(x)
    metrics = {"style_loss": final, "initial_style_loss": initial,
               "reduction": initial / final if final > 0 else math.inf,
               "near_pure_share": near_pure_share(image), "sample_near_pure_share": near_pure_share(pixels),
               "palette_distance": palette_distance(image, pixels)}
    return SynthesisResult(technique="texture", backbone=backbone.name, images=[("texture", image)],
                           metrics=metrics, steps=steps, layer=",".join(layers), seed=seed, raw=to_float_hwc(x)[0])
