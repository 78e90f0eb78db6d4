"""Attribution results: maps over the pixels the network saw, before any rendering or wire encoding."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convlens.core.results import Prediction


@dataclass(frozen=True)
class Faithfulness:
    """One RISE curve of a map (Petsiuk et al. 2018): the target's probability as its most important cells are
    removed (`deletion`) or revealed (`insertion`), and the same for a seeded random map (the baseline)."""

    metric: str                      # "deletion" or "insertion"
    fractions: np.ndarray            # (steps + 1,) share of the cells removed or revealed, 0 .. 1
    probabilities: np.ndarray        # (steps + 1,) the target's softmax probability, cells in the map's order
    random_probabilities: np.ndarray  # (steps + 1,) the same in a seeded random order
    removal: str = "blur"            # what a deleted pixel showed: "blur", "zero" or "mean"
    patch: int = 1                   # side in px of the cells removed (and of the random map's cells)

    @property
    def auc(self) -> float:
        """Area under the map's curve (trapezoids over the fractions): lower is better for deletion."""
        return float(np.trapezoid(self.probabilities, self.fractions))

    @property
    def random_auc(self) -> float:
        """Area under the random map's curve."""
        return float(np.trapezoid(self.random_probabilities, self.fractions))

    @property
    def beats_random(self) -> bool:
        """Deletion: falls faster than random (smaller AUC); insertion: rises faster (larger AUC)."""
        return self.auc < self.random_auc if self.metric == "deletion" else self.auc > self.random_auc


@dataclass(frozen=True)
class Heatmap:
    """A saliency map over the pixels the network saw, with the image itself (for overlays) and the classes."""

    values: np.ndarray       # (H, W) float32, non-negative for gradient magnitude methods
    image: np.ndarray        # (H, W, 3) uint8, the network's input before normalization
    method: str
    backbone: str
    target: Prediction
    predicted: Prediction
    layer: str | None = None
    signed: bool = False     # the values keep a sign (integrated gradients): negative = against the target
    evaluation: tuple[Faithfulness, ...] = ()

    @property
    def importance(self) -> np.ndarray:
        """What orders pixels (segment seeds, deletion/insertion): the magnitude, as a signed map's strongly
        negative pixels matter as much as its positive ones."""
        return np.abs(self.values).astype(np.float32)


@dataclass(frozen=True)
class OcclusionMap:
    """Zeiler & Fergus occlusion: the target's probability with a patch covering each grid position.

    `grid[i, j]` is the probability with the patch at rows i*stride.., columns j*stride.. (the last patches may
    be cut off by the border); `values` is the same at image resolution (each pixel: the mean over the patches
    covering it). `target.probability` is the unoccluded probability.
    """

    grid: np.ndarray         # (rows, cols) float32 probabilities
    values: np.ndarray       # (H, W) float32 probabilities at image resolution
    image: np.ndarray        # (H, W, 3) uint8
    patch: int
    stride: int
    fill: str
    backbone: str
    target: Prediction
    predicted: Prediction
    method: str = "occlusion"
    layer: str | None = None
    evaluation: tuple[Faithfulness, ...] = ()

    @property
    def importance(self) -> np.ndarray:
        """How much covering each pixel lowers the target's probability (unoccluded - occluded, >= 0 shown)."""
        return np.clip(self.target.probability - self.values, 0.0, None).astype(np.float32)


@dataclass(frozen=True)
class Segmentation:
    """A foreground mask grown by GrabCut from a saliency map's most and least salient pixels."""

    mask: np.ndarray         # (H, W) bool, True = foreground
    saliency: np.ndarray     # (H, W) float32, the map that seeded it
    image: np.ndarray        # (H, W, 3) uint8
    method: str
    backbone: str
    target: Prediction
    predicted: Prediction

    @property
    def cutout(self) -> np.ndarray:
        """(H, W, 4) uint8: the image, transparent outside the mask."""
        alpha = np.where(self.mask, 255, 0).astype(np.uint8)[..., None]
        return np.concatenate([self.image, alpha], axis=2)
