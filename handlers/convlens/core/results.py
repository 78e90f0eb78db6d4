"""Results shared by every area: a predicted class and a classification (area results live in each area)."""
from __future__ import annotations

from dataclasses import dataclass


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
