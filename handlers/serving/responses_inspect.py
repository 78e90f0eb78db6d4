"""Encoders of the inspect results: the picture by default, or json / npy / proto with the numbers behind it."""
from __future__ import annotations

from typing import Any

import numpy as np

from convlens.core import colormaps, images
from convlens.inspect import render
from convlens.inspect.results import ActivationMaps, Embedding, FilterBank, Layout, Neighbors, TopPatches

from . import convlens_pb2 as pb
from .responses import CONTENT_TYPES, json_bytes

PICTURES = ("png", "jpeg")


def tensor(array: np.ndarray) -> pb.Tensor:
    values = np.asarray(array, np.float32)
    return pb.Tensor(shape=list(values.shape), values=values.ravel().tolist())


def _picture(picture: np.ndarray, fmt: str) -> tuple[bytes, str]:
    return images.encode_image(picture, fmt), CONTENT_TYPES[fmt]


def _proto(**result: Any) -> tuple[bytes, str]:
    return pb.Response(**result).SerializeToString(), CONTENT_TYPES["proto"]


def _npy(array: np.ndarray) -> tuple[bytes, str]:
    return colormaps.npy_bytes(np.asarray(array, np.float32)), CONTENT_TYPES["npy"]


def _json(body: dict[str, Any]) -> tuple[bytes, str]:
    return json_bytes(body), CONTENT_TYPES["json"]


def encode_filters(bank: FilterBank, fmt: str) -> tuple[bytes, str]:
    if fmt in PICTURES:
        return _picture(render.filters_picture(bank), fmt)
    if fmt == "npy":
        return _npy(bank.weights)
    head = dict(backbone=bank.backbone, layer=bank.layer, module=bank.module, rgb=bank.rgb,
                total_filters=bank.total_filters, total_channels=bank.total_channels)
    if fmt == "proto":
        return _proto(filters=pb.Filters(**head, weights=tensor(bank.weights)))
    return _json({**head, "shape": list(bank.weights.shape), "weights": np.round(bank.weights, 7).tolist()})


def _stat(s) -> dict[str, Any]:
    return {"channel": s.channel, "mean": s.mean, "max": s.max, "fraction_active": s.fraction_active}


def encode_activations(maps: ActivationMaps, fmt: str, channel: int | None, max_tiles: int) -> tuple[bytes, str]:
    if fmt in PICTURES:
        return _picture(render.activations_picture(maps, channel, max_tiles), fmt)
    values = maps.values if channel is None else maps.values[channel:channel + 1]
    if fmt == "npy":
        return _npy(values)
    if fmt == "proto":
        stats = [pb.ChannelStat(**_stat(s)) for s in maps.stats]
        return _proto(activations=pb.Activations(backbone=maps.backbone, layer=maps.layer, stats=stats,
                                                 order=maps.order, values=tensor(values)))
    c, h, w = maps.values.shape
    return _json({"backbone": maps.backbone, "layer": maps.layer, "channels": c, "height": h, "width": w,
                  "order": maps.order, "stats": [_stat(s) for s in maps.stats]})


def encode_top_patches(result: TopPatches, fmt: str, patch: int, input_size: int) -> tuple[bytes, str]:
    if fmt in PICTURES:
        return _picture(render.patches_picture(result, patch), fmt)
    if fmt == "npy":
        return _npy(result.maps)
    head = dict(backbone=result.backbone, layer=result.layer, channel=result.channel, rf_height=result.rf_size[0],
                rf_width=result.rf_size[1], rf_stride=result.rf_stride[0], input_size=input_size)

    def boxes(p):
        left, top, right, bottom = p.box
        return dict(image=p.image, name=p.name, y=p.y, x=p.x, activation=p.activation, left=left, top=top,
                    right=right, bottom=bottom)

    if fmt == "proto":
        from convlens.core.grids import signed_gradient_picture

        def png(array: np.ndarray, name: str) -> pb.Image:
            return pb.Image(data=images.encode_png(array), format="png", width=array.shape[1],
                            height=array.shape[0], name=name)

        patches = [pb.Patch(**boxes(p), crop=png(p.crop, "crop"),
                            guided=png(signed_gradient_picture(p.guided), "guided") if p.guided is not None
                            else None) for p in result.patches]
        return _proto(top_patches=pb.TopPatches(**head, patches=patches))
    return _json({**head, "patches": [boxes(p) for p in result.patches]})


def encode_embedding(result: Embedding, fmt: str) -> tuple[bytes, str]:
    if fmt in PICTURES:
        return _picture(render.embedding_picture(result), fmt)
    if fmt == "npy":
        return _npy(result.vectors)
    dims = int(result.vectors.shape[1])
    if fmt == "proto":
        vectors = [pb.FeatureVector(name=n, values=v.tolist()) for n, v in zip(result.names, result.vectors)]
        return _proto(embedding=pb.Embedding(backbone=result.backbone, layer=result.layer, dims=dims,
                                             vectors=vectors))
    return _json({"backbone": result.backbone, "layer": result.layer, "dims": dims,
                  "vectors": [{"name": n, "values": v.tolist()} for n, v in zip(result.names, result.vectors)]})


def _neighbor(n) -> dict[str, Any]:
    return {"index": n.index, "name": n.name, "distance": n.distance}


def encode_neighbors(result: Neighbors, fmt: str, thumb: int) -> tuple[bytes, str]:
    if fmt in PICTURES:
        return _picture(render.neighbors_picture(result, thumb), fmt)
    if fmt == "npy":
        return _npy(np.stack([result.feature_distances, result.pixel_distances]))
    head = dict(backbone=result.backbone, layer=result.layer, metric=result.metric)
    if fmt == "proto":
        return _proto(neighbors=pb.Neighbors(**head, by_feature=[pb.Neighbor(**_neighbor(n)) for n in
                                                                 result.by_feature],
                                             by_pixel=[pb.Neighbor(**_neighbor(n)) for n in result.by_pixel]))
    return _json({**head, "by_feature": [_neighbor(n) for n in result.by_feature],
                  "by_pixel": [_neighbor(n) for n in result.by_pixel]})


def encode_layout(result: Layout, fmt: str, view: str, canvas: int, thumb: int) -> tuple[bytes, str]:
    if fmt in PICTURES:
        return _picture(render.layout_picture(result, view, canvas, thumb), fmt)
    if fmt == "npy":
        return _npy(result.coords)
    points = [dict(name=n, x=float(x), y=float(y), column=int(c), row=int(r))
              for n, (x, y), (c, r) in zip(result.names, result.coords, result.cells)]
    head = dict(backbone=result.backbone, layer=result.layer, method=result.method,
                perplexity=result.perplexity or 0.0, columns=result.grid[0], rows=result.grid[1])
    if fmt == "proto":
        return _proto(layout=pb.Layout(**head, points=[pb.Point(**p) for p in points]))
    return _json({**head, "points": points})
