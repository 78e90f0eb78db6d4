"""Decode, validate and encode images; every untrusted byte string passes through decode_image.

Limits are checked from the header before any pixel is decoded, every Pillow failure becomes
InvalidImage or TooLarge, and every decoded image comes out as a fully loaded RGB image.
"""
from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from .errors import InvalidImage, TooLarge

__all__ = [
    "DEFAULT_LIMITS", "SUPPORTED_FORMATS", "ImageLimits", "decode_image",
    "encode_image", "encode_jpeg", "encode_png", "to_uint8_array",
]


@dataclass(frozen=True)
class ImageLimits:
    """Per-field bounds on an uploaded image, enforced before decoding the pixels."""

    max_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_side: int = 16384


DEFAULT_LIMITS = ImageLimits()
SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# Pillow's JPEG opener returns an "MPO" image for multi-picture JPEGs (common from phones).
_ACCEPTED_FORMATS = frozenset(SUPPORTED_FORMATS) | {"MPO"}
_SUPPORTED_TEXT = ", ".join(SUPPORTED_FORMATS)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})
_JPEG_MODES = frozenset({"L", "RGB"})

ImageLike = Image.Image | np.ndarray


def decode_image(
    data: bytes, field: str = "image", limits: ImageLimits = DEFAULT_LIMITS, min_side: int | None = None
) -> Image.Image:
    """Decode untrusted bytes into a loaded RGB image (first frame, EXIF-oriented) or raise.

    min_side: the caller only needs the shorter side to be at least this long, so a JPEG may be decoded at
    1/2, 1/4 or 1/8 scale in the DCT domain (a 12-megapixel phone photo decodes ~10x faster).
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise InvalidImage(field, f"expected image bytes, got {type(data).__name__}")
    if not data:
        raise InvalidImage(field, "the image is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise TooLarge(field, f"the image is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        with warnings.catch_warnings():
            # Our limits are the policy, not Pillow's bomb warning; and untrusted bytes must not
            # flood the logs with Pillow's "corrupt data" UserWarnings.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)
            image = _open_checked(data, field, limits, min_side)
            bits = _declared_bits(image)  # read before exif_transpose, whose copy drops TIFF tags
            rgb = _to_rgb(_orient(image), field, bits)
    except (InvalidImage, TooLarge):
        raise
    except Image.DecompressionBombError:
        # Pillow's own bomb check fires inside Image.open, before our limits see the size.
        raise TooLarge(
            field, f"the image header declares too many pixels; the limit is {limits.max_pixels}"
        ) from None
    except MemoryError:
        raise TooLarge(field, "the image is too large to decode in memory") from None
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, struct.error, ...)
        raise InvalidImage(field, f"the image is truncated or corrupted: {_short(exc)}") from None
    if rgb is image:  # never hand back the lazily opened file object itself
        rgb = rgb.copy()
    rgb.load()
    return rgb


def _orient(image: Image.Image) -> Image.Image:
    """Apply the EXIF Orientation tag; unreadable EXIF leaves the image as stored, not rejected."""
    try:
        oriented = ImageOps.exif_transpose(image)
    except Exception:  # broken EXIF is common in camera files and not worth a 400
        return image
    return oriented if oriented is not None else image


def _open_checked(data: bytes, field: str, limits: ImageLimits, min_side: int | None = None) -> Image.Image:
    """Open lazily, enforce format and size limits from the header, then load the first frame."""
    try:
        image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except Image.UnidentifiedImageError:
        raise InvalidImage(
            field, f"not a decodable image in a supported format ({_SUPPORTED_TEXT})"
        ) from None
    if image.format not in _ACCEPTED_FORMATS:
        raise InvalidImage(
            field, f"format {image.format} is not supported; use one of {_SUPPORTED_TEXT}"
        )
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImage(field, f"the image has an invalid size {width}x{height}")
    if width > limits.max_side or height > limits.max_side:
        raise TooLarge(
            field, f"the image is {width}x{height}; neither side may exceed {limits.max_side}"
        )
    if width * height > limits.max_pixels:
        raise TooLarge(
            field,
            f"the image has {width * height} pixels ({width}x{height}); "
            f"the limit is {limits.max_pixels}",
        )
    if min_side and image.format in ("JPEG", "MPO") and min_side < min(width, height):
        scale = min_side / min(width, height)  # draft keeps both sides >= the requested size
        image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))
    image.load()  # the default frame is the first one for GIF, APNG, WebP and multi-page TIFF
    return image


def _to_rgb(image: Image.Image, field: str | None = None, bits: int | None = None) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: alpha over white, high bit depths rescaled.

    bits is the integer bit depth the file declared, when known (else inferred from the mode).
    """
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_high_depth_to_uint8(image, bits)).convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = (image.convert("LA") if mode == "La" else image).convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise InvalidImage(field, f"unsupported pixel mode {mode}: {_short(exc)}") from None


def _high_depth_to_uint8(image: Image.Image, bits: int | None = None) -> np.ndarray:
    """Map 16/32-bit integer or float pixels to uint8 by their bit depth (no clipping at 255).

    Integers are divided by 2**bits - 1 for depths up to 16 bits (declared, else 16 for I;16
    and for I data within 0..65535); wider integers and floats outside [0, 1] are min-max
    stretched, and floats in [0, 1] are multiplied by 255.
    """
    values = np.asarray(image)
    if image.mode == "F":
        values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if values.min() >= 0.0 and values.max() <= 1.0:
            scaled = values * 255.0
        else:
            scaled = _stretch(values)
    else:
        values = values.astype(np.float64)
        bits = bits or _declared_bits(image)
        if bits is None and values.min() >= 0 and values.max() <= 65535:
            bits = 16
        if bits is not None and bits > 16:
            bits = None  # 32-bit data rarely spans its range; stretch it instead of blacking it out
        scaled = values * (255.0 / (2**bits - 1)) if bits else _stretch(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _declared_bits(image: Image.Image) -> int | None:
    """The bit depth the file declares (TIFF BitsPerSample), or 16 for Pillow's I;16 modes."""
    tags = getattr(image, "tag_v2", None)
    if tags is not None:
        declared = tags.get(258)
        if isinstance(declared, tuple):
            declared = declared[0] if declared else None
        if isinstance(declared, int) and 1 <= declared <= 32:
            return declared
    return 16 if image.mode.startswith("I;16") else None


def _stretch(values: np.ndarray) -> np.ndarray:
    """Linearly map the range of values onto 0..255 (a constant array maps to 0)."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values)
    return (values - low) * (255.0 / (high - low))


def to_uint8_array(image: Image.Image) -> np.ndarray:
    """Return the image as a writable, contiguous HxWx3 uint8 array (any mode is converted)."""
    return np.array(_to_rgb(image), dtype=np.uint8, copy=True)


def encode_png(image: ImageLike, compress_level: int = 1) -> bytes:
    """Encode as PNG; the low default compress_level favours latency over size."""
    if not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must be in 0..9, got {compress_level}")
    pil = _as_pil(image)
    if pil.mode not in _PNG_MODES:
        pil = _to_rgb(pil)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def encode_jpeg(image: ImageLike, quality: int = 90) -> bytes:
    """Encode as JPEG; alpha is composited over white because JPEG has none."""
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    pil = _as_pil(image)
    if pil.mode not in _JPEG_MODES:
        pil = _to_rgb(pil)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_image(image: ImageLike, fmt: str) -> bytes:
    """Encode in the named format: "png", "jpeg" or "jpg" (case-insensitive)."""
    name = fmt.lower() if isinstance(fmt, str) else ""
    if name == "png":
        return encode_png(image)
    if name in ("jpeg", "jpg"):
        return encode_jpeg(image)
    raise ValueError(f"unknown image format {fmt!r}; use 'png' or 'jpeg'")


def _as_pil(image: ImageLike) -> Image.Image:
    """Accept a PIL image or a uint8 HxW / HxWx3 / HxWx4 array and return a PIL image."""
    if isinstance(image, Image.Image):
        return image
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a PIL image or numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ValueError(f"expected an HxW, HxWx3 or HxWx4 array, got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"cannot encode an empty array of shape {image.shape}")
    return Image.fromarray(np.ascontiguousarray(image))  # infers L, RGB or RGBA


def _short(exc: BaseException, limit: int = 160) -> str:
    """A one-line, bounded description of a decoder exception for error messages."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
