"""Pictures of the inspect tools: tile grids, thumbnails, two-row rankings and 2-D layouts; numpy + Pillow only.

Everything takes uint8 arrays (or float maps plus an explicit value range) and returns an HxWx3 uint8 picture;
tiles are enlarged by whole-pixel repetition so every tile pixel is exactly one value of the map it shows.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import colormaps

BACKGROUND = 255


def upscale(tile: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge by repeating each pixel factor x factor times (nearest neighbour, exact)."""
    return tile if factor == 1 else np.repeat(np.repeat(tile, factor, axis=0), factor, axis=1)


def factor_for(height: int, width: int, min_px: int) -> int:
    """The smallest whole enlargement that makes the tile's shorter side at least `min_px` (max 64x)."""
    return max(1, min(64, math.ceil(min_px / max(1, min(height, width)))))


def quantize(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] linearly to 0..255 uint8 (clipped); an empty range gives zeros."""
    if hi <= lo:
        return np.zeros(np.shape(values), np.uint8)
    scaled = (np.asarray(values, np.float64) - lo) / (hi - lo) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def as_rgb(tile: np.ndarray) -> np.ndarray:
    return np.repeat(tile[..., None], 3, axis=2) if tile.ndim == 2 else tile


def tile_grid(tiles: Sequence[np.ndarray], cols: int, pad: int = 2, factor: int = 1) -> np.ndarray:
    """Equal-size uint8 tiles (HxW gray or HxWx3) in rows of `cols`, enlarged by `factor`, `pad` px apart."""
    if not tiles:
        raise ValueError("no tiles to draw")
    big = [as_rgb(upscale(t, factor)) for t in tiles]
    h, w = big[0].shape[:2]
    cols = max(1, min(cols, len(big)))
    rows = math.ceil(len(big) / cols)
    canvas = np.full((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, 3), BACKGROUND, np.uint8)
    for i, tile in enumerate(big):
        r, c = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top:top + h, left:left + w] = tile
    return canvas


def tile_origin(index: int, cols: int, height: int, width: int, pad: int = 2) -> tuple[int, int]:
    """(top, left) of tile `index` in a tile_grid picture with enlarged tiles of height x width."""
    r, c = divmod(index, cols)
    return pad + r * (height + pad), pad + c * (width + pad)


def thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    """The image scaled to fit a size x size square (aspect kept), centred on white."""
    pil = Image.fromarray(np.ascontiguousarray(as_rgb(image)))
    scale = size / max(pil.size)
    pil = pil.resize((max(1, round(pil.size[0] * scale)), max(1, round(pil.size[1] * scale))),
                     Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (size, size), (BACKGROUND,) * 3)
    canvas.paste(pil, ((size - pil.size[0]) // 2, (size - pil.size[1]) // 2))
    return np.asarray(canvas)


def signed_gradient_picture(grad: np.ndarray) -> np.ndarray:
    """A (h, w, 3) gradient shown as in the guided-backprop papers: 0 at mid-gray, scaled by the 99th percentile of
    |value| (a few extreme pixels would otherwise leave the picture flat gray)."""
    magnitude = np.abs(grad)
    peak = float(np.percentile(magnitude, 99)) if magnitude.size else 0.0
    peak = peak if peak > 0 else float(magnitude.max(initial=0.0))
    if peak <= 0:
        return np.full(grad.shape, 128, np.uint8)
    return np.clip(np.rint(128.0 + grad / peak * 127.0), 0, 255).astype(np.uint8)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def captioned_rows(rows: Sequence[tuple[str, Sequence[tuple[np.ndarray, str]]]], thumb: int) -> np.ndarray:
    """Rows of square thumbnails, each under a row title and above its own caption (e.g. a distance)."""
    pad, title_h, caption_h = 4, 14, 12
    cols = max(len(items) for _, items in rows)
    width = pad + cols * (thumb + pad)
    height = sum(title_h + thumb + caption_h + pad for _ in rows) + pad
    canvas = Image.new("RGB", (width, height), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(canvas)
    top = pad
    for title, items in rows:
        draw.text((pad, top), title, fill=(0, 0, 0), font=_font())
        top += title_h
        for c, (image, caption) in enumerate(items):
            left = pad + c * (thumb + pad)
            canvas.paste(Image.fromarray(thumbnail(image, thumb)), (left, top))
            draw.text((left, top + thumb), caption, fill=(60, 60, 60), font=_font())
        top += thumb + caption_h + pad
    return np.asarray(canvas)


def scatter(images: Sequence[np.ndarray], coords: np.ndarray, canvas: int, thumb: int) -> np.ndarray:
    """Thumbnails centred at their (x, y) in [0, 1]^2 on a canvas x canvas picture (later ones on top)."""
    picture = Image.new("RGB", (canvas, canvas), (BACKGROUND,) * 3)
    span = canvas - thumb
    for image, (x, y) in zip(images, np.asarray(coords, np.float64)):
        picture.paste(Image.fromarray(thumbnail(image, thumb)), (int(round(x * span)), int(round(y * span))))
    return np.asarray(picture)


def snapped(images: Sequence[np.ndarray], cells: np.ndarray, grid: tuple[int, int], thumb: int) -> np.ndarray:
    """Thumbnails in their assigned (column, row) cells of a columns x rows grid."""
    cols, rows = grid
    picture = np.full((rows * thumb, cols * thumb, 3), BACKGROUND, np.uint8)
    for image, (c, r) in zip(images, np.asarray(cells)):
        picture[r * thumb:(r + 1) * thumb, c * thumb:(c + 1) * thumb] = thumbnail(image, thumb)
    return picture


def barcode(vectors: np.ndarray, row_height: int = 12, max_width: int = 1024) -> np.ndarray:
    """Feature vectors as coloured stripes, one row per vector (viridis, one scale for all rows)."""
    values = np.asarray(vectors, np.float32)
    if values.shape[1] > max_width:  # average neighbouring dimensions to fit
        groups = math.ceil(values.shape[1] / max_width)
        padded = np.pad(values, ((0, 0), (0, groups * max_width - values.shape[1])), mode="edge")
        values = padded.reshape(len(values), max_width, groups).mean(axis=2)
    colours = colormaps.colormap(colormaps.normalize(values, 99.5), "viridis")
    return np.repeat(colours, row_height, axis=0)
