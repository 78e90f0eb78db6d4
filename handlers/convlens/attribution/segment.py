"""Weakly supervised segmentation from saliency (Simonyan et al. 2014, section 3.1): pixels above a high
saliency quantile seed the foreground, pixels below a low quantile seed the background, and OpenCV's GrabCut
(colour models + graph cut) decides the rest.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from convlens.core.backbones import Backbone

from .methods import TOP1, saliency
from .results import Segmentation

# Grad-CAM: it passes the randomization test (guided Grad-CAM, the old default, fails it; see
# sanity_results.json) and its smooth map seeds GrabCut with regions rather than speckle
SEGMENT_METHOD = "gradcam"


def grabcut_mask(image: np.ndarray, values: np.ndarray, foreground: float = 0.95, background: float = 0.30,
                 iterations: int = 5) -> np.ndarray:
    """(H, W) bool foreground mask of an HxWx3 uint8 image seeded from a saliency map of the same size.

    The map is smoothed a little first (Gaussian, sigma = 1% of the shorter side) so seeds form regions rather
    than speckle; pixels between the two quantiles start as "probably background" for GrabCut to claim.
    """
    import cv2

    h, w = values.shape
    smooth = cv2.GaussianBlur(np.nan_to_num(values.astype(np.float32)), (0, 0), max(0.5, 0.01 * min(h, w)))
    hi, lo = np.quantile(smooth, foreground), np.quantile(smooth, background)
    seeds = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    seeds[smooth <= lo] = cv2.GC_BGD
    seeds[smooth >= hi] = cv2.GC_FGD
    if hi <= lo or not (seeds == cv2.GC_BGD).any() or not (seeds == cv2.GC_FGD).any():
        return smooth >= hi  # a flat map gives GrabCut no two classes to model
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's GMM initialisation is k-means: make it reproducible
    bgr = np.ascontiguousarray(image[..., ::-1])
    # rect=None: GC_INIT_WITH_MASK ignores the rectangle, and OpenCV's stubs type it as a required sequence
    mask, _, _ = cv2.grabCut(bgr, seeds, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def segment(backbone: Backbone, pixels: np.ndarray, target: int = TOP1, method: str = SEGMENT_METHOD,
            foreground: float = 0.95, background: float = 0.30, iterations: int = 5,
            options: Mapping[str, Any] | None = None) -> Segmentation:
    """Saliency of `target` on one HxWx3 uint8 image -> GrabCut foreground mask and its cut-out."""
    result = saliency(backbone, pixels, [target], method=method, options=options)[0]
    mask = grabcut_mask(pixels, result.importance, foreground, background, iterations)  # signed maps: magnitude
    return Segmentation(mask=mask, saliency=result.importance, image=pixels, method=method, backbone=backbone.name,
                         target=result.target, predicted=result.predicted)
