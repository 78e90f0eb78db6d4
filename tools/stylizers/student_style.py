"""Style terms a student can learn beyond its teacher (issue 20): the palette of the style image and no near-pure
pixels, added to the distillation loss (`distill.py --palette-weight / --pure-weight`).

The teachers were trained to a sliced Wasserstein palette on RGB among other layers and end up 0.001-0.008 from
their style's palette; a student copying them inherits that gap. These terms pull the student's own pixels toward
the style image's RGB distribution (the quality report's palette distance) and away from the near-pure hues the
report counts, while the distillation terms keep it on the teacher's picture.
"""
from __future__ import annotations

import numpy as np
import torch

from convlens.style.losses import random_directions, sliced_wasserstein_loss
from convlens.style.metrics import NEAR_PURE_SPREAD, palette_distance
from convlens.synthesis.common import to_uint8

from . import patterns

PALETTE_SIDE = 128  # the style image's side, in the fine-tuning's palette term and the quality report alike
PALETTE_DIRECTIONS = 32  # random RGB directions per step (the report uses 32 fixed ones)
PURE_MARGIN = 0.1  # the penalty starts this far under the report's near-pure spread


def reference(style: str) -> np.ndarray:
    """The HxWx3 uint8 style image a picture's palette is measured against (a procedural pattern by name)."""
    return patterns.make(style, PALETTE_SIDE, 0)


def references(styles: list[str]) -> list[np.ndarray] | None:
    """The style images of a network's styles, or None when one of them is not a procedural pattern."""
    return [reference(s) for s in styles] if all(s in patterns.PATTERNS for s in styles) else None


def alone(weights: torch.Tensor) -> list[tuple[int, int]]:
    """(image index, style index) of the images painted in one style alone (a blend has no single style image)."""
    return [(k, int(w.argmax())) for k, w in enumerate(weights) if float(w.max()) > 0.999]


class PaletteTerm:
    """Sliced Wasserstein distance of each one-style image's RGB pixels to its style image's (the report's palette
    distance, differentiable), on fresh random directions every call."""

    def __init__(self, styles: list[np.ndarray], seed: int, device: torch.device | None = None) -> None:
        device = device or torch.device("cpu")
        self.targets = [torch.from_numpy(s.astype(np.float32) / 255).to(device).permute(2, 0, 1)[None] for s in styles]
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, images: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        directions = random_directions(3, PALETTE_DIRECTIONS, self.generator)
        pairs = alone(weights)
        if not pairs:
            return images.new_zeros(())
        return torch.stack([sliced_wasserstein_loss(images[k:k + 1], self.targets[s], directions)
                            for k, s in pairs]).mean()


def pure_penalty(images: torch.Tensor) -> torch.Tensor:
    """Mean excess of each pixel's channel spread over (near-pure spread - margin): zero for painted pixels,
    growing toward the saturated primaries and secondaries the report counts."""
    spread = images.amax(dim=1) - images.amin(dim=1)
    return torch.relu(spread - (NEAR_PURE_SPREAD - PURE_MARGIN)).mean()


def palette_of(images: torch.Tensor, weights: torch.Tensor, styles: list[np.ndarray] | None) -> float:
    """Mean report palette distance (`metrics.palette_distance`) of the one-style images to their style image
    (NaN without style images or one-style images)."""
    scores = [palette_distance(to_uint8(images[k]), styles[s]) for k, s in alone(weights)] if styles else []
    return float(np.mean(scores)) if scores else float("nan")
