"""Turn float maps (saliency, occlusion, activations) into pictures; pure numpy + Pillow.

Rendering is kept apart from computing: engine code produces raw HxW float maps, and this
module decides how they look (normalisation, colormap, overlay) and how arrays are serialised.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["COLORMAPS", "colormap", "heatmap_image", "normalize", "npy_bytes", "overlay"]


def _hex_table(*colors: str) -> np.ndarray:
    """Anchor colours given as hex strings -> an Nx3 float32 table of 0..255 values."""
    return np.array([[int(c[i : i + 2], 16) for i in (0, 2, 4)] for c in colors], np.float32)


# Matplotlib's perceptually uniform maps sampled at 17 evenly spaced points (0, 1/16, ..., 1);
# linear interpolation between these anchors stays within 7 levels (of 255) of the full tables.
COLORMAPS: dict[str, np.ndarray] = {
    "inferno": _hex_table(
        "000004", "0b0724", "210c4a", "3d0965", "57106e", "71196e",
        "8a226a", "a32c61", "bc3754", "d24644", "e45a31", "f1731d",
        "f98e09", "fcac11", "f9cb35", "f2ea69", "fcffa4",
    ),
    "magma": _hex_table(
        "000004", "0a0822", "1d1147", "36106b", "51127c", "6a1c81",
        "832681", "9c2e7f", "b73779", "d0416f", "e75263", "f56b5c",
        "fc8961", "fea772", "fec488", "fde2a3", "fcfdbf",
    ),
    "plasma": _hex_table(
        "0d0887", "310597", "4c02a1", "6600a7", "7e03a8", "9511a1",
        "aa2395", "bc3587", "cc4778", "da5a6a", "e66c5c", "f0804e",
        "f89540", "fdac33", "fdc527", "f8df25", "f0f921",
    ),
    "viridis": _hex_table(
        "440154", "48186a", "472d7b", "424086", "3b528b", "33638d",
        "2c728e", "26828e", "21918c", "1fa088", "28ae80", "3fbc73",
        "5ec962", "84d44b", "addc30", "d8e219", "fde725",
    ),
    "gray": _hex_table("000000", "ffffff"),
    # Diverging map for signed maps centred at 0.5: blue, white, red.
    "bwr": _hex_table("0000ff", "ffffff", "ff0000"),
}


def normalize(values: np.ndarray, clip_percentile: float = 99.5) -> np.ndarray:
    """Map an HxW float map to [0, 1] float32 with a robust top so a few outliers don't wash it out.

    Non-negative maps keep 0 at 0; signed maps get a symmetric range so 0 lands at 0.5.
    Non-finite values are ignored for the statistics and NaN renders as 0; constant maps -> zeros.
    """
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"expected an HxW map, got shape {array.shape}")
    if not 0.0 < clip_percentile <= 100.0:
        raise ValueError(f"clip_percentile must be in (0, 100], got {clip_percentile}")
    array = array.astype(np.float64, copy=False)
    finite = array[np.isfinite(array)]
    out = np.zeros(array.shape, dtype=np.float32)
    if finite.size == 0:
        return out
    signed = bool(finite.min() < 0.0)
    magnitude = np.abs(finite) if signed else finite
    high = float(np.percentile(magnitude, clip_percentile))
    if high <= 0.0:  # e.g. a sparse map whose percentile is still 0: fall back to the maximum
        high = float(magnitude.max())
    if high <= 0.0 or finite.min() == finite.max():
        return out
    low = -high if signed else 0.0
    scaled = (np.nan_to_num(array, nan=low, posinf=high, neginf=low) - low) / (high - low)
    out[...] = np.clip(scaled, 0.0, 1.0)
    out[np.isnan(array)] = 0.0  # NaN renders as 0, also for signed maps where 0 is mid-range
    return out


def colormap(values01: np.ndarray, name: str = "inferno") -> np.ndarray:
    """Colour an HxW map in [0, 1] with a named anchor table -> HxWx3 uint8 (clipped; NaN -> 0)."""
    table = COLORMAPS.get(name)
    if table is None:
        raise ValueError(f"unknown colormap {name!r}; choose one of {sorted(COLORMAPS)}")
    array = np.asarray(values01)
    if array.ndim != 2:
        raise ValueError(f"expected an HxW map, got shape {array.shape}")
    array = np.clip(np.nan_to_num(array.astype(np.float32), nan=0.0), 0.0, 1.0)
    position = array * np.float32(len(table) - 1)
    index = np.minimum(position.astype(np.intp), len(table) - 2)
    fraction = (position - index)[..., None]
    colours = table[index] * (1.0 - fraction) + table[index + 1] * fraction
    return np.clip(np.rint(colours), 0, 255).astype(np.uint8)


def heatmap_image(
    values: np.ndarray, name: str = "inferno", clip_percentile: float = 99.5
) -> np.ndarray:
    """Normalise an HxW map and colour it -> HxWx3 uint8, ready for encode_png."""
    return colormap(normalize(values, clip_percentile), name)


def overlay(
    image: np.ndarray, values: np.ndarray, alpha: float = 0.85, name: str = "inferno"
) -> np.ndarray:
    """Blend the coloured map over an HxWx3 uint8 image, each pixel weighted by its own value.

    The map (bilinearly resized to fit) is normalised to [0, 1]; a pixel's colour weight is alpha x value, so
    unimportant pixels show the photo unchanged and the most important ones show the colormap's top colour.
    """
    picture = np.asarray(image)
    if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 image, got {picture.dtype} {picture.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    unit = normalize(values)
    height, width = picture.shape[:2]
    if unit.shape != (height, width):
        unit = np.clip(_resize_bilinear(unit, height, width), 0.0, 1.0)
    colours = colormap(unit, name).astype(np.float32)
    weight = (alpha * unit)[..., None]
    blended = picture.astype(np.float32) * (1.0 - weight) + colours * weight
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _resize_bilinear(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a float32 HxW map with bilinear interpolation (Pillow's 32-bit float mode)."""
    source = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
    return np.asarray(source.resize((width, height), Image.Resampling.BILINEAR), np.float32)


def npy_bytes(array: np.ndarray) -> bytes:
    """Serialise an array in .npy format (no pickling, so object arrays are refused)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()
