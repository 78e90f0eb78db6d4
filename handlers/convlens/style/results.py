"""The typed result of optimization style transfer, before any wire encoding (named as the contract's)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StyleTransferResult:
    """The stylized image (HxWx3 uint8), the loss terms before and after, and the style blend it used."""

    image: np.ndarray
    steps: int
    seconds: float
    sizes: list[int]
    start_losses: dict[str, float] = field(default_factory=dict)
    final_losses: dict[str, float] = field(default_factory=dict)
    style_weights: list[float] = field(default_factory=list)  # the blend, normalized to sum 1
    backbone: str = ""
