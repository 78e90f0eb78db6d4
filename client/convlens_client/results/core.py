"""Typed results of the core endpoints (classify, saliency, management) and the picture every area returns."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._proto import convlens_pb2 as pb
from ..errors import ConvLensError


def grid_values(values: Iterable[float], rows: int, cols: int, what: str) -> list[float]:
    """The values of a ``rows`` x ``cols`` grid, row-major; a MalformedResponse error when the count is off."""
    checked = list(values)
    if len(checked) != rows * cols:
        raise ConvLensError(f"malformed {what}: {len(checked)} values for {rows}x{cols}", type="MalformedResponse")
    return checked


def grid_array(values: Sequence[float], rows: int, cols: int) -> Any:
    """A row-major grid as a float32 numpy array of shape (rows, cols); a new array per call."""
    import numpy as np  # optional dependency: only needed here

    return np.asarray(values, dtype=np.float32).reshape(rows, cols)


def grid_rows(values: Sequence[float], rows: int, cols: int) -> list[list[float]]:
    """A row-major grid as a list of rows (JSON-ready)."""
    return [list(values[r * cols : (r + 1) * cols]) for r in range(rows)]


@dataclass(frozen=True)
class Prediction:
    """One class of a classifier's output."""

    index: int
    label: str
    probability: float  # softmax probability
    score: float  # unnormalized score (logit)

    @classmethod
    def from_proto(cls, msg: pb.Prediction) -> Prediction:
        """From a ``convlens.v1.Prediction``."""
        return cls(msg.index, msg.label, msg.probability, msg.score)

    @classmethod
    def from_field(cls, msg: Any, name: str) -> Prediction | None:
        """The Prediction in field ``name`` of a message, or None when it is not set."""
        return cls.from_proto(getattr(msg, name)) if msg.HasField(name) else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "index": self.index,
            "label": self.label,
            "probability": self.probability,
            "score": self.score,
        }


@dataclass(frozen=True)
class Classification:
    """``classify``'s answer: the top-k classes, most probable first, and the backbone that ran."""

    predictions: list[Prediction]
    backbone: str

    @classmethod
    def from_proto(cls, msg: pb.Classification) -> Classification:
        """From a ``convlens.v1.Classification``."""
        return cls([Prediction.from_proto(p) for p in msg.predictions], msg.backbone)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"backbone": self.backbone, "predictions": [p.to_dict() for p in self.predictions]}


@dataclass(frozen=True)
class Faithfulness:
    """One deletion or insertion curve of a map (Petsiuk et al. 2018): the target's probability as the map's most
    important cells are removed (by ``removal``) or revealed, and the same for a seeded random map of the same
    cells (the baseline)."""

    metric: str  # "deletion" or "insertion"
    auc: float  # lower is better for deletion, higher for insertion
    random_auc: float
    fractions: Sequence[float]
    probabilities: Sequence[float]
    random_probabilities: Sequence[float]
    removal: str = ""  # what a deleted pixel showed: "blur", "zero" or "mean" ("" from an older server)
    patch: int = 0  # side in px of the cells removed (0 from an older server)

    @classmethod
    def from_proto(cls, msg: pb.Faithfulness) -> Faithfulness:
        """From a ``convlens.v1.Faithfulness``."""
        return cls(metric=msg.metric, auc=msg.auc, random_auc=msg.random_auc, fractions=list(msg.fractions),
                   probabilities=list(msg.probabilities), random_probabilities=list(msg.random_probabilities),
                   removal=msg.removal, patch=msg.patch)

    @property
    def beats_random(self) -> bool:
        """Deletion: a smaller AUC than the random map's; insertion: a larger one."""
        return self.auc < self.random_auc if self.metric == "deletion" else self.auc > self.random_auc

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, as the server's JSON answer has it."""
        return {"auc": self.auc, "random_auc": self.random_auc, "beats_random": self.beats_random,
                "removal": self.removal, "patch": self.patch, "fractions": list(self.fractions),
                "probabilities": list(self.probabilities),
                "random_probabilities": list(self.random_probabilities)}


@dataclass(frozen=True)
class Heatmap:
    """A 2-D map of values over the image (e.g. saliency), row-major, ``height * width`` values."""

    width: int
    height: int
    values: Sequence[float]
    min: float
    max: float
    method: str
    backbone: str
    target: Prediction | None  # the class (or neuron) explained
    predicted: Prediction | None  # the network's top-1 on this image
    layer: str | None  # the layer explained, when the method uses one
    evaluation: Sequence[Faithfulness] = ()  # deletion/insertion curves, when asked with ``evaluate=``

    @classmethod
    def from_proto(cls, msg: pb.Heatmap) -> Heatmap:
        """From a ``convlens.v1.Heatmap``; checks the value count."""
        return cls(
            width=msg.width,
            height=msg.height,
            values=grid_values(msg.values, msg.height, msg.width, "heatmap"),
            min=msg.min,
            max=msg.max,
            method=msg.method,
            backbone=msg.backbone,
            target=Prediction.from_field(msg, "target"),
            predicted=Prediction.from_field(msg, "predicted"),
            layer=msg.layer or None,
            evaluation=tuple(Faithfulness.from_proto(c) for c in msg.evaluation),
        )

    @property
    def faithfulness(self) -> dict[str, Faithfulness]:
        """The curves by metric (``deletion``, ``insertion``); empty unless the request had ``evaluate``."""
        return {c.metric: c for c in self.evaluation}

    @property
    def array(self) -> Any:
        """The values as a float32 numpy array of shape (height, width); a new array per access."""
        return grid_array(self.values, self.height, self.width)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``values`` as a list of rows."""
        return {
            "width": self.width,
            "height": self.height,
            "min": self.min,
            "max": self.max,
            "method": self.method,
            "backbone": self.backbone,
            "layer": self.layer,
            "target": self.target.to_dict() if self.target else None,
            "predicted": self.predicted.to_dict() if self.predicted else None,
            "values": grid_rows(self.values, self.height, self.width),
            **({"evaluation": {c.metric: c.to_dict() for c in self.evaluation}} if self.evaluation else {}),
        }


@dataclass(frozen=True)
class ModelStatus:
    """A served model (= endpoint) and its workers, from TorchServe's list and describe calls."""

    name: str
    version: str
    url: str  # the archive it was loaded from
    min_workers: int
    max_workers: int
    batch_size: int
    workers: int  # workers started
    ready_workers: int  # workers in state READY
    pending_requests: int  # requests waiting in the model's queue

    @property
    def ready(self) -> bool:
        """Whether the model can serve now: at least one READY worker, and min_workers of them."""
        return self.ready_workers > 0 and self.ready_workers >= self.min_workers

    @classmethod
    def from_describe(cls, entry: dict) -> ModelStatus:
        """From one entry of TorchServe's describe answer (``GET /models/{name}``)."""
        workers = entry.get("workers") or []
        queue = entry.get("jobQueueStatus") or {}
        return cls(
            name=str(entry.get("modelName", "")),
            version=str(entry.get("modelVersion", "")),
            url=str(entry.get("modelUrl", "")),
            min_workers=int(entry.get("minWorkers", 0)),
            max_workers=int(entry.get("maxWorkers", 0)),
            batch_size=int(entry.get("batchSize", 1)),
            workers=len(workers),
            ready_workers=sum(1 for w in workers if w.get("status") == "READY"),
            pending_requests=int(queue.get("pendingRequests", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with ``ready``)."""
        return {
            "name": self.name,
            "version": self.version,
            "url": self.url,
            "ready": self.ready,
            "workers": self.workers,
            "ready_workers": self.ready_workers,
            "min_workers": self.min_workers,
            "max_workers": self.max_workers,
            "batch_size": self.batch_size,
            "pending_requests": self.pending_requests,
        }


@dataclass(frozen=True)
class ImageResult:
    """An encoded picture made by the server (PNG unless said otherwise)."""

    name: str
    data: bytes
    width: int
    height: int
    format: str = "png"

    @classmethod
    def from_proto(cls, msg: pb.Image) -> ImageResult:
        """From a ``convlens.v1.Image``."""
        return cls(**cls.fields(msg))

    @staticmethod
    def fields(msg: pb.Image) -> dict[str, Any]:
        """The constructor arguments from a ``convlens.v1.Image`` (results that embed one extend them)."""
        return dict(name=msg.name, data=bytes(msg.data), width=msg.width, height=msg.height,
                    format=msg.format or "png")

    @property
    def image(self) -> Any:
        """The picture as a PIL image (needs pillow)."""
        from PIL import Image  # optional dependency: only needed here

        return Image.open(io.BytesIO(self.data))

    @property
    def array(self) -> Any:
        """The picture as an HxWx3 uint8 numpy array (needs pillow and numpy)."""
        import numpy as np

        return np.asarray(self.image.convert("RGB"))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the encoded bytes as they came (the file's extension is not checked)."""
        out = Path(path)
        out.write_bytes(self.data)
        return out
