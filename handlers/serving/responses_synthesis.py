"""SynthesisResult -> response bytes + content type: a picture (png/jpeg), npy, JSON or a typed protobuf."""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from convlens.core import colormaps, images
from convlens.synthesis import SynthesisResult

from . import convlens_pb2 as pb
from .responses import CONTENT_TYPES, json_bytes, prediction_dict, prediction_proto

GAP = 4  # pixels between the pictures of a strip


def strip(pictures: list[np.ndarray]) -> np.ndarray:
    """Pictures side by side on white, top-aligned."""
    height = max(p.shape[0] for p in pictures)
    width = sum(p.shape[1] for p in pictures) + GAP * (len(pictures) - 1)
    out = np.full((height, width, 3), 255, np.uint8)
    x = 0
    for p in pictures:
        out[: p.shape[0], x: x + p.shape[1]] = p
        x += p.shape[1] + GAP
    return out


def picture(result: SynthesisResult, view: str | None = None) -> np.ndarray:
    """The picture a png/jpeg answer shows: a named image, `both` (all side by side), or the main one
    (several classviz images come as one strip)."""
    named = dict(result.images)
    if view in named:
        return named[view]
    if view == "both" or (view is None and len(result.images) > 1 and result.technique == "classviz"):
        return strip([image for _, image in result.images])
    return result.image


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def encode_synthesis(result: SynthesisResult, fmt: str, view: str | None = None) -> tuple[bytes, str]:
    if fmt in ("png", "jpeg"):
        return images.encode_image(picture(result, view), fmt), CONTENT_TYPES[fmt]
    if fmt == "npy":
        return colormaps.npy_bytes(np.asarray(result.raw, dtype=np.float32)), CONTENT_TYPES["npy"]
    pngs = [(name, image, images.encode_png(image)) for name, image in result.images]
    if fmt == "proto":
        msg = pb.SynthesisResult(
            technique=result.technique, backbone=result.backbone, layer=result.layer, seed=result.seed,
            steps=result.steps, converged=result.converged, metrics=dict(result.metrics),
            images=[pb.Image(data=data, format="png", width=image.shape[1], height=image.shape[0], name=name)
                    for name, image, data in pngs],
            original=[prediction_proto(p) for p in result.original],
            predicted=[prediction_proto(p) for p in result.predicted])
        return pb.Response(synthesis=msg).SerializeToString(), CONTENT_TYPES["proto"]
    body: dict[str, Any] = {
        "technique": result.technique, "backbone": result.backbone, "layer": result.layer, "seed": result.seed,
        "steps": result.steps, "converged": result.converged,
        "metrics": {k: _finite(v) for k, v in result.metrics.items()},
        "original": [prediction_dict(p) for p in result.original],
        "predicted": [prediction_dict(p) for p in result.predicted],
        "images": [{"name": name, "width": image.shape[1], "height": image.shape[0],
                    "png": base64.b64encode(data).decode("ascii")} for name, image, data in pngs],
    }
    return json_bytes(body), CONTENT_TYPES["json"]
