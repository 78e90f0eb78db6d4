"""Style results on the wire: the picture itself (JPEG at the request's quality), its pixels as npy, or JSON /
proto around its PNG."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from google.protobuf.message import Message

from convlens.core import images
from convlens.style.results import StyleTransferResult
from convlens.stylize.results import StylizeResult

from . import convlens_pb2 as pb
from .messages import Wire, base64_text, png_image

S = TypeVar("S", StyleTransferResult, StylizeResult)


@dataclass(frozen=True)
class StyleWire(Wire[S]):
    """The stylized image is the picture; `quality` is the JPEG quality of a jpeg answer."""

    quality: int = 90

    def picture(self, result: S, fmt: str) -> np.ndarray:
        return result.image

    def picture_bytes(self, result: S, fmt: str) -> bytes:
        if fmt == "jpeg":
            return images.encode_jpeg(result.image, quality=self.quality)
        return images.encode_png(result.image)

    def array(self, result: S) -> np.ndarray:
        return result.image

    @staticmethod
    def with_image(result: S, **fields: Any) -> dict[str, Any]:
        """A JSON body: the image's size, `fields`, then the image itself as base64 PNG."""
        h, w = result.image.shape[:2]
        return {"width": w, "height": h, **fields, "image": base64_text(images.encode_png(result.image)),
                "image_format": "png"}


@dataclass(frozen=True)
class StyleTransferWire(StyleWire[StyleTransferResult]):
    """The optimized picture with its losses before and after, its pass sizes and style blend."""

    response_field = "style_transfer"

    def json(self, result: StyleTransferResult) -> dict[str, Any]:
        return self.with_image(result, steps=result.steps, seconds=result.seconds, sizes=result.sizes,
                               start_losses=result.start_losses, final_losses=result.final_losses,
                               style_weights=result.style_weights, backbone=result.backbone)

    def message(self, result: StyleTransferResult) -> Message:
        return pb.StyleTransferResult(
            image=png_image(result.image, "stylized"), steps=result.steps, seconds=result.seconds,
            sizes=result.sizes, start_losses=result.start_losses, final_losses=result.final_losses,
            style_weights=result.style_weights, backbone=result.backbone)


@dataclass(frozen=True)
class StylizeWire(StyleWire[StylizeResult]):
    """The stylized picture with the network that ran, its blend, seconds and tiles."""

    response_field = "stylize"

    def json(self, result: StylizeResult) -> dict[str, Any]:
        return self.with_image(result, model=result.model, styles=result.styles, weights=result.weights,
                               seconds=result.seconds, tiles=result.tiles)

    def message(self, result: StylizeResult) -> Message:
        return pb.StylizeResult(image=png_image(result.image, "stylized"), model=result.model,
                                styles=result.styles, weights=result.weights, seconds=result.seconds,
                                tiles=result.tiles)


WIRES: dict[type, type[Wire[Any]]] = {StyleTransferResult: StyleTransferWire, StylizeResult: StylizeWire}
