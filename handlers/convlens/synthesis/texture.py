"""Texture synthesis (Gatys, Ecker & Bethge 2015): an image of any size whose Gram matrices at the chosen
layers match those of a source texture, optimized from seeded noise."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch

from convlens.core.backbones import Backbone
from convlens.core.progress import Deadline, ProgressCallback

from .common import Steps, features, generator, gram, noise, to_float_hwc, to_tensor, to_uint8
from .results import SynthesisResult


def gram_loss(grams: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the summed squared difference of Gram matrices."""
    return cast(torch.Tensor, sum(((grams[name] - targets[name]) ** 2).sum() for name in targets))


def texture(backbone: Backbone, pixels: np.ndarray, layers: Sequence[str], *, size: tuple[int, int] = (128, 128),
            steps: int = 200, lr: float = 0.02, seed: int = 0, progress: ProgressCallback | None = None,
            deadline: Deadline | None = None) -> SynthesisResult:
    """Synthesize a `size` (h, w) texture from an HxWx3 uint8 source with Adam on the pixels (lr cosine-decayed)."""
    for name in layers:
        backbone.layer(name, "layers")
    device = backbone.device
    with torch.no_grad():
        feats = features(backbone, to_tensor(pixels, device), layers)[0]
        targets = {name: gram(feats[name]) for name in layers}
    x = (0.5 + noise((1, 3, *size), generator(seed), device, 0.15)).clamp(0, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    tracker = Steps(steps, progress, deadline)
    initial = None
    for _ in range(steps):
        tracker.check()
        with torch.enable_grad():
            current = features(backbone, x, layers)[0]
            loss = gram_loss({n: gram(current[n]) for n in layers}, targets)
            optimizer.zero_grad()
            loss.backward()
        if initial is None:
            initial = float(loss.detach())
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        tracker.step(float(loss.detach()), picture=lambda: x)
    with torch.no_grad():
        current = features(backbone, x, layers)[0]
        final = float(gram_loss({n: gram(current[n]) for n in layers}, targets))
    if initial is None:
        initial = final
    metrics = {"gram_loss": final, "initial_gram_loss": initial,
               "reduction": initial / final if final > 0 else math.inf}
    return SynthesisResult(technique="texture", backbone=backbone.name, images=[("texture", to_uint8(x))],
                           metrics=metrics, steps=steps, layer=",".join(layers), seed=seed,
                           raw=to_float_hwc(x)[0])
