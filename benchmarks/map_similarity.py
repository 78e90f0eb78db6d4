"""The four similarity measures of Adebayo et al. 2018 ("Sanity checks for saliency maps") between a map and the
map of the same image after randomizing weights: Spearman rank correlation of the magnitudes and of the signed
values, the structural similarity (SSIM) of the magnitudes and the Pearson correlation of their HOG features.

SSIM and HOG take each magnitude map scaled to [0, 1] by its own maximum (so only the pattern counts, not the
scale randomized weights give it), as images of the same data range; scikit-image computes both (a test-time
dependency, not the server's).
"""
from __future__ import annotations

import numpy as np
from skimage.feature import hog
from skimage.metrics import structural_similarity

from convlens.attribution import sanity

MEASURES = ("spearman_abs", "spearman", "ssim", "hog")


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
