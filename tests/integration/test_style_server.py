"""style_transfer and stylize through a real TorchServe, over HTTP and gRPC, with the client SDK (tiny settings)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from convlens_client import Client, Progress, StyleTransferResult
from convlens_client.errors import InvalidRequest, NotFound

TRANSPORTS = ("http", "grpc")


def encoded(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


PHOTO = encoded(np.array(Image.fromarray(data.astronaut()).resize((96, 96))), "JPEG")
STYLE = encoded(np.array(Image.fromarray(data.coffee()).resize((64, 48))))


def client(server, transport: str) -> Client:
    return Client(server.host, transport=transport, http_port=server.ports["http"], grpc_port=server.ports["grpc"],
                  management_port=server.ports["management"], grpc_management_port=server.ports["grpc_management"],
                  key_file=server.key_file, timeout=120)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stylize_single_and_blend(server, transport):
    with client(server, transport) as c:
        styles = c.styles()
        single = next(s for s in styles if s["kind"] == "single" and s["variant"] == "full")
        multi = next(s for s in styles if s["kind"] == "multi" and s["variant"] == "full")
        students = {s["teacher"]: s["name"] for s in styles if s["variant"] == "lite"}  # the default paints
        one = c.stylize(PHOTO, style=single["name"], strength=0.8)
        mix = c.stylize(PHOTO, blend={multi["styles"][0]: 1, multi["styles"][1]: 1}, preserve_colors=True)
        jpeg = c.stylize_image(PHOTO, style=single["name"], format="jpeg", quality=80)
    assert (one.width, one.height) == (96, 96) and one.image.size == (96, 96)
    assert one.model == students.get(single["name"], single["name"])
    assert mix.model == students.get(multi["name"], multi["name"]) and mix.weights[:2] == [0.5, 0.5]
    assert jpeg[:2] == b"\xff\xd8"
    assert len(multi["styles"]) >= 4 and all(s["recipe"] for s in styles)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stylize_lite_variant_runs_the_student(server, transport):
    """The distilled student of the named style runs by default (and with `variant=lite`) and paints close to its
    teacher, which `variant=full` still runs."""
    with client(server, transport) as c:
        student = next(s for s in c.styles() if s["variant"] == "lite" and s["kind"] == "single")
        full = c.stylize(PHOTO, style=student["teacher"], variant="full")
        fast = c.stylize(PHOTO, style=student["teacher"], variant="lite")
        default = c.stylize(PHOTO, style=student["teacher"])
        with pytest.raises(InvalidRequest) as err:
            c.stylize(PHOTO, style=student["teacher"], variant="tiny")
    assert full.model == student["teacher"] and fast.model == default.model == student["name"]
    assert fast.image.size == (96, 96) and fast.image.tobytes() == default.image.tobytes()
    a, b = (np.asarray(r.image, np.float64) / 255 for r in (full, fast))
    assert 20 < 10 * np.log10(1 / np.mean((a - b) ** 2)) < 60  # close to the teacher, yet another network
    assert err.value.code == 400 and err.value.field == "variant"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stylize_like_any_picture_then_by_id(server, transport):
    """Style images through the arbitrary-style network; the second call sends only the ids; a bare unknown id is
    a 404 naming `style_id`."""
    painting = encoded((np.random.default_rng(2).random((40, 56, 3)) * 255).astype(np.uint8))
    with client(server, transport) as c:
        first = c.stylize_like(PHOTO, STYLE, painting, style_weights=[3, 1], alpha=0.8, preserve_colors=True)
        calls = []
        real = c._transport.predict
        c._transport.predict = lambda model, fields, **kw: calls.append(fields) or real(model, fields, **kw)
        again = c.stylize_like(PHOTO, STYLE, painting, style_weights=[3, 1], alpha=0.8, preserve_colors=True)
        with pytest.raises(NotFound) as err:
            c.stylize(PHOTO, style_id="0" * 32)
        with pytest.raises(InvalidRequest) as bad:
            c.stylize(PHOTO, style="x", style_image=STYLE)
    assert first.model == "arbitrary" and first.weights == [0.75, 0.25] and first.image.size == (96, 96)
    assert len(first.styles) == 2 and again.styles == first.styles and "style_image" not in calls[0]
    assert np.array_equal(np.asarray(again.image), np.asarray(first.image))
    assert err.value.code == 404 and err.value.field == "style_id" and err.value.type == "StyleNotCached"
    assert bad.value.code == 400 and bad.value.field == "style_image"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_style_transfer_two_styles(server, transport):
    with client(server, transport) as c:
        result = c.style_transfer(PHOTO, STYLE, STYLE, style_weights=[1, 3], steps=3, size=64, optimizer="adam")
    assert (result.width, result.height) == (64, 64) and result.steps == 3
    assert result.style_weights == [0.25, 0.75] and result.image.size == (64, 64)


def palette_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean gap between two pictures' per-channel colour quantiles (levels of 255)."""
    q = np.linspace(0, 1, 101)
    return float(np.mean([np.abs(np.quantile(a[..., c], q) - np.quantile(b[..., c], q)).mean() for c in range(3)]))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_style_transfer_defaults_take_the_styles_palette(server, transport):
    """Default fields (sliced loss, palette=match) move the photo's colours to the style's; gram with palette=none
    (the old defaults) leaves them far from it."""
    content = np.array(Image.open(io.BytesIO(PHOTO)).convert("RGB"))
    style = np.array(Image.open(io.BytesIO(STYLE)).convert("RGB"))
    with client(server, transport) as c:
        new = c.style_transfer(PHOTO, STYLE, steps=3, size=64)
        old = c.style_transfer(PHOTO, STYLE, steps=3, size=64, style_loss="gram", palette="none")
    gap = palette_gap(content, style)
    assert palette_gap(np.asarray(new.image), style) < 0.3 * gap < palette_gap(np.asarray(old.image), style)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bad_style_inputs_name_the_field(server, transport):
    with client(server, transport) as c:
        with pytest.raises(InvalidRequest) as err:
            c.stylize(PHOTO, style="no_such_style")
        assert err.value.code == 400 and err.value.field == "style"
        with pytest.raises(InvalidRequest) as err:
            c.style_transfer(PHOTO, STYLE, STYLE, STYLE, STYLE, STYLE, steps=1, size=32)
        assert err.value.code == 400 and err.value.field == "style_5"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_style_transfer_streams_progress_then_the_result(server, transport):
    with client(server, transport) as c:
        items = list(c.style_transfer(PHOTO, STYLE, steps=4, size=64, optimizer="adam", stream=True))
    events, result = items[:-1], items[-1]
    assert isinstance(result, StyleTransferResult) and result.steps == 4 and result.image.size == (64, 64)
    assert events and all(isinstance(e, Progress) for e in events)
    assert events[0].stage == "started" and any(e.step > 0 for e in events)
    assert [e.step for e in events] == sorted(e.step for e in events)
