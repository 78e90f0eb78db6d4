"""Decoded images -> network inputs: the resize/crop recipes, kept apart from decoding and from the algorithms."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .backbones import Preprocessing


def shorter_side_size(w: int, h: int, size: int, max_longer: int | None = None) -> tuple[int, int]:
    """(w, h) scaled keeping the aspect ratio so the shorter side is `size` (the longer side capped at `max_longer`)."""
    scale = size / min(w, h)
    if max_longer is not None:
        scale = min(scale, max_longer / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def resize_shorter_side(image: Image.Image, size: int, max_longer: int | None = None) -> Image.Image:
    """Resize keeping the aspect ratio so the shorter side is `size` (the longer side capped at `max_longer`)."""
    new = shorter_side_size(*image.size, size, max_longer)
    return image if new == image.size else image.resize(new, Image.Resampling.BILINEAR)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """The central `size` x `size` square (the image must be at least that large in both sides)."""
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float().div_(255.0)


def classification_pixels(image: Image.Image, prep: Preprocessing) -> np.ndarray:
    """The evaluation recipe of ImageNet classifiers: resize the shorter side, then center crop (HxWx3 uint8)."""
    return np.array(center_crop(resize_shorter_side(image, prep.resize), prep.crop))


def classification_view(pixels01: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """`classification_pixels` on (N, 3, H, W) tensors, differentiable: the same sizes and crop box, bilinear
    resampling (antialiased when shrinking, as Pillow's), without Pillow's rounding to 8 bits in between."""
    h, w = pixels01.shape[-2:]
    new_w, new_h = shorter_side_size(w, h, prep.resize)
    x = pixels01
    if (new_w, new_h) != (w, h):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False,
                          antialias=new_w < w or new_h < h)
    left, top = (new_w - prep.crop) // 2, (new_h - prep.crop) // 2
    return x[..., top:top + prep.crop, left:left + prep.crop]


def explanation_pixels(image: Image.Image, size: int) -> np.ndarray:
    """The whole image (no crop, so a map covers all of it) with its shorter side at `size`, longer side <= 2*size."""
    return np.array(resize_shorter_side(image, size, max_longer=2 * size))
