"""Typed results of the inspect endpoints (filters, activations, top_patches, embed, neighbors, tsne); numpy/PIL
imported lazily."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from .._proto import convlens_pb2 as pb
from ..errors import ConvLensError


def tensor_array(msg: pb.Tensor) -> Any:
    """A ``Tensor`` message as a float32 numpy array of its shape."""
    import numpy as np

    shape = tuple(msg.shape)
    values = np.asarray(msg.values, dtype=np.float32)
    expected = int(np.prod(shape)) if shape else 0
    if values.size != expected:
        raise ConvLensError(f"malformed tensor: {values.size} values for shape {shape}", type="MalformedResponse")
    return values.reshape(shape)


def open_image(data: bytes) -> Any:
    """Encoded image bytes as a PIL image (needs pillow)."""
    from PIL import Image

    return Image.open(io.BytesIO(data))


@dataclass(frozen=True)
class FilterBank:
    """The weights of one convolution: ``weights`` is (filters, channels, kh, kw)."""

    backbone: str
    layer: str
    module: str
    rgb: bool
    total_filters: int
    total_channels: int
    weights: Any = field(repr=False)

    @classmethod
    def from_proto(cls, msg: pb.Filters) -> FilterBank:
        """From a ``convlens.v1.Filters``."""
        return cls(msg.backbone, msg.layer, msg.module, msg.rgb, msg.total_filters, msg.total_channels,
                   tensor_array(msg.weights))


@dataclass(frozen=True)
class ChannelStat:
    """One channel's mean, max and share of positive positions."""
    channel: int
    mean: float
    max: float
    fraction_active: float


@dataclass(frozen=True)
class ActivationMaps:
    """One layer's output for one image: ``values`` is (C, H, W); ``order`` lists channels most active first."""

    backbone: str
    layer: str
    stats: list[ChannelStat]
    order: list[int]
    values: Any = field(repr=False)

    @classmethod
    def from_proto(cls, msg: pb.Activations) -> ActivationMaps:
        """From a ``convlens.v1.Activations``."""
        stats = [ChannelStat(s.channel, s.mean, s.max, s.fraction_active) for s in msg.stats]
        return cls(msg.backbone, msg.layer, stats, list(msg.order), tensor_array(msg.values))


@dataclass(frozen=True)
class Patch:
    """A maximally activating patch: image index and name, unit (y, x), activation, box (left, top, right, bottom)
    in the network input's pixels; ``crop`` and ``guided`` are PNG bytes (``guided`` empty unless asked)."""

    image: int
    name: str
    y: int
    x: int
    activation: float
    box: tuple[int, int, int, int]
    crop: bytes = field(repr=False)
    guided: bytes = field(repr=False, default=b"")

    def crop_image(self) -> Any:
        """The patch as a PIL image."""
        return open_image(self.crop)


@dataclass(frozen=True)
class TopPatches:
    """The patches that activate one channel most, strongest first, with the layer's receptive field."""
    backbone: str
    layer: str
    channel: int
    patches: list[Patch]
    receptive_field: tuple[int, int]
    stride: int
    input_size: int

    @classmethod
    def from_proto(cls, msg: pb.TopPatches) -> TopPatches:
        """From a ``convlens.v1.TopPatches``."""
        patches = [Patch(p.image, p.name, p.y, p.x, p.activation, (p.left, p.top, p.right, p.bottom), p.crop.data,
                         p.guided.data) for p in msg.patches]
        return cls(msg.backbone, msg.layer, msg.channel, patches, (msg.rf_height, msg.rf_width), msg.rf_stride,
                   msg.input_size)


@dataclass(frozen=True)
class Embedding:
    """Feature vectors, one row per image (numbered images first, then the zip's): ``vectors`` is (N, dims)."""

    backbone: str
    layer: str  # "" = the penultimate layer
    dims: int
    names: list[str]
    vectors: Any = field(repr=False)

    @classmethod
    def from_proto(cls, msg: pb.Embedding) -> Embedding:
        """From a ``convlens.v1.Embedding``."""
        import numpy as np

        rows = [np.asarray(v.values, dtype=np.float32) for v in msg.vectors]
        vectors = np.stack(rows) if rows else np.zeros((0, msg.dims), np.float32)
        return cls(msg.backbone, msg.layer, msg.dims, [v.name for v in msg.vectors], vectors)


@dataclass(frozen=True)
class Neighbor:
    """One gallery image and its distance to the query."""
    index: int  # position in the gallery
    name: str
    distance: float


@dataclass(frozen=True)
class Neighbors:
    """The gallery ranked by feature distance and, for contrast, by pixel distance; nearest first."""

    backbone: str
    layer: str
    metric: str
    by_feature: list[Neighbor]
    by_pixel: list[Neighbor]

    @classmethod
    def from_proto(cls, msg: pb.Neighbors) -> Neighbors:
        """From a ``convlens.v1.Neighbors``."""
        def ranked(items: Any) -> list[Neighbor]:
            return [Neighbor(n.index, n.name, n.distance) for n in items]

        return cls(msg.backbone, msg.layer, msg.metric, ranked(msg.by_feature), ranked(msg.by_pixel))


@dataclass(frozen=True)
class Point:
    """One image's place in a 2-D layout, and its grid cell."""
    name: str
    x: float  # in [0, 1]
    y: float
    column: int  # cell of the grid-snapped view
    row: int


@dataclass(frozen=True)
class Layout:
    """A 2-D layout of images by t-SNE or PCA of their features."""
    backbone: str
    layer: str
    method: str
    perplexity: float | None
    columns: int
    rows: int
    points: list[Point]

    @classmethod
    def from_proto(cls, msg: pb.Layout) -> Layout:
        """From a ``convlens.v1.Layout``."""
        points = [Point(p.name, p.x, p.y, p.column, p.row) for p in msg.points]
        return cls(msg.backbone, msg.layer, msg.method, msg.perplexity or None, msg.columns, msg.rows, points)

    @property
    def coords(self) -> Any:
        """(N, 2) float32 numpy array of the points' (x, y)."""
        import numpy as np

        return np.asarray([(p.x, p.y) for p in self.points], dtype=np.float32).reshape(-1, 2)
