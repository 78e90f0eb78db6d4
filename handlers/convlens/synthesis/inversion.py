"""Feature inversion (Mahendran & Vedaldi 2015): the image whose features at a layer match a photo's,
under total-variation and alpha-norm priors. Early layers reconstruct nearly exactly; deep ones keep the
layout and lose the detail."""
from __future__ import annotations

import math

import numpy as np
import torch

from convlens.core.backbones import Backbone
from convlens.core.progress import Deadline, ProgressCallback

from . import regularizers as reg
from .common import Steps, features, generator, noise, to_float_hwc, to_tensor, to_uint8
from .metrics import psnr, ssim
from .results import SynthesisResult


def inversion(backbone: Backbone, pixels: np.ndarray, layer: str, *, steps: int = 200, lr: float = 0.05,
              tv_weight: float = 0.05, alpha: float = 6.0, alpha_weight: float = 1e-4, beta: float = 2.0,
              seed: int = 0, progress: ProgressCallback | None = None,
              deadline: Deadline | None = None) -> SynthesisResult:
    """Reconstruct an HxWx3 uint8 photo from its features at `layer`.

    Minimizes ||phi(x) - phi0||^2 / ||phi0||^2 + alpha_weight * mean|x - m|^alpha + tv_weight * TV_beta(x)
    with Adam (learning rate `lr`, cosine-decayed to 5%) from seeded grey noise; pixels stay in [0, 1].
    """
    backbone.layer(layer)
    device = backbone.device
    source = to_tensor(pixels, device)
    with torch.no_grad():
        target = features(backbone, source, [layer])[0][layer]
    norm = target.pow(2).sum().clamp(min=1e-12)
    mean = torch.tensor(backbone.preprocessing.mean, device=device).view(1, 3, 1, 1)
    x = (0.5 + noise(source.shape, generator(seed), device, 0.05)).clamp(0, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    tracker = Steps(steps, progress, deadline)
    loss_value = feature_loss = float("nan")
    for _ in range(steps):
        tracker.check()
        with torch.enable_grad():
            feat = features(backbone, x, [layer])[0][layer]
            fit = (feat - target).pow(2).sum() / norm
            loss = fit + alpha_weight * reg.alpha_norm(x - mean, alpha).sum() \
                + tv_weight * reg.total_variation(x, beta).sum()
            optimizer.zero_grad()
            loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        loss_value, feature_loss = float(loss.detach()), float(fit.detach())
        tracker.step(loss_value, picture=lambda: x)
    with torch.no_grad():
        feature_loss = float((features(backbone, x, [layer])[0][layer] - target).pow(2).sum() / norm)
    picture = to_uint8(x)
    metrics = {"psnr": psnr(picture, pixels), "ssim": ssim(picture, pixels), "feature_loss": feature_loss,
               "loss": loss_value}
    return SynthesisResult(technique="inversion", backbone=backbone.name,
                           images=[("reconstruction", picture)], metrics=metrics, steps=steps, layer=layer,
                           seed=seed, raw=to_float_hwc(x)[0])
