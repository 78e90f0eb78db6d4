"""Deletion and insertion (Petsiuk et al. 2018, RISE): how fast the target's softmax probability falls as a map's
most important pixels are removed, and how fast it rises as they are revealed, with the area under each curve.

Protocol: the image is cut into `patch` x `patch` cells (1: single pixels), each cell scored by the mean of the
map's magnitude over it (a signed map's strongly negative pixels matter as much as its positive ones; ties are
broken by a seeded shuffle); cells are then removed or revealed in `steps` equal steps from 0 to 100% of the
cells. A removed pixel shows `removal`: a blurred copy of the image (Gaussian, sigma = 5% of the shorter side),
black (`zero`, RISE's deletion) or the dataset's mean pixel (`mean`); insertion always starts from the blurred
copy (RISE's insertion canvas) and reveals the original pixels. The same curves for a seeded random map AT THE
SAME CELL SIZE are the baseline: a faithful map has a LOWER deletion AUC and a HIGHER insertion AUC than random.
Why cells: a per-pixel random order removes scattered pixels, which destroys an image faster than removing any
compact region of the same area (a matter of granularity, not faithfulness); scoring every map and the random
one on a common grid of regions is the region-perturbation protocol of Samek et al. 2017.
Every image of every curve goes through the network in batches (a few forward passes of 4 x (steps + 1) images).
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
from .occlusion import FILLS, fill_pixels
from .paths import blurred
from .results import Faithfulness, Heatmap, OcclusionMap

METRICS = ("deletion", "insertion")
REMOVALS = FILLS  # what a deleted pixel shows: the same choices as occlusion's patch
DEFAULT_REMOVAL = "blur"
DEFAULT_STEPS = 20  # steps of a curve from 0 to 100 % of the cells
DEFAULT_PATCH = 16  # cell side in px (see the module's protocol and docs/api/attribution.md#which-map-to-trust)
RANDOM_SEED = 0  # the random baseline map and the tie-breaking shuffle
BLUR_FRACTION = 0.05  # sigma of the removal blur, as a fraction of the image's shorter side


def cell_index(height: int, width: int, patch: int) -> torch.Tensor:
    """(H, W) index of the `patch` x `patch` cell each pixel falls in, row-major (edge cells may be smaller)."""
    cols = -(-width // patch)
    rows = torch.arange(height, device="cpu") // patch
    return rows.view(-1, 1) * cols + (torch.arange(width, device="cpu") // patch).view(1, -1)


def cell_means(importance: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """The mean of an (H, W) map over each cell of `cells` (from `cell_index`)."""
    flat = cells.flatten()
    sums = torch.zeros(int(flat.max()) + 1, dtype=torch.float64, device=flat.device)
    sums.index_add_(0, flat, importance.flatten().double())
    return sums / torch.bincount(flat).double()


def pixel_ranks(importance: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(N,) rank of each pixel (or cell), 0 = most important; equal values in a seeded random order (on the CPU,
    where the generator is; `curve_probabilities` moves the ranks to the device)."""
    flat = importance.flatten().float().cpu()
    shuffle = torch.randperm(flat.numel(), generator=generator)
    order = shuffle[torch.argsort(flat[shuffle], descending=True, stable=True)]
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(order.numel(), device="cpu")
    return ranks


def step_counts(cells: int, steps: int) -> torch.Tensor:
    """How many cells are removed (or revealed) at each of the steps + 1 points 0, 1/steps, ..., 1."""
    return torch.round(torch.linspace(0, cells, steps + 1, device="cpu")).long()


def random_ranks(count: int, seed: int = RANDOM_SEED) -> torch.Tensor:
    """(count,) ranks of `count` cells by a seeded random map (the baseline; the benchmark averages several seeds)."""
    generator = torch.Generator().manual_seed(seed)
    return pixel_ranks(torch.rand(count, generator=generator), generator)


def cell_rankings(importance: np.ndarray, patch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The protocol's cells of an (H, W) map (`cell_index`) and two rankings of them: by the map's cell means
    (ties in a seeded shuffle), and the seeded random map's (the same for every map of a size and cell size)."""
    height, width = importance.shape
    cells = cell_index(height, width, patch)
    scores = cell_means(torch.as_tensor(np.ascontiguousarray(importance), device="cpu"), cells)
    mapped = pixel_ranks(scores, torch.Generator().manual_seed(RANDOM_SEED))
    return cells, mapped, random_ranks(len(scores))


def canvases(backbone: Backbone, x: torch.Tensor, removal: str) -> tuple[torch.Tensor, torch.Tensor]:
    """What deletion shows in place of a removed pixel, and insertion's starting canvas (the blurred copy, RISE's)."""
    _, _, h, w = x.shape
    sigma = max(1.0, BLUR_FRACTION * min(h, w))
    canvas = blurred(x, sigma=sigma)
    removed = canvas if removal == "blur" else fill_pixels(backbone, x, removal, sigma)
    return removed, canvas


def perturbed(x: torch.Tensor, removed: torch.Tensor, canvas: torch.Tensor, ranks: torch.Tensor,
              counts: torch.Tensor, deleting: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) curve images from each pixel's cell rank `ranks` (B, H, W): deletion (`deleting`) hides the
    first `counts` cells (showing `removed`), insertion shows only them on `canvas`."""
    chosen = ranks < counts.view(-1, 1, 1)
    deleting = deleting.view(-1, 1, 1)
    original = (chosen ^ deleting)[:, None]  # deletion keeps the unchosen, insertion shows the chosen
    hidden = torch.where(deleting[:, None], removed, canvas)
    return torch.where(original, x, hidden)


def curve_probabilities(backbone: Backbone, x: torch.Tensor, target: int, ranks: Sequence[torch.Tensor],
                        steps: int, batch_size: int | None = None, deadline: Deadline | None = None,
                        removal: str = DEFAULT_REMOVAL, cells: torch.Tensor | None = None) -> np.ndarray:
    """(len(ranks), 2, steps + 1) target probabilities: deletion then insertion, for each ranking of x's cells.

    `x` is one (1, 3, H, W) image in [0, 1]; `cells` maps each pixel to its cell (default: one cell per pixel),
    `ranks` rank the cells; the images of all curves are built and classified batch by batch.
    """
    _, _, h, w = x.shape
    cells = cell_index(h, w, 1) if cells is None else cells
    removed, canvas = canvases(backbone, x, removal)  # insertion starts on canvas, whatever deletion leaves
    counts = step_counts(int(cells.max()) + 1, steps).to(x.device)
    jobs = [(r, kind, k) for r in range(len(ranks)) for kind in range(len(METRICS)) for k in range(steps + 1)]
    where = cells.to(x.device)
    stacked = torch.stack([r.to(x.device)[where] for r in ranks])  # each pixel's cell rank
    batch = batch_size or auto_batch_size(h, w, x.device, bytes_per_pixel=512)
    out = []
    with torch.inference_mode():
        for i in range(0, len(jobs), batch):
            if deadline is not None:
                deadline.check()
            chunk = torch.tensor(jobs[i:i + batch], device=x.device)
            images = perturbed(x, removed, canvas, stacked[chunk[:, 0]], counts[chunk[:, 2]], chunk[:, 1] == 0)
            logits = backbone.model(backbone.normalize(images.contiguous(memory_format=MEMORY_FORMAT)))
            out.append(torch.softmax(logits.float(), dim=1)[:, target])
    return torch.cat(out).view(len(ranks), len(METRICS), steps + 1).cpu().numpy()


def deleted_images(backbone: Backbone, image: np.ndarray, importance: np.ndarray, fractions: Sequence[float],
                   removal: str = DEFAULT_REMOVAL, patch: int = DEFAULT_PATCH) -> tuple[np.ndarray, np.ndarray]:
    """The pictures behind the deletion curve: (len(fractions), H, W, 3) uint8 images of the HxWx3 uint8 `image`
    with that fraction of its cells removed in the map's order, and the same in the random map's order."""
    x = pixels01(image[None], backbone.device)
    cells, mapped, random = cell_rankings(importance, patch)
    removed, canvas = canvases(backbone, x, removal)
    count = int(cells.max()) + 1
    counts = torch.round(torch.tensor(list(fractions), dtype=torch.float64, device=x.device) * count).long()
    deleting = torch.ones(len(counts), dtype=torch.bool, device=x.device)
    where = cells.to(x.device)
    out = []
    for ranks in (mapped, random):
        per_pixel = ranks.to(x.device)[where].expand(len(counts), -1, -1)
        images = perturbed(x, removed, canvas, per_pixel, counts, deleting)
        out.append((images.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy())
    return out[0], out[1]


def ranked_curves(backbone: Backbone, image: np.ndarray, target: int, ranks: Sequence[torch.Tensor],
                  cells: torch.Tensor, steps: int = DEFAULT_STEPS, removal: str = DEFAULT_REMOVAL,
                  batch_size: int | None = None, deadline: Deadline | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`curve_probabilities` of rankings of `cells` (from `cell_index`) on an HxWx3 uint8 image, with the
    (steps + 1,) fractions of the cells they are taken at (the AUC's x axis)."""
    x = pixels01(image[None], backbone.device)
    count = int(cells.max()) + 1
    probs = curve_probabilities(backbone, x, target, ranks, steps, batch_size, deadline, removal, cells)
    return probs, step_counts(count, steps).cpu().numpy() / count


def deletion_insertion(backbone: Backbone, image: np.ndarray, importance: np.ndarray, target: int,
                       metrics: Sequence[str] = METRICS, steps: int = DEFAULT_STEPS, batch_size: int | None = None,
                       deadline: Deadline | None = None, removal: str = DEFAULT_REMOVAL,
                       patch: int = DEFAULT_PATCH) -> tuple[Faithfulness, ...]:
    """The RISE curves of one map (HxW `importance`, larger = more important) on its HxWx3 uint8 image, removing
    `patch` x `patch` cells (1: pixels) by `removal`, against a random map of the same cells."""
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {', '.join(METRICS)}")
    if removal not in REMOVALS:
        raise ValueError(f"unknown removal '{removal}'; choose one of {', '.join(REMOVALS)}")
    if patch < 1:
        raise ValueError(f"patch must be at least 1 px, got {patch}")
    cells, mapped, random = cell_rankings(importance, patch)
    probs, fractions = ranked_curves(backbone, image, target, [mapped, random], cells, steps, removal, batch_size,
                                     deadline)
    return tuple(Faithfulness(metric=m, fractions=fractions.astype(np.float32),
                              probabilities=probs[0, METRICS.index(m)], random_probabilities=probs[1, METRICS.index(m)],
                              removal=removal, patch=patch)
                 for m in metrics)


R = TypeVar("R", Heatmap, OcclusionMap)


def evaluate(backbone: Backbone, result: R, metrics: Sequence[str] = METRICS, steps: int = DEFAULT_STEPS,
             batch_size: int | None = None, deadline: Deadline | None = None, removal: str = DEFAULT_REMOVAL,
             patch: int = DEFAULT_PATCH) -> R:
    """The result with its map's deletion/insertion curves for its target class (see the module's protocol)."""
    curves = deletion_insertion(backbone, result.image, result.importance, result.target.index, metrics, steps,
                                batch_size, deadline, removal, patch)
    return dataclasses.replace(result, evaluation=curves)
