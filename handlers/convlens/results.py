"""Typed engine results: what the algorithms return, before any rendering or wire encoding."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """One class of a classifier's output: index, label, softmax probability and raw score (logit)."""

    index: int
    label: str
    probability: float
    score: float


@dataclass(frozen=True)
class Classification:
    """The top-k classes of one image, most probable first."""

    predictions: list[Prediction]
    backbone: str


@dataclass(frozen=True)
class SaliencyResult:
    """A saliency map over the pixels the network saw, with the image itself (for overlays) and the classes."""

    values: np.ndarray       # (H, W) float32, non-negative for gradient magnitude methods
    image: np.ndarray        # (H, W, 3) uint8, the network's input before normalization
    method: str
    backbone: str
    target: Prediction
    predicted: Prediction
    layer: str | None = None
