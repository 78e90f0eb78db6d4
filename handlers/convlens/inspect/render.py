"""Pictures of the inspect results (filters, activation grids, top patches, rankings, layouts, embeddings)."""
from __future__ import annotations

import math

import numpy as np

from convlens.core import grids

from .filters import scale_filters
from .results import ActivationMaps, Embedding, FilterBank, Layout, Neighbors, TopPatches


def filter_tiles(bank: FilterBank) -> tuple[list[np.ndarray], int]:
    """(tiles, columns): one RGB tile per filter for a colour layer; else one grayscale tile per input slice,
    a row per filter, each filter scaled to 0..255 by its own min and max over all its slices."""
    scaled = scale_filters(bank.weights)  # (F, C, kh, kw) uint8, per filter
    if bank.rgb:
        return [f.transpose(1, 2, 0) for f in scaled], math.ceil(math.sqrt(len(scaled)))
    cols = scaled.shape[1] if scaled.shape[1] > 1 else math.ceil(math.sqrt(len(scaled)))  # depthwise: a square
    return [s for f in scaled for s in f], cols


def filters_picture(bank: FilterBank, min_tile: int = 24) -> np.ndarray:
    tiles, cols = filter_tiles(bank)
    h, w = tiles[0].shape[:2]
    return grids.tile_grid(tiles, cols, pad=2, factor=grids.factor_for(h, w, min_tile))


def activation_range(values: np.ndarray) -> tuple[float, float]:
    """One value range for every tile of a layer: [min(0, lowest), highest], so tiles compare with each other."""
    return min(0.0, float(values.min())), float(values.max())


def activation_tiles(maps: ActivationMaps, max_tiles: int) -> list[np.ndarray]:
    """Grayscale uint8 tiles of the most active channels first, all on the layer's value range."""
    lo, hi = activation_range(maps.values)
    return [grids.quantize(maps.values[c], lo, hi) for c in maps.order[:max_tiles]]


def activations_picture(maps: ActivationMaps, channel: int | None = None, max_tiles: int = 256,
                        min_tile: int = 28, large: int = 448) -> np.ndarray:
    """Every channel (up to max_tiles) as a grayscale tile, most active first; or one `channel` large."""
    h, w = maps.values.shape[1:]
    if channel is not None:
        values = maps.values[channel]
        lo, hi = activation_range(values)
        return grids.as_rgb(grids.upscale(grids.quantize(values, lo, hi), grids.factor_for(h, w, large)))
    tiles = activation_tiles(maps, max_tiles)
    return grids.tile_grid(tiles, math.ceil(math.sqrt(len(tiles))), pad=2, factor=grids.factor_for(h, w, min_tile))


def patches_picture(result: TopPatches, patch: int = 96) -> np.ndarray:
    """The patches strongest first, in rows; with guided backprop, each row of crops has a row of gradients below."""
    if not result.patches:
        return np.full((patch, patch, 3), grids.BACKGROUND, np.uint8)
    cols = math.ceil(math.sqrt(len(result.patches)))
    guided = result.patches[0].guided is not None
    tiles = []
    blank = np.full((patch, patch, 3), grids.BACKGROUND, np.uint8)
    for start in range(0, len(result.patches), cols):
        row = result.patches[start:start + cols]
        tiles += [grids.thumbnail(p.crop, patch) for p in row] + [blank] * (cols - len(row))
        if guided:
            tiles += [grids.thumbnail(grids.signed_gradient_picture(p.guided), patch) if p.guided is not None
                      else blank for p in row]
            tiles += [blank] * (cols - len(row))
    return grids.tile_grid(tiles, cols, pad=3)


def neighbors_picture(result: Neighbors, thumb: int = 80) -> np.ndarray:
    """Two rows: the query, then the gallery by feature distance; the query, then the gallery by pixel distance."""
    def row(ranked):
        return [(result.query, "query")] + [(result.gallery[n.index], f"{n.distance:.3f}") for n in ranked]

    return grids.captioned_rows([(f"features ({result.metric})", row(result.by_feature)),
                                 ("pixels (L2)", row(result.by_pixel))], thumb)


def layout_picture(result: Layout, view: str = "scatter", canvas: int = 640, thumb: int = 64) -> np.ndarray:
    if view == "grid":
        return grids.snapped(result.images, result.cells, result.grid, thumb)
    return grids.scatter(result.images, result.coords, canvas, thumb)


def embedding_picture(result: Embedding) -> np.ndarray:
    return grids.barcode(result.vectors)
