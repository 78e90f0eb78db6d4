"""Synthesis results on the wire: the area's picture, the raw float array, or JSON / proto with every image."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import Message

from convlens.core import images
from convlens.synthesis import SynthesisResult, render

from . import convlens_pb2 as pb
from .messages import Wire, base64_text, png_image, prediction_dict, prediction_proto


def finite(value: float) -> float | None:
    """JSON has no inf or NaN: such metrics are null."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class SynthesisWire(Wire[SynthesisResult]):
    """`view`: the named image a picture shows, or `both` side by side (default: the main one)."""

    response_field = "synthesis"
    view: str | None = None

    def picture(self, result: SynthesisResult, fmt: str) -> np.ndarray:
        return render.synthesis_picture(result, self.view)

    def array(self, result: SynthesisResult) -> np.ndarray:
        return np.asarray(result.raw, dtype=np.float32)

    def json(self, result: SynthesisResult) -> dict[str, Any]:
        return {
            "technique": result.technique, "backbone": result.backbone, "layer": result.layer, "seed": result.seed,
            "steps": result.steps, "converged": result.converged,
            "metrics": {k: finite(v) for k, v in result.metrics.items()},
            "original": [prediction_dict(p) for p in result.original],
            "predicted": [prediction_dict(p) for p in result.predicted],
            "images": [{"name": name, "width": image.shape[1], "height": image.shape[0],
                        "png": base64_text(images.encode_png(image))} for name, image in result.images],
        }

    def message(self, result: SynthesisResult) -> Message:
        return pb.SynthesisResult(
            technique=result.technique, backbone=result.backbone, layer=result.layer, seed=result.seed,
            steps=result.steps, converged=result.converged, metrics=dict(result.metrics),
            images=[png_image(image, name) for name, image in result.images],
            original=[prediction_proto(p) for p in result.original],
            predicted=[prediction_proto(p) for p in result.predicted])


WIRES: dict[type, type[Wire[Any]]] = {SynthesisResult: SynthesisWire}
