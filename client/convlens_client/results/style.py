"""Typed results of the style endpoints: a picture plus what made it."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._proto import convlens_pb2 as pb
from .core import ImageResult


@dataclass(frozen=True)
class StyleTransferResult(ImageResult):
    """`style_transfer`: the optimized picture and its loss terms at the start and at the end."""

    steps: int = 0
    seconds: float = 0.0
    sizes: list[int] = field(default_factory=list)
    start_losses: dict[str, float] = field(default_factory=dict)
    final_losses: dict[str, float] = field(default_factory=dict)
    style_weights: list[float] = field(default_factory=list)
    backbone: str = ""

    @classmethod
    def from_proto(cls, msg: pb.StyleTransferResult) -> StyleTransferResult:
        """From a ``convlens.v1.StyleTransferResult``."""
        return cls(**ImageResult.fields(msg.image), steps=msg.steps, seconds=msg.seconds, sizes=list(msg.sizes),
                   start_losses=dict(msg.start_losses), final_losses=dict(msg.final_losses),
                   style_weights=list(msg.style_weights), backbone=msg.backbone)


@dataclass(frozen=True)
class StylizeResult(ImageResult):
    """`stylize`: the stylized picture, the network that ran and the style blend it used."""

    model: str = ""
    styles: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    seconds: float = 0.0
    tiles: int = 1

    @classmethod
    def from_proto(cls, msg: pb.StylizeResult) -> StylizeResult:
        """From a ``convlens.v1.StylizeResult``."""
        return cls(**ImageResult.fields(msg.image), model=msg.model, styles=list(msg.styles),
                   weights=list(msg.weights), seconds=msg.seconds, tiles=msg.tiles)
