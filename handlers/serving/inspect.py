"""Shared glue of the inspect endpoints' handlers: decoding several images into equal squares, layer defaults,
the wall-time budget and what `describe` adds."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convlens.core import inputs
from convlens.core.backbones import Backbone
from convlens.core.progress import Deadline

from .base import ConvLensHandler
from .specs.inspect import MAX_IMAGES


class InspectHandler(ConvLensHandler):
    """A ConvLensHandler with helpers for requests carrying several images."""

    def square(self, data: bytes, size: int, field: str) -> np.ndarray:
        """One image field -> the network input: shorter side resized to `size`, centre square (HxWx3 uint8)."""
        image = self.decode(data, min_side=size, field=field)
        return np.array(inputs.center_crop(inputs.resize_shorter_side(image, size), size))

    def squares(self, named: Sequence[tuple[str, bytes]], size: int) -> tuple[list[np.ndarray], list[str]]:
        """Decode every (name, bytes); errors name the field (`zip` for the members of a zip)."""
        pixels = [self.square(data, size, name.split(":", 1)[0]) for name, data in named]
        return pixels, [name for name, _ in named]

    @staticmethod
    def layer_or_default(backbone: Backbone, layer: str | None, patches: bool = False) -> str:
        """The named layer (400 listing the known ones when unknown), else the backbone's default for the use."""
        name = layer or (backbone.default_for("patches") if patches else backbone.default_layer)
        backbone.layer(name)
        return name

    def deadline(self) -> Deadline:
        """The request's wall-time budget (config `time_budget_s`), below TorchServe's response timeout."""
        return Deadline(self.config.time_budget_s, field="image")

    def describe(self) -> dict[str, Any]:
        assert self.backbone is not None
        return {**super().describe(), "max_images": MAX_IMAGES, "zip": True,
                "patch_layer": self.backbone.default_for("patches")}
