"""What the encoder dispatches on: `Wire`, the per-result-type description of a result's picture, npy array,
JSON dict and protobuf message; and the wire pieces every area shares (classes, tensors, images)."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from google.protobuf.message import Message

from convlens.core import images
from convlens.core.results import Classification, Prediction

from . import convlens_pb2 as pb

R = TypeVar("R")


class FormatError(ValueError):
    """A format the result type has no form in (or no format of the contract at all): the server's bug."""


@dataclass(frozen=True)
class Wire(Generic[R]):
    """How results of one type go on the wire. A subclass is a frozen dataclass whose fields are the request's
    view options (e.g. `view`, `colormap`); it names the `Response` field of its message (`response_field`) and
    overrides the forms its type has: `picture` (png, jpeg), `array` (npy), `json` and `message` (proto)."""

    response_field: ClassVar[str]

    def picture(self, result: R, fmt: str) -> np.ndarray:
        """The HxW, HxWx3 or HxWx4 uint8 picture a png or jpeg answer shows (drawn by the result's area)."""
        raise FormatError(f"{type(result).__name__} has no {fmt} form")

    def picture_bytes(self, result: R, fmt: str) -> bytes:
        """The picture encoded as png or jpeg (the style results add a JPEG quality)."""
        return images.encode_image(self.picture(result, fmt), fmt)

    def array(self, result: R) -> np.ndarray:
        """The array a npy answer carries."""
        raise FormatError(f"{type(result).__name__} has no npy form")

    def json(self, result: R) -> dict[str, Any]:
        """The JSON object of a json answer."""
        raise NotImplementedError

    def message(self, result: R) -> Message:
        """The protobuf message set as `Response.<response_field>` of a proto answer."""
        raise NotImplementedError


def prediction_dict(p: Prediction) -> dict[str, Any]:
    """A class in a JSON body."""
    return {"index": p.index, "label": p.label, "probability": p.probability, "score": p.score}


def prediction_proto(p: Prediction) -> pb.Prediction:
    """A class in a protobuf message."""
    return pb.Prediction(index=p.index, label=p.label, probability=p.probability, score=p.score)


def value_range(values: np.ndarray) -> tuple[float, float]:
    """(min, max) of a map, (0, 0) when empty."""
    return (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)


def rounded(values: np.ndarray) -> list[Any]:
    """Floats as JSON numbers, rounded to 7 decimals (float32 precision) to keep the body short."""
    return np.round(values, 7).tolist()


def tensor(array: np.ndarray) -> pb.Tensor:
    """An array of any shape as a float32 `Tensor` message (shape + flat values)."""
    values = np.asarray(array, np.float32)
    return pb.Tensor(shape=list(values.shape), values=values.ravel().tolist())


def png_image(picture: np.ndarray, name: str) -> pb.Image:
    """A picture as a PNG `Image` message."""
    return pb.Image(data=images.encode_png(picture), format="png", width=picture.shape[1],
                    height=picture.shape[0], name=name)


def base64_text(data: bytes) -> str:
    """Bytes (e.g. a PNG) as the base64 text a JSON body carries."""
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class ClassificationWire(Wire[Classification]):
    """The top-k classes: JSON or proto only (no picture, no array)."""

    response_field = "classification"

    def json(self, result: Classification) -> dict[str, Any]:
        return {"backbone": result.backbone, "predictions": [prediction_dict(p) for p in result.predictions]}

    def message(self, result: Classification) -> Message:
        return pb.Classification(predictions=[prediction_proto(p) for p in result.predictions],
                                 backbone=result.backbone)


WIRES: dict[type, type[Wire[Any]]] = {Classification: ClassificationWire}
