"""The typed result every synthesis technique returns, before rendering or wire encoding."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from convlens.core.results import Prediction


@dataclass(frozen=True)
class SynthesisResult:
    """Pictures made by a technique (named HxWx3 uint8 arrays, the first is the main one) and its numbers.

    `raw` is the float32 array a format=npy answer carries (e.g. the unquantized images, or the change).
    """

    technique: str
    backbone: str
    images: list[tuple[str, np.ndarray]]
    metrics: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    converged: bool = True
    layer: str = ""
    seed: int = 0
    original: list[Prediction] = field(default_factory=list)
    predicted: list[Prediction] = field(default_factory=list)
    raw: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def image(self) -> np.ndarray:
        return self.images[0][1]
