"""The four similarity measures of Adebayo et al. 2018 ("Sanity checks for saliency maps") between a map and the
map of the same image after randomizing weights: Spearman rank correlation of the magnitudes and of the signed
values, the structural similarity (SSIM) of the magnitudes and the Pearson correlation of their HOG features.

SSIM and HOG take each magnitude map scaled to [0, 1] by its own maximum (so only the pattern counts, not the
scale randomized weights give it), as images of the same data range; scikit-image computes both (a test-time
dependency, not the server's).

Null levels: the same measures between two UNRELATED maps of a method's shape (independent seeded random values
on the method's own grid), the level a measure shows with no shared content at all; a map after randomization
that scores near it kept nothing of the trained map, whatever the number.
"""
from __future__ import annotations

import numpy as np
import torch
from skimage.feature import hog
from skimage.metrics import structural_similarity

from convlens.attribution import cam, occlusion, sanity

MEASURES = ("spearman_abs", "spearman", "ssim", "hog")
CAM_STRIDE = 32  # the served backbone's output stride: Grad-CAM's 7 x 7 grid at 224 px
NULL_PAIRS = 5  # pairs of unrelated maps averaged per null level (seeds 0..9)


def unit_scaled(values: np.ndarray) -> np.ndarray:
    """|values| / max |values| (zeros stay zeros): a map as a [0, 1] image."""
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    top = float(magnitude.max())
    return magnitude / top if top > 0 else magnitude


def hog_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the HOG descriptors (scikit-image's defaults) of two [0, 1] maps (0 when flat)."""
    ha, hb = hog(a), hog(b)
    if ha.std() == 0 or hb.std() == 0:
        return 0.0
    return float(np.corrcoef(ha, hb)[0, 1])


def similarities(signed_a: np.ndarray, signed_b: np.ndarray) -> dict[str, float]:
    """The four measures between two maps of one image (signed values; magnitudes are taken here)."""
    ua, ub = unit_scaled(signed_a), unit_scaled(signed_b)
    return {"spearman_abs": sanity.spearman(ua, ub), "spearman": sanity.spearman(signed_a, signed_b),
            "ssim": float(structural_similarity(ua, ub, data_range=1.0)), "hog": hog_correlation(ua, ub)}


def cam_grid(rng: np.random.Generator, size: int) -> np.ndarray:
    """Uniform random values on Grad-CAM's (size / 32)^2 grid, upsampled to size x size as Grad-CAM upsamples."""
    cells = max(1, size // CAM_STRIDE)
    grid = torch.from_numpy(rng.uniform(size=(1, 1, cells, cells)))
    return cam.upsample(grid, (size, size))[0, 0].numpy()


def null_map(method: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size map of `method`'s shape with independent random values: per pixel for the gradient-type maps
    (normal, i.e. signed, for integrated gradients), Grad-CAM's grid, guided Grad-CAM's per-pixel values times
    that grid, occlusion's patch grid (default patch and stride) averaged per pixel as the engine does."""
    if method == "gradcam":
        return cam_grid(rng, size)
    if method == "guided_gradcam":
        return rng.uniform(size=(size, size)) * cam_grid(rng, size)
    if method == "occlusion":
        side = len(occlusion.grid_starts(size, occlusion.PATCH, occlusion.STRIDE))
        grid = rng.uniform(size=(side, side)).astype(np.float32)
        return occlusion.upsample_grid(grid, size, size, occlusion.PATCH, occlusion.STRIDE)
    if method == "integrated_gradients":
        return rng.normal(size=(size, size))
    return rng.uniform(size=(size, size))


def null_levels(method: str, size: int, pairs: int = NULL_PAIRS) -> dict[str, float]:
    """The mean of each measure over `pairs` pairs of unrelated `method`-shaped maps (seeds 2k and 2k + 1)."""
    measured = [similarities(null_map(method, size, np.random.default_rng(2 * k)),
                             null_map(method, size, np.random.default_rng(2 * k + 1))) for k in range(pairs)]
    return {m: float(np.mean([s[m] for s in measured])) for m in MEASURES}
