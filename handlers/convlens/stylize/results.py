"""The typed result of a feed-forward stylizer pass, before any wire encoding (named as the contract's)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StylizeResult:
    """The stylized image (HxWx3 uint8), the network that ran, the style blend it used, time and tiles."""

    image: np.ndarray
    model: str
    styles: list[str]
    weights: list[float]
    seconds: float
    tiles: int
