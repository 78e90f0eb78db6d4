"""Encoders of the style endpoints: the picture itself, or JSON / npy / a typed protobuf around it."""
from __future__ import annotations

import base64

import numpy as np

from convlens.core import colormaps, images
from convlens.style.transfer import TransferResult

from . import convlens_pb2 as pb
from .responses import CONTENT_TYPES, json_bytes


def _encoded(pixels: np.ndarray, fmt: str, quality: int) -> tuple[bytes, str]:
    if fmt == "jpeg":
        return images.encode_jpeg(pixels, quality=quality), "jpeg"
    return images.encode_png(pixels), "png"


def encode_style_transfer(result: TransferResult, fmt: str, quality: int, weights: list[float],
                          backbone: str) -> tuple[bytes, str]:
    pixels = result.image
    h, w = pixels.shape[:2]
    if fmt in ("png", "jpeg"):
        return _encoded(pixels, fmt, quality)[0], CONTENT_TYPES[fmt]
    if fmt == "npy":
        return colormaps.npy_bytes(pixels), CONTENT_TYPES["npy"]
    data, kind = _encoded(pixels, "png", quality)
    if fmt == "proto":
        msg = pb.StyleTransferResult(
            image=pb.Image(data=data, format=kind, width=w, height=h, name="stylized"), steps=result.steps,
            seconds=result.seconds, sizes=result.sizes, start_losses=result.start, final_losses=result.final,
            style_weights=weights, backbone=backbone)
        return pb.Response(style_transfer=msg).SerializeToString(), CONTENT_TYPES["proto"]
    body = {"width": w, "height": h, "steps": result.steps, "seconds": result.seconds, "sizes": result.sizes,
            "start_losses": result.start, "final_losses": result.final, "style_weights": weights,
            "backbone": backbone, "image": base64.b64encode(data).decode(), "image_format": kind}
    return json_bytes(body), CONTENT_TYPES["json"]


def encode_stylized(pixels: np.ndarray, fmt: str, quality: int, model: str, styles: list[str],
                    weights: list[float], seconds: float, tiles: int) -> tuple[bytes, str]:
    h, w = pixels.shape[:2]
    if fmt in ("png", "jpeg"):
        return _encoded(pixels, fmt, quality)[0], CONTENT_TYPES[fmt]
    if fmt == "npy":
        return colormaps.npy_bytes(pixels), CONTENT_TYPES["npy"]
    data, kind = _encoded(pixels, "png", quality)
    if fmt == "proto":
        msg = pb.StylizeResult(image=pb.Image(data=data, format=kind, width=w, height=h, name="stylized"),
                               model=model, styles=styles, weights=weights, seconds=seconds, tiles=tiles)
        return pb.Response(stylize=msg).SerializeToString(), CONTENT_TYPES["proto"]
    body = {"width": w, "height": h, "model": model, "styles": styles, "weights": weights, "seconds": seconds,
            "tiles": tiles, "image": base64.b64encode(data).decode(), "image_format": kind}
    return json_bytes(body), CONTENT_TYPES["json"]
