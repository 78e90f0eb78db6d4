"""DeepDream (Mordvintsev et al. 2015, the original notebook's recipe): gradient ascent on the L2 norm of a
layer's activations with random jitter (roll), steps normalized by the mean absolute gradient, clipping to
valid pixels, and octaves processed small to large with the produced detail carried up. With a `guide`,
each position's features are pushed towards the best-matching feature of the guide image instead."""
from __future__ import annotations

import numpy as np
import torch

from convlens.core.backbones import Backbone
from convlens.core.progress import Deadline, ProgressCallback

from . import regularizers as reg
from .common import Steps, features, generator, resize, to_float_hwc, to_tensor, to_uint8
from .results import SynthesisResult

MIN_OCTAVE_SIDE = 16


def octave_sizes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """Sizes from smallest to the full size; octaves whose shorter side would drop below 16 px are left out."""
    sizes = []
    for i in range(octaves):
        h, w = round(height / scale ** i), round(width / scale ** i)
        if i and min(h, w) < MIN_OCTAVE_SIDE:
            break
        sizes.append((h, w))
    return sizes[::-1]


def dream_objective(act: torch.Tensor, guide: torch.Tensor | None) -> torch.Tensor:
    """0.5 ||act||^2, or with a guide (C, M): sum over positions of <act_i, guide_j*> with j* = argmax."""
    if guide is None:
        return 0.5 * act.pow(2).sum()
    flat = act[0].flatten(1)  # (C, N)
    best = (flat.detach().T @ guide).argmax(dim=1)  # (N,)
    return (flat * guide[:, best]).sum()


def deepdream(backbone: Backbone, pixels: np.ndarray, layer: str, *, octaves: int = 3, octave_scale: float = 1.4,
              steps: int = 10, step_size: float = 0.01, jitter: int = 16, guide: np.ndarray | None = None,
              seed: int = 0, progress: ProgressCallback | None = None,
              deadline: Deadline | None = None) -> SynthesisResult:
    """Dream on an HxWx3 uint8 photo; the output has the photo's size. `step_size` is the mean absolute pixel
    change per step in [0, 1] units."""
    backbone.layer(layer)
    device = backbone.device
    source = to_tensor(pixels, device)
    height, width = source.shape[-2:]
    sizes = octave_sizes(height, width, octaves, octave_scale)
    guide_features = None
    if guide is not None:
        with torch.no_grad():
            guide_features = features(backbone, to_tensor(guide, device), [layer])[0][layer][0].flatten(1)
    gen = generator(seed)
    tracker = Steps(steps * len(sizes), progress, deadline)
    with torch.no_grad():
        start_norm = float(features(backbone, source, [layer])[0][layer].norm())
    detail = torch.zeros_like(resize(source, sizes[0]))
    x = source
    for index, size in enumerate(sizes):
        base = resize(source, size)
        x = (base + resize(detail, size)).clamp(0, 1)
        stage = f"octave {index + 1}/{len(sizes)}"
        for _ in range(steps):
            tracker.check()
            shift = reg.random_shifts([gen], min(jitter, min(size) // 2))
            with torch.enable_grad():
                xj = reg.roll(x, shift).requires_grad_(True)
                act = features(backbone, xj, [layer])[0][layer]
                value = dream_objective(act, guide_features)
                (grad,) = torch.autograd.grad(value, xj)
            with torch.no_grad():
                step = step_size * grad / (grad.abs().mean() + 1e-12)
                x = reg.roll(xj.detach() + step, [(-shift[0][0], -shift[0][1])]).clamp(0, 1)
            tracker.step(float(value.detach()), stage=stage, picture=lambda: x)  # noqa: B023 - step() calls it at once
        detail = x - base
    with torch.no_grad():
        end_norm = float(features(backbone, x, [layer])[0][layer].norm())
    metrics = {"activation_norm_before": start_norm, "activation_norm_after": end_norm,
               "octaves_used": float(len(sizes))}
    return SynthesisResult(technique="deepdream", backbone=backbone.name, images=[("dream", to_uint8(x))],
                           metrics=metrics, steps=steps * len(sizes), layer=layer, seed=seed,
                           raw=to_float_hwc(x)[0])
