"""Typed results of the synthesis endpoints (classviz, fooling, inversion, deepdream, texture)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._proto import convlens_pb2 as pb
from .core import ImageResult, Prediction


@dataclass(frozen=True)
class SynthesisResult:
    """What a synthesis endpoint made: pictures (the main one first) and numbers.

    ``metrics`` by technique: classviz ``initial_score``, ``final_score``, ``target_probability``; fooling
    ``classify_probability`` (what ``classify`` answers for the fooled PNG), ``target_probability`` (on the
    optimized view), ``linf``, ``l2`` (pixels in [0, 1]), ``linf_levels``; inversion ``psnr``, ``ssim``,
    ``feature_loss``; deepdream ``activation_norm_before``/``after``; texture ``style_loss``,
    ``initial_style_loss``, ``near_pure_share``, ``sample_near_pure_share``, ``palette_distance``.
    """

    technique: str
    images: list[ImageResult]
    metrics: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    converged: bool = True
    backbone: str = ""
    layer: str | None = None
    seed: int = 0
    original: list[Prediction] = field(default_factory=list)
    predicted: list[Prediction] = field(default_factory=list)

    @classmethod
    def from_proto(cls, msg: pb.SynthesisResult) -> SynthesisResult:
        """From a ``convlens.v1.SynthesisResult``."""
        return cls(
            technique=msg.technique,
            images=[ImageResult.from_proto(i) for i in msg.images],
            metrics=dict(msg.metrics),
            steps=msg.steps,
            converged=msg.converged,
            backbone=msg.backbone,
            layer=msg.layer or None,
            seed=msg.seed,
            original=[Prediction.from_proto(p) for p in msg.original],
            predicted=[Prediction.from_proto(p) for p in msg.predicted],
        )

    @property
    def first(self) -> ImageResult:
        """The main picture."""
        return self.images[0]

    @property
    def image(self) -> Any:
        """The main picture as a PIL image (needs pillow)."""
        return self.images[0].image

    def get(self, name: str) -> ImageResult:
        """The picture called ``name`` (e.g. ``"difference"`` from fooling)."""
        for image in self.images:
            if image.name == name:
                return image
        raise KeyError(f"no image named {name!r}; have {[i.name for i in self.images]}")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the main picture (PNG)."""
        return self.images[0].save(path)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (pictures by name and size, not their bytes)."""
        return {
            "technique": self.technique,
            "backbone": self.backbone,
            "layer": self.layer,
            "seed": self.seed,
            "steps": self.steps,
            "converged": self.converged,
            "metrics": self.metrics,
            "images": [{"name": i.name, "width": i.width, "height": i.height} for i in self.images],
            "original": [p.to_dict() for p in self.original],
            "predicted": [p.to_dict() for p in self.predicted],
        }
