"""A corpus of hostile and unusual images, generated in memory (nothing binary is committed).

Bombs are crafted header bytes: the pixels they declare are never allocated, here or (if the server is right)
in the worker. Every generator is deterministic.
"""
from __future__ import annotations

import io
import pickle
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage import data

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


CAT_IMAGE = Image.fromarray(data.chelsea())  # 451 x 300, RGB
CAT_JPEG = encode(CAT_IMAGE, "JPEG", quality=92)
CAT_PNG = encode(CAT_IMAGE, "PNG")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG header declaring width x height RGB pixels, with a tiny compressed payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + \
        png_chunk(b"IEND", b"")


def gif_bomb(width: int, height: int) -> bytes:
    """A GIF whose logical screen and first image descriptor declare width x height pixels."""
    small = encode(Image.new("P", (4, 4)), "GIF")
    screen = small[:6] + struct.pack("<HH", width, height) + small[10:]
    at = screen.index(b"\x2c")  # image descriptor: separator, left, top, width, height
    return screen[:at + 5] + struct.pack("<HH", width, height) + screen[at + 9:]


def png16_rgb(image: Image.Image) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), samples = 8-bit value * 257."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint16) * 257
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)
    ihdr = struct.pack(">IIBBBBB", image.width, image.height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows)) + \
        png_chunk(b"IEND", b"")


def exif_rotated_jpeg() -> bytes:
    """The cat stored rotated a quarter turn with EXIF Orientation=6 (rotate 90 CW to view): upright when applied."""
    stored = CAT_IMAGE.transpose(Image.Transpose.ROTATE_90)  # 300 x 451 on disk
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes())


def animated_gif() -> bytes:
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 451, 3), dtype=np.uint8))
    return encode(CAT_IMAGE, "GIF", save_all=True, append_images=[noise], duration=100, loop=0)


def rgba_png() -> bytes:
    rgba = CAT_IMAGE.convert("RGBA")
    alpha = np.full((300, 451), 255, np.uint8)
    alpha[:, :40] = 0  # a transparent border
    rgba.putalpha(Image.fromarray(alpha))
    return encode(rgba, "PNG")


def corrupted_png() -> bytes:
    data_ = bytearray(CAT_PNG)
    at = data_.index(b"IDAT") + 200
    data_[at:at + 64] = bytes(64)  # zeroed compressed data: CRC and zlib stream both broken
    return bytes(data_)


def jpeg_without_header() -> bytes:
    data_ = bytearray(CAT_JPEG)
    data_[2:600] = np.random.default_rng(1).integers(0, 255, 598, dtype=np.uint8).tobytes()
    return bytes(data_)


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@dataclass(frozen=True)
class Case:
    """One image of the corpus: its bytes, and the error it must get (code, type) or None for a correct result."""

    name: str
    make: Callable[[], bytes]
    code: int | None = None
    type: str | None = None
    filename: str = "upload.jpg"


BAD_IMAGES = [
    Case("empty", lambda: b"", 400, "InvalidParameter"),
    Case("truncated_png", lambda: CAT_PNG[: len(CAT_PNG) // 2], 400, "InvalidImage", "cat.png"),
    Case("truncated_jpeg", lambda: CAT_JPEG[: len(CAT_JPEG) // 2], 400, "InvalidImage"),
    Case("corrupted_png", corrupted_png, 400, "InvalidImage", "cat.png"),
    Case("jpeg_with_garbage_header", jpeg_without_header, 400, "InvalidImage"),
    Case("text_named_jpg", lambda: b"Dear server, this is not a picture.\n" * 20, 400, "InvalidImage"),
    Case("html_error_page", lambda: b"<html><body>404 Not Found</body></html>", 400, "InvalidImage"),
    Case("svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', 400, "InvalidImage"),
    Case("pickle_payload", lambda: pickle.dumps(_Payload()), 400, "InvalidImage"),
    Case("png_bomb_1x100000", lambda: png_bomb(1, 100_000), 413, "TooLarge", "bomb.png"),
    Case("png_bomb_30000x30000", lambda: png_bomb(30_000, 30_000), 413, "TooLarge", "bomb.png"),
    Case("gif_bomb_30000x30000", lambda: gif_bomb(30_000, 30_000), 413, "TooLarge", "bomb.gif"),
    Case("over_32_mib", lambda: CAT_PNG + bytes(33 * 1024 * 1024), 413, "TooLarge", "huge.png"),
]

UNUSUAL_IMAGES = [  # merely unusual: each must give a correct result
    Case("one_pixel", lambda: encode(Image.new("RGB", (1, 1), (120, 80, 40)), "PNG"), filename="dot.png"),
    Case("cmyk_jpeg", lambda: encode(CAT_IMAGE.convert("CMYK"), "JPEG", quality=92)),
    Case("rgb16_png", lambda: png16_rgb(CAT_IMAGE), filename="cat16.png"),
    Case("palette_png", lambda: encode(CAT_IMAGE.quantize(256), "PNG"), filename="cat.png"),
    Case("rgba_png", rgba_png, filename="cat.png"),
    Case("exif_rotated_jpeg", exif_rotated_jpeg),
    Case("animated_gif", animated_gif, filename="cat.gif"),
    Case("grayscale_jpeg", lambda: encode(CAT_IMAGE.convert("L"), "JPEG")),
    Case("webp", lambda: encode(CAT_IMAGE, "WEBP", quality=90), filename="cat.webp"),
]
