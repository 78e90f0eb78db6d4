"""Typed engine results of the inspect tools (filters, activations, top patches, embeddings, neighbours, layouts)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FilterBank:
    """The weights of one convolution, truncated to the filters and input channels shown (biases ignored)."""

    weights: np.ndarray      # (filters, in_channels_per_group, kh, kw) float32
    layer: str               # the requested layer name ("" = first convolution)
    module: str              # dotted name of the convolution module
    rgb: bool                # True when each filter is shown as one RGB image (3 input channels)
    total_filters: int
    total_channels: int
    backbone: str


@dataclass(frozen=True)
class ChannelStat:
    channel: int
    mean: float
    max: float
    fraction_active: float   # fraction of positions > 0


@dataclass(frozen=True)
class ActivationMaps:
    """One layer's output for one image; `order` lists channels most active (highest mean) first."""

    values: np.ndarray       # (C, H, W) float32
    stats: list[ChannelStat]
    order: list[int]
    layer: str
    backbone: str
    image: np.ndarray        # (H, W, 3) uint8 network input


@dataclass(frozen=True)
class Patch:
    """One maximally activating input patch: which image, which unit, how strongly, where in the image."""

    image: int
    name: str
    y: int
    x: int
    activation: float
    box: tuple[int, int, int, int]   # (left, top, right, bottom) inclusive, clipped to the image
    crop: np.ndarray = field(repr=False)                 # (h, w, 3) uint8
    guided: np.ndarray | None = field(default=None, repr=False)  # (h, w, 3) float32 gradient, if asked


@dataclass(frozen=True)
class TopPatches:
    patches: list[Patch]
    maps: np.ndarray          # (N, h, w) float32: the channel's activation over every image
    layer: str
    channel: int
    rf_size: tuple[int, int]  # nominal receptive field (rows, cols)
    rf_stride: tuple[int, int]
    backbone: str


@dataclass(frozen=True)
class Embedding:
    vectors: np.ndarray       # (N, D) float32
    names: list[str]
    layer: str                # "" = penultimate (the input of the classifier's last linear layer)
    backbone: str


@dataclass(frozen=True)
class Neighbor:
    index: int                # position in the gallery
    name: str
    distance: float


@dataclass(frozen=True)
class Neighbors:
    by_feature: list[Neighbor]
    by_pixel: list[Neighbor]
    metric: str
    layer: str
    backbone: str
    query: np.ndarray = field(repr=False)             # (S, S, 3) uint8
    gallery: list[np.ndarray] = field(repr=False)     # network inputs of the gallery images
    feature_distances: np.ndarray = field(repr=False)  # (G,) in gallery order
    pixel_distances: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Layout:
    """2-D positions of images (scaled to [0, 1]) and their cells on a grid (grid-snapped view)."""

    coords: np.ndarray        # (N, 2) float32, x then y, in [0, 1]
    cells: np.ndarray         # (N, 2) int: column, row
    grid: tuple[int, int]     # columns, rows
    names: list[str]
    method: str
    perplexity: float | None
    layer: str
    backbone: str
    images: list[np.ndarray] = field(repr=False)
