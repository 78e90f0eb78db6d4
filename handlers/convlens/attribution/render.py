"""Pictures of the attribution results (saliency, occlusion, segmentation), kept apart from computing them."""
from __future__ import annotations

import numpy as np

from convlens.core import colormaps

from .results import Heatmap, OcclusionMap, Segmentation

SIGNS = ("absolute", "positive", "diverging")  # how a signed map is drawn (Captum's visualize_image_attr signs)
DIVERGING = "bwr"  # blue = against the target, white = 0, red = for it
SIGNED_CLIP_PERCENTILE = 98.0  # signed maps' outliers, as Captum's visualize_image_attr (outlier_perc=2)


def map_picture(image: np.ndarray, values: np.ndarray, view: str = "heatmap", colormap: str = "inferno"
                ) -> np.ndarray:
    """A map as a colour picture: the heatmap alone, or blended over the image the network saw."""
    if view == "overlay":
        return colormaps.overlay(image, values, name=colormap)
    return colormaps.heatmap_image(values, name=colormap)


def signed_values(values: np.ndarray, sign: str) -> np.ndarray:
    """What a signed map's picture shows: its magnitude, its positive part, or the signed values (diverging)."""
    if sign == "absolute":
        return np.abs(values)
    if sign == "positive":
        return np.clip(values, 0.0, None)
    if sign == "diverging":
        return values
    raise ValueError(f"unknown sign '{sign}'; choose one of {', '.join(SIGNS)}")


def saliency_picture(result: Heatmap, view: str = "heatmap", colormap: str = "inferno", sign: str = "absolute"
                     ) -> np.ndarray:
    """The saliency map as a picture (see `map_picture`); a signed map (integrated gradients) as `sign` says:
    the colormap over its magnitude or positive part, or centred on zero in DIVERGING, magnitudes clipped at
    SIGNED_CLIP_PERCENTILE so a few outlier pixels don't wash it out. Unsigned maps are drawn as they are."""
    if not result.signed:
        return map_picture(result.image, result.values, view, colormap)
    shown = signed_values(result.values, sign)
    limit = float(np.percentile(np.abs(shown), SIGNED_CLIP_PERCENTILE))
    if limit > 0:
        shown = np.clip(shown, -limit, limit)
    return map_picture(result.image, shown, view, DIVERGING if sign == "diverging" else colormap)


def occlusion_picture(result: OcclusionMap, view: str = "heatmap", colormap: str = "inferno") -> np.ndarray:
    """The probability DROP as a picture: bright where covering the image hurts the target most."""
    return map_picture(result.image, result.importance, view, colormap)


def segment_picture(result: Segmentation, view: str = "cutout", transparent: bool = True) -> np.ndarray:
    """cutout: transparent (or black when not `transparent`, e.g. JPEG) outside the mask; mask: white on black;
    overlay: dimmed outside the mask."""
    if view == "mask":
        return np.where(result.mask, 255, 0).astype(np.uint8)
    mask = result.mask[..., None]
    if view == "overlay":
        return np.where(mask, result.image, (result.image * 0.25).astype(np.uint8))
    if transparent:
        return result.cutout
    return np.where(mask, result.image, 0).astype(np.uint8)
