"""Deletion and insertion (Petsiuk et al. 2018, RISE): how fast the target's softmax probability falls as a map's
most important pixels are removed, and how fast it rises as they are revealed, with the area under each curve.

Protocol: pixels are ranked by the map's magnitude (a signed map's strongly negative pixels matter as much as its
positive ones; ties are broken by a seeded shuffle), then removed or revealed in `steps` equal steps from 0 to
100%. Removing a pixel replaces it by a blurred copy of the image (Gaussian, sigma = 5% of the shorter side);
insertion starts from that blurred copy and reveals the original pixels. The same curves for a seeded random
ranking are the baseline: a faithful map has a LOWER deletion AUC and a HIGHER insertion AUC than random. Every
image of every curve goes through the network in batches (a few forward passes of 4 x (steps + 1) images).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from convlens.core.backbones import Backbone
from convlens.core.progress import Deadline

from .base import MEMORY_FORMAT, auto_batch_size, pixels01
from .paths import blurred
from .results import Faithfulness, Heatmap, OcclusionMap

METRICS = ("deletion", "insertion")
RANDOM_SEED = 0  # the random baseline map and the tie-breaking shuffle
BLUR_FRACTION = 0.05  # sigma of the removal blur, as a fraction of the image's shorter side


def pixel_ranks(importance: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(H*W,) rank of each pixel, 0 = most important; equal values in a seeded random order (on the CPU, where
    the generator is; `curve_probabilities` moves the ranks to the device)."""
    flat = importance.flatten().float().cpu()
    shuffle = torch.randperm(flat.numel(), generator=generator)
    order = shuffle[torch.argsort(flat[shuffle], descending=True, stable=True)]
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(order.numel(), device="cpu")
    return ranks


def step_counts(pixels: int, steps: int) -> torch.Tensor:
    """How many pixels are removed (or revealed) at each of the steps + 1 points 0, 1/steps, ..., 1."""
    return torch.round(torch.linspace(0, pixels, steps + 1, device="cpu")).long()


def curve_probabilities(backbone: Backbone, x: torch.Tensor, target: int, ranks: Sequence[torch.Tensor],
                        steps: int, batch_size: int | None = None, deadline: Deadline | None = None
                        ) -> np.ndarray:
    """(len(ranks), 2, steps + 1) target probabilities: deletion then insertion, for each ranking of x's pixels.

    `x` is one (1, 3, H, W) image in [0, 1]; the images of all curves are built and classified batch by batch.
    """
    _, _, h, w = x.shape
    substrate = blurred(x, sigma=max(1.0, BLUR_FRACTION * min(h, w)))
    counts = step_counts(h * w, steps).to(x.device)
    jobs = [(r, kind, k) for r in range(len(ranks)) for kind in range(len(METRICS)) for k in range(steps + 1)]
    stacked = torch.stack([r.to(x.device).view(h, w) for r in ranks])
    batch = batch_size or auto_batch_size(h, w, x.device, bytes_per_pixel=512)
    out = []
    with torch.inference_mode():
        for i in range(0, len(jobs), batch):
            if deadline is not None:
                deadline.check()
            chunk = torch.tensor(jobs[i:i + batch], device=x.device)
            chosen = stacked[chunk[:, 0]] < counts[chunk[:, 2]].view(-1, 1, 1)  # the first count pixels
            deleting = (chunk[:, 1] == 0).view(-1, 1, 1)
            original = (chosen ^ deleting)[:, None]  # deletion keeps the unchosen, insertion shows the chosen
            images = torch.where(original, x, substrate).contiguous(memory_format=MEMORY_FORMAT)
            logits = backbone.model(backbone.normalize(images))
            out.append(torch.softmax(logits.float(), dim=1)[:, target])
    return torch.cat(out).view(len(ranks), len(METRICS), steps + 1).cpu().numpy()


def deletion_insertion(backbone: Backbone, image: np.ndarray, importance: np.ndarray, target: int,
                       metrics: Sequence[str] = METRICS, steps: int = 20, batch_size: int | None = None,
                       deadline: Deadline | None = None) -> tuple[Faithfulness, ...]:
    """The RISE curves of one map (HxW `importance`, larger = more important) on its HxWx3 uint8 image."""
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {', '.join(METRICS)}")
    x = pixels01(image[None], backbone.device)
    generator = torch.Generator().manual_seed(RANDOM_SEED)
    mapped = pixel_ranks(torch.as_tensor(np.ascontiguousarray(importance), device="cpu"), generator)
    random = pixel_ranks(torch.rand(importance.shape, generator=generator), generator)
    probs = curve_probabilities(backbone, x, target, [mapped, random], steps, batch_size, deadline)
    fractions = step_counts(importance.size, steps).cpu().numpy() / importance.size
    return tuple(Faithfulness(metric=m, fractions=fractions.astype(np.float32),
                              probabilities=probs[0, METRICS.index(m)], random_probabilities=probs[1, METRICS.index(m)])
                 for m in metrics)


R = TypeVar("R", Heatmap, OcclusionMap)


def evaluate(backbone: Backbone, result: R, metrics: Sequence[str] = METRICS, steps: int = 20,
             batch_size: int | None = None, deadline: Deadline | None = None) -> R:
    """The result with its map's deletion/insertion curves for its target class (see the module's protocol)."""
    curves = deletion_insertion(backbone, result.image, result.importance, result.target.index, metrics, steps,
                                batch_size, deadline)
    return dataclasses.replace(result, evaluation=curves)
