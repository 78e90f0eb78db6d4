"""The inspect results on the wire: the area's picture by default, or json / npy / proto with the numbers behind it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import Message

from convlens.core.grids import signed_gradient_picture
from convlens.inspect import render
from convlens.inspect.results import (
    ActivationMaps,
    ChannelStat,
    Embedding,
    FilterBank,
    Layout,
    Neighbor,
    Neighbors,
    Patch,
    TopPatches,
)

from . import convlens_pb2 as pb
from .messages import Wire, png_image, rounded, tensor


@dataclass(frozen=True)
class FiltersWire(Wire[FilterBank]):
    """The filters as tiles, or their weights (npy, JSON rounded, proto as a Tensor)."""

    response_field = "filters"

    def picture(self, result: FilterBank, fmt: str) -> np.ndarray:
        return render.filters_picture(result)

    def array(self, result: FilterBank) -> np.ndarray:
        return np.asarray(result.weights, np.float32)

    @staticmethod
    def head(bank: FilterBank) -> dict[str, Any]:
        return dict(backbone=bank.backbone, layer=bank.layer, module=bank.module, rgb=bank.rgb,
                    total_filters=bank.total_filters, total_channels=bank.total_channels)

    def json(self, result: FilterBank) -> dict[str, Any]:
        return {**self.head(result), "shape": list(result.weights.shape), "weights": rounded(result.weights)}

    def message(self, result: FilterBank) -> Message:
        return pb.Filters(**self.head(result), weights=tensor(result.weights))


def channel_stat(s: ChannelStat) -> dict[str, Any]:
    """One channel's statistics, as JSON and as the ChannelStat message's fields."""
    return {"channel": s.channel, "mean": s.mean, "max": s.max, "fraction_active": s.fraction_active}


@dataclass(frozen=True)
class ActivationsWire(Wire[ActivationMaps]):
    """Every channel, or one `channel`: as a grid of tiles (at most `max_tiles`), the values, or the statistics."""

    response_field = "activations"
    channel: int | None = None
    max_tiles: int = 256

    def picture(self, result: ActivationMaps, fmt: str) -> np.ndarray:
        return render.activations_picture(result, self.channel, self.max_tiles)

    def array(self, result: ActivationMaps) -> np.ndarray:
        values = result.values if self.channel is None else result.values[self.channel:self.channel + 1]
        return np.asarray(values, np.float32)

    def json(self, result: ActivationMaps) -> dict[str, Any]:
        c, h, w = result.values.shape
        return {"backbone": result.backbone, "layer": result.layer, "channels": c, "height": h, "width": w,
                "order": result.order, "stats": [channel_stat(s) for s in result.stats]}

    def message(self, result: ActivationMaps) -> Message:
        return pb.Activations(backbone=result.backbone, layer=result.layer, order=result.order,
                              stats=[pb.ChannelStat(**channel_stat(s)) for s in result.stats],
                              values=tensor(self.array(result)))


def patch_box(p: Patch) -> dict[str, Any]:
    """Where a patch is and how strongly it drives the unit, as JSON and as the Patch message's fields."""
    left, top, right, bottom = p.box
    return dict(image=p.image, name=p.name, y=p.y, x=p.x, activation=p.activation, left=left, top=top,
                right=right, bottom=bottom)


@dataclass(frozen=True)
class TopPatchesWire(Wire[TopPatches]):
    """`input_size`: the side of the network input the boxes refer to; `patch`: the side of a picture's tiles."""

    response_field = "top_patches"
    input_size: int
    patch: int = 96

    def picture(self, result: TopPatches, fmt: str) -> np.ndarray:
        return render.patches_picture(result, self.patch)

    def array(self, result: TopPatches) -> np.ndarray:
        return np.asarray(result.maps, np.float32)

    def head(self, result: TopPatches) -> dict[str, Any]:
        return dict(backbone=result.backbone, layer=result.layer, channel=result.channel,
                    rf_height=result.rf_size[0], rf_width=result.rf_size[1], rf_stride=result.rf_stride[0],
                    input_size=self.input_size)

    def json(self, result: TopPatches) -> dict[str, Any]:
        return {**self.head(result), "patches": [patch_box(p) for p in result.patches]}

    def message(self, result: TopPatches) -> Message:
        patches = [pb.Patch(**patch_box(p), crop=png_image(p.crop, "crop"),
                            guided=png_image(signed_gradient_picture(p.guided), "guided") if p.guided is not None
                            else None) for p in result.patches]
        return pb.TopPatches(**self.head(result), patches=patches)


@dataclass(frozen=True)
class EmbeddingWire(Wire[Embedding]):
    """The vectors as a barcode picture, or as numbers with their image names."""

    response_field = "embedding"

    def picture(self, result: Embedding, fmt: str) -> np.ndarray:
        return render.embedding_picture(result)

    def array(self, result: Embedding) -> np.ndarray:
        return np.asarray(result.vectors, np.float32)

    def json(self, result: Embedding) -> dict[str, Any]:
        return {"backbone": result.backbone, "layer": result.layer, "dims": int(result.vectors.shape[1]),
                "vectors": [{"name": n, "values": v.tolist()} for n, v in zip(result.names, result.vectors)]}

    def message(self, result: Embedding) -> Message:
        vectors = [pb.FeatureVector(name=n, values=v.tolist()) for n, v in zip(result.names, result.vectors)]
        return pb.Embedding(backbone=result.backbone, layer=result.layer, dims=int(result.vectors.shape[1]),
                            vectors=vectors)


def neighbor(n: Neighbor) -> dict[str, Any]:
    """One ranked gallery image, as JSON and as the Neighbor message's fields."""
    return {"index": n.index, "name": n.name, "distance": n.distance}


@dataclass(frozen=True)
class NeighborsWire(Wire[Neighbors]):
    """`thumb`: the side of a picture's thumbnails; npy: the feature and pixel distances in gallery order."""

    response_field = "neighbors"
    thumb: int = 80

    def picture(self, result: Neighbors, fmt: str) -> np.ndarray:
        return render.neighbors_picture(result, self.thumb)

    def array(self, result: Neighbors) -> np.ndarray:
        return np.asarray(np.stack([result.feature_distances, result.pixel_distances]), np.float32)

    def json(self, result: Neighbors) -> dict[str, Any]:
        return {"backbone": result.backbone, "layer": result.layer, "metric": result.metric,
                "by_feature": [neighbor(n) for n in result.by_feature],
                "by_pixel": [neighbor(n) for n in result.by_pixel]}

    def message(self, result: Neighbors) -> Message:
        return pb.Neighbors(backbone=result.backbone, layer=result.layer, metric=result.metric,
                            by_feature=[pb.Neighbor(**neighbor(n)) for n in result.by_feature],
                            by_pixel=[pb.Neighbor(**neighbor(n)) for n in result.by_pixel])


@dataclass(frozen=True)
class LayoutWire(Wire[Layout]):
    """Pictures: thumbnails `scatter`ed on a `canvas`, or on a `grid`; npy: the 2-D coordinates."""

    response_field = "layout"
    view: str = "scatter"
    canvas: int = 640
    thumb: int = 64

    def picture(self, result: Layout, fmt: str) -> np.ndarray:
        return render.layout_picture(result, self.view, self.canvas, self.thumb)

    def array(self, result: Layout) -> np.ndarray:
        return np.asarray(result.coords, np.float32)

    @staticmethod
    def head(result: Layout) -> dict[str, Any]:
        return dict(backbone=result.backbone, layer=result.layer, method=result.method,
                    perplexity=result.perplexity or 0.0, columns=result.grid[0], rows=result.grid[1])

    @staticmethod
    def points(result: Layout) -> list[dict[str, Any]]:
        return [dict(name=n, x=float(x), y=float(y), column=int(c), row=int(r))
                for n, (x, y), (c, r) in zip(result.names, result.coords, result.cells)]

    def json(self, result: Layout) -> dict[str, Any]:
        return {**self.head(result), "points": self.points(result)}

    def message(self, result: Layout) -> Message:
        return pb.Layout(**self.head(result), points=[pb.Point(**p) for p in self.points(result)])


WIRES: dict[type, type[Wire[Any]]] = {
    FilterBank: FiltersWire, ActivationMaps: ActivationsWire, TopPatches: TopPatchesWire, Embedding: EmbeddingWire,
    Neighbors: NeighborsWire, Layout: LayoutWire}
