"""Shared glue of the synthesis endpoints: progress streaming on, a wall-time Deadline from the model config,
image fitting, and what `describe` says about limits."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from PIL import Image

from convlens.core import inputs
from convlens.core.errors import InvalidParameter
from convlens.core.progress import Deadline

from .base import ConvLensHandler
from .specs.synthesis import MAX_SIDE

MIN_SIDE = 16


def fit_longer_side(image: Image.Image, max_side: int, field: str = "image") -> np.ndarray:
    """The image as HxWx3 uint8, scaled down (never up) so its longer side is at most `max_side`; 400 when
    a side is below 16 px (too small for the network's strides)."""
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise InvalidParameter(field, f"the image is {w}x{h}; both sides must be at least {MIN_SIDE} px")
    scale = min(1.0, max_side / max(w, h))
    if scale < 1.0:
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    return np.array(image)


class SynthesisHandler(ConvLensHandler):
    """Base of the iterative endpoints: `self.progress` is the request's callback, `self.deadline()` its budget."""

    streams_progress: ClassVar[bool] = True

    def deadline(self, field: str = "steps") -> Deadline:
        """The request's wall-time budget (config `time_budget_s`); past it a 413 names `field`."""
        return Deadline(self.config.time_budget_s, field=field)

    def photo(self, data: bytes, size: int, field: str = "image") -> np.ndarray:
        """A photo field decoded and resized: shorter side `size`, longer side at most 2 x `size`."""
        return inputs.explanation_pixels(self.decode(data, min_side=size, field=field), size)

    def offers(self) -> dict[str, Any]:
        """What describe adds for this endpoint (its choices beyond the fields)."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "time_budget_s": self.config.time_budget_s, "max_side": MAX_SIDE,
                "progress": "progress=true streams events, then the result", **self.offers()}
