"""Pictures of the attribution results (saliency, occlusion, segmentation), kept apart from computing them."""
from __future__ import annotations

import numpy as np

from convlens.core import colormaps

from .results import Heatmap, OcclusionMap, Segmentation


def map_picture(image: np.ndarray, values: np.ndarray, view: str = "heatmap", colormap: str = "inferno"
                ) -> np.ndarray:
    """A map as a colour picture: the heatmap alone, or blended over the image the network saw."""
    if view == "overlay":
        return colormaps.overlay(image, values, name=colormap)
    return colormaps.heatmap_image(values, name=colormap)


def saliency_picture(result: Heatmap, view: str = "heatmap", colormap: str = "inferno") -> np.ndarray:
    """The saliency map as a picture (see `map_picture`)."""
    return map_picture(result.image, result.values, view, colormap)


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
