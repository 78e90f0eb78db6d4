"""Image inputs (path, bytes, PIL, numpy) and parameter encoding, end to end through both transports."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from client_fakes import classification, proto_reply
from convlens_client import Client
from convlens_client.inputs import build_fields, encode_image, encode_text, sniff

RGB = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) * 3


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("kind", ["str-path", "path", "bytes", "pil", "numpy", "numpy-gray"])
def test_image_inputs_reach_the_server_as_the_same_pixels(
    client: Client, backend, transport: str, tmp_path: Path, kind: str
) -> None:
    backend.reply = proto_reply(classification((1, "goldfish", 1.0, 2.0)))
    expected = RGB[:, :, 0] if kind == "numpy-gray" else RGB
    path = tmp_path / "cat.png"
    path.write_bytes(_png_bytes(RGB))
    image = {
        "str-path": str(path),
        "path": path,
        "bytes": path.read_bytes(),
        "pil": Image.fromarray(RGB),
        "numpy": RGB,
        "numpy-gray": RGB[:, :, 0],
    }[kind]
    client.classify(image)
    sent = backend.last.fields["image"]
    assert sent.startswith(b"\x89PNG")
    np.testing.assert_array_equal(_decoded(sent), expected)
    if kind in ("str-path", "path", "bytes"):
        assert sent == path.read_bytes()  # files and bytes go out untouched
    if transport == "http":
        assert backend.last.files["image"] == ("cat.png" if "path" in kind else "image.png")


def test_bad_images_fail_before_sending(client: Client, backend, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="uint8"):
        client.classify(RGB.astype(np.float32))
    with pytest.raises(ValueError, match="HxW"):
        client.classify(np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(TypeError, match="unsupported image type"):
        client.classify(12345)
    with pytest.raises(FileNotFoundError):
        client.classify(tmp_path / "missing.png")
    assert backend.requests == []


def test_sniffed_content_types() -> None:
    assert sniff(b"\x89PNG\r\n\x1a\nrest") == ("image/png", "png")
    assert sniff(b"\xff\xd8\xff\xe0rest") == ("image/jpeg", "jpg")
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ("image/webp", "webp")
    assert sniff(b"hello") == ("application/octet-stream", "bin")
    assert encode_image(b"\xff\xd8\xff\xe0rest").content_type == "image/jpeg"


@pytest.mark.parametrize(
    "value, text",
    [
        (3, "3"),
        (-7, "-7"),
        (0.5, "0.5"),
        (1e-05, "0.00001"),
        (2.5e20, "250000000000000000000"),
        (True, "true"),
        (False, "false"),
        ("tabby", "tabby"),
        ([0.7, 0.3], "0.7,0.3"),
        (("a", 2), "a,2"),
        (np.float32(0.25), "0.25"),
        (np.int64(9), "9"),
    ],
)
def test_parameters_are_decimal_text(value: object, text: str) -> None:
    assert encode_text(value) == text


def test_non_finite_and_unknown_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        encode_text(float("nan"))
    with pytest.raises(TypeError):
        encode_text(object())


def test_build_fields_treats_image_like_params_as_images(tmp_path: Path) -> None:
    path = tmp_path / "style.png"
    path.write_bytes(_png_bytes(RGB))
    fields = build_fields(
        {"content": RGB}, {"style": path, "style_2": b"\xff\xd8\xff", "steps": 10, "seed": None}
    )
    assert set(fields) == {"content", "style", "style_2", "steps"}
    assert fields["steps"] == "10"
    assert fields["style"].filename == "style.png" and fields["style_2"].content_type == "image/jpeg"
    with pytest.raises(ValueError, match="twice"):
        build_fields({"image": b"x"}, {"image": b"y"})
