"""Request fields: images and parameters turned into the flat map both transports send.

A field value is either text (a ``str``; numbers are written in decimal) or an :class:`ImageFile`
(encoded image bytes). Over HTTP text becomes a form field and an image a file part; over gRPC
both become the ``input`` map's bytes (text UTF-8 encoded).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Union

ImageInput = Any  # str | os.PathLike | bytes | PIL.Image.Image | numpy.ndarray (uint8)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
    (b"BM", "image/bmp", "bmp"),
)


@dataclass(frozen=True)
class ImageFile:
    """Encoded image bytes sent as a file part (HTTP) or raw bytes (gRPC)."""

    data: bytes
    filename: str = "image"
    content_type: str = "application/octet-stream"


FieldValue = Union[str, ImageFile]
Fields = dict[str, FieldValue]


def sniff(data: bytes) -> tuple[str, str]:
    """(content type, file extension) guessed from an encoded image's first bytes."""
    for magic, content_type, ext in _MAGIC:
        if data.startswith(magic):
            return content_type, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return "application/octet-stream", "bin"


def _is_pil_image(obj: Any) -> bool:
    """Whether ``obj`` is a PIL image (without importing PIL)."""
    return any(c.__module__.startswith("PIL.") and c.__name__ == "Image" for c in type(obj).__mro__)


def _is_ndarray(obj: Any) -> bool:
    """Whether ``obj`` is a numpy array (without importing numpy)."""
    return type(obj).__module__ == "numpy" and type(obj).__name__ == "ndarray"


def _png(picture: Any) -> bytes:
    """A PIL image encoded as PNG."""
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return buf.getvalue()


def _array_to_png(array: Any) -> bytes:
    """A uint8 HxW / HxWx3 / HxWx4 array encoded as PNG (needs pillow)."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("sending numpy arrays needs pillow: pip install 'convlens-client[images]'") from exc
    if str(array.dtype) != "uint8":
        raise TypeError(f"image arrays must be uint8 (got {array.dtype}); scale to 0..255 first")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"image arrays must be HxW, HxWx3 or HxWx4 (got shape {array.shape})")
    return _png(Image.fromarray(array))


def encode_image(image: ImageInput, name: str = "image") -> ImageFile:
    """Encoded bytes of an image given as a path, bytes, a PIL image or a uint8 numpy array.

    Paths and bytes are sent as they are (the server decodes them); PIL images and arrays are
    encoded to PNG, losslessly.
    """
    if isinstance(image, (str, os.PathLike)):
        path = Path(image).expanduser()
        data = path.read_bytes()
        return ImageFile(data, path.name, sniff(data)[0])
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        content_type, ext = sniff(data)
        return ImageFile(data, f"{name}.{ext}", content_type)
    if _is_pil_image(image):
        return ImageFile(_png(image), f"{name}.png", "image/png")
    if _is_ndarray(image):
        return ImageFile(_array_to_png(image), f"{name}.png", "image/png")
    raise TypeError(
        f"unsupported image type {type(image).__name__}: "
        "use a path, bytes, a PIL image or a uint8 numpy array"
    )


def is_image(value: Any) -> bool:
    """Whether a field value is image data (bytes, a path object, a PIL image or an array)."""
    return (
        isinstance(value, (bytes, bytearray, memoryview, os.PathLike, ImageFile))
        or _is_pil_image(value)
        or _is_ndarray(value)
    )


def encode_text(value: Any) -> str:
    """A parameter as text: numbers in plain decimal, booleans as true/false, lists comma-joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"numbers must be finite (got {value!r})")
        return format(Decimal(repr(value)), "f")  # repr is exact; "f" avoids 1e-05 notation
    if isinstance(value, (list, tuple)):
        return ",".join(encode_text(v) for v in value)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # numpy scalar
        return encode_text(value.item())
    raise TypeError(f"unsupported field value type {type(value).__name__}")


def build_fields(images: Mapping[str, ImageInput], params: Mapping[str, Any]) -> Fields:
    """The request map: ``images`` are encoded as images; in ``params`` image-like values are
    images too and everything else is text. ``None`` values are left out."""
    fields: Fields = {}
    for name, image in images.items():
        if image is not None:
            fields[name] = image if isinstance(image, ImageFile) else encode_image(image, name)
    for name, value in params.items():
        if value is None:
            continue
        if name in fields:
            raise ValueError(f"field '{name}' given twice")
        if isinstance(value, ImageFile):
            fields[name] = value
        elif is_image(value):
            fields[name] = encode_image(value, name)
        else:
            fields[name] = encode_text(value)
    return fields
