"""Property-based tests (hypothesis) of the two parsers of untrusted input: request fields and image bytes.

Whatever arrives, parse raises only ConvLensError subclasses and decode_image only InvalidImage/TooLarge,
valid values round-trip, and no header makes the decoder allocate past its pixel limit.
"""
from __future__ import annotations

import io
import resource
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from convlens.core import images
from convlens.core.errors import ConvLensError, InvalidImage, TooLarge
from serving.specs import SPECS, parse

FAST = settings(max_examples=80, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
LIMITS = images.ImageLimits(max_bytes=1 << 20, max_pixels=1 << 20, max_side=4096)

# --- the parameter parser -------------------------------------------------------------------------------------

KNOWN_FIELDS = sorted({"image", "body", "data", "topk", "format", "backbone", "target", "method", "size", "view",
                       "colormap", "layer", "channel"})
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300), st.binary(max_size=300),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-1", "0", "3.5", "１２", " 7 ", "0x10", "tabby", "proto"]))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=2))
field_maps = st.dictionaries(st.one_of(st.sampled_from(KNOWN_FIELDS), st.text(max_size=12)), values, max_size=8)


@FAST
@given(task=st.sampled_from(sorted(SPECS)), raw=field_maps)
def test_parse_raises_only_convlens_errors(task, raw):
    try:
        parse(task, raw)
    except ConvLensError as error:
        assert 400 <= error.code < 500 and error.type and error.message
        assert error.field is None or isinstance(error.field, str)


@FAST
@given(image=st.binary(min_size=1, max_size=64), topk=st.integers(1, 100), as_type=st.sampled_from([str, bytes, int]),
       fmt=st.sampled_from(["json", "proto", "JSON"]))
def test_classify_params_round_trip(image, topk, as_type, fmt):
    raw_topk = {str: str(topk), bytes: str(topk).encode(), int: topk}[as_type]
    p = parse("classify", {"image": image, "topk": raw_topk, "format": fmt})
    assert (p.image, p.topk, p.format) == (image, topk, fmt.lower())


@FAST
# sizes up to 384: above it the multi-pass methods' default sample/step counts pass the work cap (a 413, tested apart)
@given(image=st.binary(min_size=1, max_size=64), size=st.integers(32, 384),
       target=st.one_of(st.integers(0, 999), st.sampled_from(["tabby", "Egyptian cat", "tiger cat"])),
       method=st.sampled_from(SPECS["saliency"].choices("method")), view=st.sampled_from(["heatmap", "overlay"]),
       fmt=st.sampled_from(["png", "jpeg", "json", "npy", "proto"]))
def test_saliency_params_round_trip(image, size, target, method, view, fmt):
    p = parse("saliency", {"image": image, "size": str(size), "target": str(target).encode(),
                                  "method": method, "view": view, "format": fmt})
    assert (p.image, p.size, p.target, p.method, p.view, p.format) == (image, size, target, method, view, fmt)


@FAST
@given(value=st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20)))
def test_integers_outside_the_range_always_name_their_field(value):
    try:
        topk = parse("classify", {"image": b"x", "topk": value}).topk
    except ConvLensError as error:
        assert error.field == "topk" and error.code == 400
    else:
        assert 1 <= topk <= 100 and isinstance(topk, int)


# --- the image decoder ----------------------------------------------------------------------------------------


def _encoded(fmt: str, mode: str = "RGB", size=(24, 16), **kw) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


SEEDS = [_encoded("PNG"), _encoded("JPEG"), _encoded("GIF", "P"), _encoded("BMP"), _encoded("TIFF"),
         _encoded("WEBP"), _encoded("PNG", "RGBA"), _encoded("JPEG", "CMYK"), _encoded("PNG", "I;16"),
         _encoded("PNG", "P"), _encoded("TIFF", "I;16")]


def _decode_or_reject(data: bytes) -> Image.Image | None:
    try:
        image = images.decode_image(data, limits=LIMITS)
    except (InvalidImage, TooLarge) as error:
        assert error.field == "image" and error.code in (400, 413)
        return None
    assert image.mode == "RGB" and 0 < image.width * image.height <= LIMITS.max_pixels
    assert max(image.size) <= LIMITS.max_side
    return image


@pytest.fixture(scope="module")
def bounded_peak_memory():
    """No input may make the decoder allocate more than a few dozen MiB (limits are 1 Mpx here)."""
    for seed in SEEDS:  # warm up Pillow's plugins and buffers first
        _decode_or_reject(seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 64, f"peak RSS grew by {grown_mib:.0f} MiB while decoding hostile images"


@FAST
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_decode_or_are_rejected(bounded_peak_memory, data):
    _decode_or_reject(data)


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            data = data[:at]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        else:
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at:at + len(chunk)] = chunk
    return bytes(data)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_mutated_images_decode_or_are_rejected(bounded_peak_memory, data):
    _decode_or_reject(data)


def _png_header(width: int, height: int, bit_depth: int, color: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@FAST
@given(width=st.integers(0, 2**31 - 1), height=st.integers(0, 2**31 - 1),
       depth_color=st.sampled_from([(8, 2), (8, 6), (16, 2), (8, 0), (1, 0), (8, 3), (16, 6)]))
def test_png_headers_of_any_size_never_allocate_their_pixels(bounded_peak_memory, width, height, depth_color):
    data = _png_header(width, height, *depth_color)
    over = width > LIMITS.max_side or height > LIMITS.max_side or width * height > LIMITS.max_pixels
    image = _decode_or_reject(data)
    if over:
        assert image is None  # rejected from the header alone (the IDAT here holds 64 bytes)


@FAST
@given(width=st.integers(1, 65535), height=st.integers(1, 65535))
def test_gif_headers_of_any_size_are_checked_before_decoding(bounded_peak_memory, width, height):
    data = _encoded("GIF", "P", size=(4, 4))
    data = data[:6] + struct.pack("<HH", width, height) + data[10:]  # logical screen size
    _decode_or_reject(data)
