"""Engine results and errors -> response bytes + content type, for every output format of the contract."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from convlens.attribution.results import Heatmap
from convlens.core import colormaps, images
from convlens.core.errors import ConvLensError
from convlens.core.results import Classification, Prediction

from . import convlens_pb2 as pb

CONTENT_TYPES = {
    "json": "application/json",
    "proto": "application/x-protobuf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "npy": "application/x-npy",
}


def prediction_dict(p: Prediction) -> dict[str, Any]:
    return {"index": p.index, "label": p.label, "probability": p.probability, "score": p.score}


def prediction_proto(p: Prediction) -> pb.Prediction:
    return pb.Prediction(index=p.index, label=p.label, probability=p.probability, score=p.score)


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def encode_classification(result: Classification, fmt: str) -> tuple[bytes, str]:
    if fmt == "proto":
        msg = pb.Classification(predictions=[prediction_proto(p) for p in result.predictions],
                                backbone=result.backbone)
        return pb.Response(classification=msg).SerializeToString(), CONTENT_TYPES["proto"]
    body = {"backbone": result.backbone, "predictions": [prediction_dict(p) for p in result.predictions]}
    return json_bytes(body), CONTENT_TYPES["json"]


def saliency_picture(result: Heatmap, view: str, colormap: str) -> np.ndarray:
    """The map as a colour picture: the heatmap alone, or blended over the image the network saw."""
    if view == "overlay":
        return colormaps.overlay(result.image, result.values, name=colormap)
    return colormaps.heatmap_image(result.values, name=colormap)


def encode_saliency(result: Heatmap, fmt: str, view: str = "heatmap", colormap: str = "inferno"
                    ) -> tuple[bytes, str]:
    values = np.asarray(result.values, dtype=np.float32)
    height, width = values.shape
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if fmt in ("png", "jpeg"):
        return images.encode_image(saliency_picture(result, view, colormap), fmt), CONTENT_TYPES[fmt]
    if fmt == "npy":
        return colormaps.npy_bytes(values), CONTENT_TYPES["npy"]
    if fmt == "proto":
        msg = pb.Heatmap(width=width, height=height, values=values.ravel().tolist(), min=lo, max=hi,
                         method=result.method, backbone=result.backbone, layer=result.layer or "",
                         target=prediction_proto(result.target), predicted=prediction_proto(result.predicted))
        return pb.Response(heatmap=msg).SerializeToString(), CONTENT_TYPES["proto"]
    body = {"method": result.method, "backbone": result.backbone, "layer": result.layer,
            "target": prediction_dict(result.target), "predicted": prediction_dict(result.predicted),
            "width": width, "height": height, "min": lo, "max": hi,
            "values": np.round(values, 7).tolist()}
    return json_bytes(body), CONTENT_TYPES["json"]


def encode_error(error: ConvLensError, proto: bool = False) -> tuple[bytes, str]:
    """The contract's error body: JSON {code, type, message, field}, or a Response with `error` set."""
    if proto:
        msg = pb.Error(code=error.code, type=error.type, message=error.message, field=error.field or "")
        return pb.Response(error=msg).SerializeToString(), CONTENT_TYPES["proto"]
    return json_bytes(error.to_dict()), CONTENT_TYPES["json"]
