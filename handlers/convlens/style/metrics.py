"""Picture-quality measures of stylized images and textures, shared by the engine's results, the tests and
benchmarks/quality.py: the near-pure pixel share (Gram matching's saturated blobs) and the palette distance."""
from __future__ import annotations

import numpy as np
import torch

from .losses import random_directions, sliced_wasserstein_loss

NEAR_PURE_SPREAD = 0.85  # a pixel whose channel spread exceeds this share of the range is a near-pure hue


def near_pure_share(image: np.ndarray) -> float:
    """Share of pixels of an HxWx3 uint8 image that are near-pure primaries/secondaries (channel spread > 85 %).

    Photos and painted styles have almost none (<= 0.35 % in the procedural styles); Gram-matrix synthesis on
    small networks paints green/magenta blobs of them (3.5-10 % of the pixels).
    """
    rgb = image.astype(np.float32) / 255
    return float(((rgb.max(-1) - rgb.min(-1)) > NEAR_PURE_SPREAD).mean())


def palette_distance(image: np.ndarray, reference: np.ndarray) -> float:
    """Sliced Wasserstein distance between the RGB distributions of two uint8 images (32 fixed directions)."""
    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a[..., :3], dtype=np.float32) / 255).permute(2, 0, 1)[None]

    directions = random_directions(3, 32, torch.Generator().manual_seed(0))
    return float(sliced_wasserstein_loss(tensor(image), tensor(reference), directions))
