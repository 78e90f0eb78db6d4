"""Pictures of a synthesis result: one named image, or several side by side, kept apart from computing them."""
from __future__ import annotations

import numpy as np

from .results import SynthesisResult

GAP = 4  # pixels between the pictures of a strip


def strip(pictures: list[np.ndarray]) -> np.ndarray:
    """Pictures side by side on white, top-aligned."""
    height = max(p.shape[0] for p in pictures)
    width = sum(p.shape[1] for p in pictures) + GAP * (len(pictures) - 1)
    out = np.full((height, width, 3), 255, np.uint8)
    x = 0
    for p in pictures:
        out[: p.shape[0], x: x + p.shape[1]] = p
        x += p.shape[1] + GAP
    return out


def synthesis_picture(result: SynthesisResult, view: str | None = None) -> np.ndarray:
    """The picture a png/jpeg answer shows: a named image, `both` (all side by side), or the main one
    (several classviz images come as one strip)."""
    named = dict(result.images)
    if view in named:
        return named[view]
    if view == "both" or (view is None and len(result.images) > 1 and result.technique == "classviz"):
        return strip([image for _, image in result.images])
    return result.image
