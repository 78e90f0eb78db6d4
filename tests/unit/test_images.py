"""Tests for convlens.core.images: decoding untrusted bytes, limits, mode conversion and encoding."""
from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from convlens.core import images
from convlens.core.errors import InvalidImage, TooLarge

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)
PALETTE8 = np.array(
    [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255],
     [255, 0, 255], [200, 100, 50]],
    dtype=np.uint8,
)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """Save a PIL image to bytes with Pillow directly (independent of the code under test)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload and CRC-32 over type + payload."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def crafted_png(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height RGB pixels but whose IDAT holds a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def eight_colour_image(height: int = 12, width: int = 10) -> np.ndarray:
    """A deterministic HxWx3 image of 8 colours, so even GIF stores it exactly."""
    index = np.random.default_rng(7).integers(0, len(PALETTE8), (height, width))
    return PALETTE8[index]


def smooth_image(height: int = 32, width: int = 32) -> np.ndarray:
    """A smooth gradient, which lossy codecs reproduce closely."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 2], -1).astype(
        np.uint8
    )


def pixels(image: Image.Image) -> np.ndarray:
    """The decoded image as an int array, for arithmetic in assertions."""
    return np.asarray(image).astype(int)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True}), ("GIF", {})],
)
def test_lossless_formats_round_trip_exactly(fmt: str, options: dict) -> None:
    array = eight_colour_image()
    decoded = images.decode_image(encode(Image.fromarray(array), fmt, **options))
    assert decoded.mode == "RGB"
    assert decoded.size == (10, 12)
    np.testing.assert_array_equal(np.asarray(decoded), array)


@pytest.mark.parametrize(("fmt", "options"), [("JPEG", {"quality": 95}), ("WEBP", {"quality": 95})])
def test_lossy_formats_round_trip_closely(fmt: str, options: dict) -> None:
    array = smooth_image()
    decoded = images.decode_image(encode(Image.fromarray(array), fmt, **options))
    assert decoded.mode == "RGB" and decoded.size == (32, 32)
    assert np.abs(pixels(decoded) - array).mean() < 3


def test_supported_formats_constant() -> None:
    assert images.SUPPORTED_FORMATS == ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


def test_one_by_one_image() -> None:
    decoded = images.decode_image(encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"))
    assert decoded.size == (1, 1)
    assert decoded.getpixel((0, 0)) == (1, 2, 3)


def test_decoded_image_is_loaded_and_detached_from_the_buffer() -> None:
    decoded = images.decode_image(encode(Image.fromarray(eight_colour_image()), "PNG"))
    assert getattr(decoded, "fp", None) is None
    assert decoded.getpixel((0, 0)) == tuple(eight_colour_image()[0, 0])


def test_bytearray_and_memoryview_are_accepted() -> None:
    data = encode(Image.new("RGB", (2, 2), RED), "PNG")
    assert images.decode_image(bytearray(data)).getpixel((1, 1)) == RED
    assert images.decode_image(memoryview(data)).getpixel((1, 1)) == RED


# ---------------------------------------------------------------- orientation and frames


def exif_image(
    orientation: int, width: int = 16, height: int = 8
) -> tuple[Image.Image, Image.Exif]:
    """A black image with a red top-left quarter, plus EXIF carrying the given orientation."""
    array = np.zeros((height, width, 3), np.uint8)
    array[: height // 2, : width // 2] = RED
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = orientation
    return image, exif


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG"])
def test_exif_orientation_6_rotates_clockwise(fmt: str) -> None:
    image, exif = exif_image(6)
    options = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
    decoded = images.decode_image(encode(image, fmt, exif=exif, **options))
    assert decoded.size == (8, 16)  # width and height swap
    top_right, top_left = pixels(decoded)[0, -1], pixels(decoded)[0, 0]
    assert np.abs(top_right - RED).max() <= 8  # stored top-left ends up top-right
    assert np.abs(top_left - (0, 0, 0)).max() <= 8


def test_exif_orientation_3_rotates_half_a_turn() -> None:
    image, exif = exif_image(3)
    decoded = images.decode_image(encode(image, "PNG", exif=exif))
    assert decoded.size == (16, 8)
    assert decoded.getpixel((15, 7)) == RED and decoded.getpixel((0, 0)) == (0, 0, 0)


def test_out_of_range_orientation_leaves_the_image_as_stored() -> None:
    image, exif = exif_image(99)
    decoded = images.decode_image(encode(image, "PNG", exif=exif))
    assert decoded.size == (16, 8) and decoded.getpixel((0, 0)) == RED


@pytest.mark.parametrize(
    ("fmt", "options"), [("GIF", {}), ("PNG", {}), ("WEBP", {"lossless": True})]
)
def test_animated_images_use_the_first_frame(fmt: str, options: dict) -> None:
    frames = [Image.new("RGB", (4, 4), RED), Image.new("RGB", (4, 4), BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, **options)
    assert Image.open(io.BytesIO(data)).n_frames == 2  # really animated
    decoded = images.decode_image(data)
    assert decoded.size == (4, 4)
    assert decoded.getpixel((2, 2)) == RED


# ---------------------------------------------------------------- pixel modes


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk_converts_to_rgb(fmt: str) -> None:
    data = encode(Image.new("CMYK", (4, 4), (0, 255, 255, 0)), fmt)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert np.abs(pixels(images.decode_image(data))[1, 1] - RED).max() <= 2


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency_becomes_white(fmt: str) -> None:
    image = Image.new("P", (2, 2), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((0, 0), 1)
    data = encode(image, fmt, transparency=1)
    assert Image.open(io.BytesIO(data)).mode == "P"
    decoded = images.decode_image(data)
    assert decoded.getpixel((0, 0)) == WHITE  # transparent index
    assert decoded.getpixel((1, 1)) == RED


def test_palette_without_transparency() -> None:
    image = Image.new("P", (2, 2), 1)
    image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    assert images.decode_image(encode(image, "PNG")).getpixel((0, 0)) == (10, 20, 30)


@pytest.mark.parametrize(
    ("fmt", "options"), [("PNG", {}), ("TIFF", {}), ("WEBP", {"lossless": True})]
)
def test_rgba_is_composited_over_white(fmt: str, options: dict) -> None:
    rgba = np.array([[[255, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 128]]], np.uint8)
    decoded = images.decode_image(encode(Image.fromarray(rgba), fmt, **options))
    assert decoded.getpixel((0, 0)) == WHITE  # fully transparent -> white
    assert decoded.getpixel((1, 0)) == RED  # opaque stays
    assert all(abs(v - 127) <= 1 for v in decoded.getpixel((2, 0)))  # half black over white


def test_la_is_composited_over_white() -> None:
    la = Image.merge("LA", [Image.new("L", (2, 1), 100), Image.frombytes("L", (2, 1), b"\x00\xff")])
    decoded = images.decode_image(encode(la, "PNG"))
    assert decoded.getpixel((0, 0)) == WHITE and decoded.getpixel((1, 0)) == (100, 100, 100)


@pytest.mark.parametrize(("mode", "colour", "other"), [("RGB", (1, 2, 3), (9, 9, 9)), ("L", 7, 9)])
def test_png_trns_colour_key_becomes_white(mode: str, colour: object, other: object) -> None:
    image = Image.new(mode, (2, 1), colour)  # type: ignore[arg-type]  # an int or a tuple, by mode
    image.putpixel((1, 0), other)  # type: ignore[arg-type]  # an int or a tuple, by mode
    decoded = images.decode_image(encode(image, "PNG", transparency=colour))
    assert decoded.getpixel((0, 0)) == WHITE and decoded.getpixel((1, 0)) == (9, 9, 9)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_gradient_scales_by_bit_depth(fmt: str) -> None:
    gradient = np.tile(np.round(np.linspace(0, 65535, 256)).astype(np.uint16), (2, 1))
    data = encode(Image.fromarray(gradient), fmt)
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    decoded = np.asarray(images.decode_image(data))
    np.testing.assert_array_equal(decoded[0, :, 0], np.arange(256))  # not clipped at 255
    assert (decoded[..., 0] == decoded[..., 2]).all()


def test_16_bit_big_endian_and_int32_modes() -> None:
    gradient = np.round(np.linspace(0, 65535, 256)).astype(">u2").reshape(1, 256)
    image = Image.fromarray(gradient)
    assert image.mode == "I;16B"
    np.testing.assert_array_equal(images.to_uint8_array(image)[0, :, 0], np.arange(256))
    as_int32 = Image.fromarray(gradient.astype(np.int32))
    assert as_int32.mode == "I"
    np.testing.assert_array_equal(images.to_uint8_array(as_int32)[0, :, 0], np.arange(256))


def test_float_images() -> None:
    ramp = np.array([[0.0, 0.25, 0.5, 0.75, 1.0]], np.float32)
    expected = [0, 64, 128, 191, 255]
    decoded = images.decode_image(encode(Image.fromarray(ramp), "TIFF"))
    np.testing.assert_array_equal(np.asarray(decoded)[0, :, 0], expected)  # [0, 1] -> x 255
    wide = Image.fromarray(ramp * 8 - 4)  # -4 .. 4 is min-max stretched
    np.testing.assert_array_equal(images.to_uint8_array(wide)[0, :, 1], expected)


@pytest.mark.parametrize("mode", ["L", "1", "YCbCr", "HSV", "RGBX", "LAB"])
def test_other_modes_convert_to_rgb(mode: str) -> None:
    array = images.to_uint8_array(Image.new("RGB", (3, 2), (255, 255, 255)).convert(mode))
    assert array.shape == (2, 3, 3) and array.dtype == np.uint8 and array.flags.writeable


def test_to_uint8_array_of_rgb_is_a_copy() -> None:
    image = Image.new("RGB", (2, 2), RED)
    array = images.to_uint8_array(image)
    array[0, 0] = 0
    assert image.getpixel((0, 0)) == RED


# ---------------------------------------------------------------- limits


def test_decompression_bomb_header_is_rejected_fast_without_allocating() -> None:
    data = crafted_png(30000, 30000)
    images.decode_image(crafted_png(2, 2), limits=images.ImageLimits())  # warm plugin imports
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(TooLarge) as info:
        images.decode_image(data, field="content")
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert info.value.field == "content" and info.value.code == 413
    assert elapsed < 0.2
    assert peak < 5_000_000


def test_pillow_bomb_error_becomes_too_large_even_with_generous_limits() -> None:
    generous = images.ImageLimits(max_pixels=10**10, max_side=10**6)
    with pytest.raises(TooLarge):
        images.decode_image(crafted_png(30000, 30000), limits=generous)


def test_header_over_our_pixel_limit_is_rejected_before_decoding() -> None:
    tracemalloc.start()
    with pytest.raises(TooLarge, match="49000000 pixels"):
        images.decode_image(crafted_png(7000, 7000))  # under Pillow's own bomb threshold
    assert tracemalloc.get_traced_memory()[1] < 5_000_000
    tracemalloc.stop()
    with pytest.raises(TooLarge):
        images.decode_image(crafted_png(11, 10), limits=images.ImageLimits(max_pixels=100))
    ten_by_ten = encode(Image.new("RGB", (10, 10)), "PNG")
    assert images.decode_image(ten_by_ten, limits=images.ImageLimits(max_pixels=100))


def test_long_side_over_max_side_is_too_large() -> None:
    data = encode(Image.new("L", (100000, 1)), "PNG")
    with pytest.raises(TooLarge, match="100000x1"):
        images.decode_image(data, field="style", limits=images.ImageLimits(max_side=1000))
    with pytest.raises(TooLarge):
        images.decode_image(data)  # the default max_side is 16384


def test_bytes_over_max_bytes_is_too_large() -> None:
    data = encode(Image.fromarray(eight_colour_image()), "PNG")
    with pytest.raises(TooLarge) as info:
        images.decode_image(data, field="image", limits=images.ImageLimits(max_bytes=len(data) - 1))
    assert info.value.field == "image" and info.value.to_dict()["type"] == "TooLarge"
    assert images.decode_image(data, limits=images.ImageLimits(max_bytes=len(data)))


# ---------------------------------------------------------------- invalid input


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"])
def test_first_half_of_a_file_is_invalid(fmt: str) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    with pytest.raises(InvalidImage) as info:
        images.decode_image(data[: len(data) // 2], field="content_image")
    assert info.value.field == "content_image" and info.value.code == 400
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    "data", [b"", b"hello, this is a text file\n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"]
)
def test_empty_text_and_header_only_bytes_are_invalid(data: bytes) -> None:
    with pytest.raises(InvalidImage) as info:
        images.decode_image(data, field="content_image")
    assert info.value.field == "content_image"


def test_text_error_lists_supported_formats() -> None:
    with pytest.raises(InvalidImage, match="PNG, JPEG, WEBP, GIF, BMP, TIFF"):
        images.decode_image(b"GET / HTTP/1.1\r\n\r\n")


@pytest.mark.parametrize("data", [None, "a string", 42, [1, 2]])
def test_non_bytes_are_invalid(data: object) -> None:
    with pytest.raises(InvalidImage) as info:
        images.decode_image(data, field="f")  # type: ignore[arg-type]  # wrong types on purpose
    assert info.value.field == "f"


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "TGA", "PCX"])
def test_formats_pillow_knows_but_we_do_not_support(fmt: str) -> None:
    with pytest.raises(InvalidImage, match="supported format"):
        images.decode_image(encode(Image.new("RGB", (16, 16), RED), fmt))


# ---------------------------------------------------------------- encoding


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 1)])
def test_encode_png_round_trips_arrays(shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    data = images.encode_png(array)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    expected = array.reshape(5, 7, -1) * np.ones((1, 1, 3), np.uint8)
    np.testing.assert_array_equal(np.asarray(images.decode_image(data)), expected)


def test_encode_png_keeps_alpha_and_decode_composites_it() -> None:
    rgba = np.array([[[255, 0, 0, 0], [0, 0, 255, 255]]], np.uint8)
    data = images.encode_png(rgba, compress_level=9)
    assert Image.open(io.BytesIO(data)).mode == "RGBA"
    assert images.decode_image(data).getpixel((0, 0)) == WHITE


def test_encode_jpeg_and_encode_image() -> None:
    array = smooth_image()
    jpeg = images.encode_jpeg(array, quality=95)
    assert jpeg.startswith(b"\xff\xd8") and Image.open(io.BytesIO(jpeg)).format == "JPEG"
    assert np.abs(pixels(images.decode_image(jpeg)) - array).mean() < 3
    assert images.encode_image(array, "JPG").startswith(b"\xff\xd8")
    assert images.encode_image(Image.fromarray(array), "png").startswith(b"\x89PNG")
    assert images.encode_jpeg(Image.new("RGBA", (2, 2), (0, 0, 0, 0))).startswith(b"\xff\xd8")
    assert images.encode_png(Image.new("CMYK", (2, 2))).startswith(b"\x89PNG")


def test_encode_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        images.encode_image(np.zeros((2, 2), np.uint8), "gif")
    with pytest.raises(ValueError):
        images.encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        images.encode_png(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError):
        images.encode_jpeg(np.zeros((2, 2), np.uint8), quality=0)
    with pytest.raises(TypeError):
        images.encode_png([[0, 1]])  # type: ignore[arg-type]  # a list, not an array, on purpose


# ---------------------------------------------------------------- properties

SMALL = images.ImageLimits(max_bytes=1 << 16, max_pixels=4096, max_side=256)
SEEDS = [
    encode(Image.fromarray(eight_colour_image(8, 8)), fmt)
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
]


def assert_decodes_or_rejects(data: bytes, limits: images.ImageLimits) -> None:
    """decode_image either returns a loaded RGB image or raises one of our two errors."""
    try:
        decoded = images.decode_image(data, field="fuzz", limits=limits)
    except (InvalidImage, TooLarge) as error:
        assert error.field == "fuzz"
    else:
        assert decoded.mode == "RGB" and decoded.width * decoded.height <= limits.max_pixels


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_only_raise_our_errors(data: bytes) -> None:
    assert_decodes_or_rejects(data, images.DEFAULT_LIMITS)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.integers(1, 10_000),
)
def test_mutated_images_only_raise_our_errors(
    seed: bytes, edits: list[tuple[int, int]], keep: int
) -> None:
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    assert_decodes_or_rejects(bytes(data[:keep]), SMALL)


def test_jpeg_decodes_at_reduced_scale_when_only_a_small_side_is_needed():
    rng = np.random.default_rng(5)
    smooth = np.kron(rng.integers(0, 255, (25, 50, 3)), np.ones((40, 40, 1))).astype(np.uint8)  # 1000x2000
    buf = io.BytesIO()
    Image.fromarray(smooth).save(buf, format="JPEG", quality=95)
    full = images.decode_image(buf.getvalue())
    small = images.decode_image(buf.getvalue(), min_side=100)
    assert full.size == (2000, 1000)
    assert small.size == (250, 125)  # 1/8 scale: the smallest that keeps the shorter side >= 100
    reference = np.asarray(full.resize(small.size, Image.BOX), dtype=np.float64)
    assert np.abs(np.asarray(small, dtype=np.float64) - reference).mean() < 4
    assert images.decode_image(buf.getvalue(), min_side=400).size == (1000, 500)  # 1/2 scale
    assert images.decode_image(buf.getvalue(), min_side=600).size == (2000, 1000)  # 1/2 would be too small
    assert images.decode_image(buf.getvalue(), min_side=5000).size == (2000, 1000)  # never upscaled


def test_reduced_scale_decoding_keeps_exif_orientation():
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.new("RGB", (800, 400), (200, 30, 30)).save(buf, format="JPEG", exif=exif.tobytes())
    decoded = images.decode_image(buf.getvalue(), min_side=100)
    assert decoded.size == (100, 200)
