"""Occlusion sensitivity (Zeiler & Fergus 2014): slide a patch over the image and record the target class's
probability at each position. Occluded copies are built on the device with one masked `where` per batch and
classified in batches sized to memory (`batch_size`, auto by default), never one forward pass at a time.

Hand-written rather than Captum's `Occlusion`, which returns the output DIFFERENCE (unoccluded - occluded)
averaged per pixel over the windows covering it, not the probability grid the paper maps; its baseline may be
any tensor (a mean pixel or a blurred copy as well), so the fills here are a choice of convenience, not a gap.
"""
from __future__ import annotations

import numpy as np
import torch

from convlens.core.backbones import Backbone
from convlens.core.classify import predictions_from_logits
from convlens.core.progress import Deadline

from .base import MEMORY_FORMAT, TOP1, auto_batch_size, pixels01, resolve_targets
from .paths import blurred
from .results import OcclusionMap

FILLS = ("mean", "zero", "blur")
PATCH = 32  # default side of the occluding square in px
STRIDE = 16  # default step between patch positions in px


def grid_starts(length: int, patch: int, stride: int) -> list[int]:
    """Patch origins along one side: 0, stride, ... until a patch reaches the border (the last may be cut off)."""
    count = -(-max(0, length - patch) // stride) + 1
    return [i * stride for i in range(count)]


def fill_pixels(backbone: Backbone, x: torch.Tensor, fill: str, sigma: float) -> torch.Tensor:
    """What a hidden pixel shows: the dataset mean pixel, black, or a blurred copy of the image (Gaussian
    `sigma` in px); occlusion's patches and the deletion curve's removed pixels alike."""
    if fill == "mean":
        mean = torch.tensor(backbone.preprocessing.mean, dtype=x.dtype, device=x.device)
        return mean.view(1, 3, 1, 1).expand_as(x)
    if fill == "zero":
        return torch.zeros_like(x)
    if fill == "blur":
        return blurred(x, sigma=sigma)
    raise ValueError(f"unknown fill '{fill}'; choose one of {', '.join(FILLS)}")


def occlusion_probabilities(backbone: Backbone, x: torch.Tensor, target: int, patch: int, stride: int,
                            fill: str = "mean", batch_size: int | None = None,
                            deadline: Deadline | None = None) -> np.ndarray:
    """(rows, cols) probability of class `target` with the patch at each grid position, for x of shape (1,3,H,W)."""
    _, _, h, w = x.shape
    ys, xs = grid_starts(h, patch, stride), grid_starts(w, patch, stride)
    origins = torch.tensor([(y, xx) for y in ys for xx in xs], device=x.device)
    filler = fill_pixels(backbone, x, fill, sigma=max(1.0, patch / 2))
    batch = batch_size or auto_batch_size(h, w, x.device, bytes_per_pixel=512)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    out = []
    with torch.inference_mode():
        for i in range(0, len(origins), batch):
            if deadline is not None:
                deadline.check()
            o = origins[i:i + batch]
            y0, x0 = o[:, 0].view(-1, 1, 1), o[:, 1].view(-1, 1, 1)
            covered = ((rows >= y0) & (rows < y0 + patch) & (cols >= x0) & (cols < x0 + patch))[:, None]
            occluded = torch.where(covered, filler, x).contiguous(memory_format=MEMORY_FORMAT)
            logits = backbone.model(backbone.normalize(occluded))
            out.append(torch.softmax(logits.float(), dim=1)[:, target])
    return torch.cat(out).view(len(ys), len(xs)).cpu().numpy().astype(np.float32)


def upsample_grid(grid: np.ndarray, height: int, width: int, patch: int, stride: int) -> np.ndarray:
    """Image-resolution map: each pixel gets the mean grid value of the patches that cover it."""
    total = np.zeros((height, width), np.float64)
    count = np.zeros((height, width), np.float64)
    for i, y in enumerate(grid_starts(height, patch, stride)):
        for j, x in enumerate(grid_starts(width, patch, stride)):
            total[y:y + patch, x:x + patch] += grid[i, j]
            count[y:y + patch, x:x + patch] += 1
    # pixels no patch covers (stride > patch) keep the nearest covered value along the grid
    if (count == 0).any():
        filled = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        for axis in (0, 1):
            filled = _forward_fill(filled, axis)
        return filled.astype(np.float32)
    return (total / count).astype(np.float32)


def _forward_fill(values: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(values, axis, 0).copy()
    for k in range(1, len(moved)):
        gap = np.isnan(moved[k])
        moved[k][gap] = moved[k - 1][gap]
    return np.moveaxis(moved, 0, axis)


def occlusion(backbone: Backbone, pixels: np.ndarray, target: int = TOP1, patch: int = PATCH, stride: int = STRIDE,
              fill: str = "mean", batch_size: int | None = None, deadline: Deadline | None = None
              ) -> OcclusionMap:
    """Occlusion map of one HxWx3 uint8 image for class `target` (TOP1 = the network's top-1)."""
    x = pixels01(pixels[None], backbone.device)
    with torch.inference_mode():
        logits = backbone.model(backbone.normalize(x))
    resolved = int(resolve_targets(torch.tensor([target], device=logits.device), logits)[0])
    grid = occlusion_probabilities(backbone, x, resolved, patch, stride, fill, batch_size, deadline)
    h, w = pixels.shape[:2]
    target_p, predicted = predictions_from_logits(backbone, logits[0], [resolved, int(logits[0].argmax())])
    return OcclusionMap(grid=grid, values=upsample_grid(grid, h, w, patch, stride), image=pixels, patch=patch,
                           stride=stride, fill=fill, backbone=backbone.name, target=target_p, predicted=predicted)
