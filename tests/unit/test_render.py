"""Tests for convlens.core.colormaps: normalisation, colormaps, overlays and .npy serialisation."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convlens.core import colormaps

NAMES = ["inferno", "viridis", "gray", "magma", "plasma", "bwr"]


# ---------------------------------------------------------------- normalize


@pytest.mark.parametrize("value", [0.0, 3.5, -2.0, 1e30])
def test_normalize_constant_map_is_zeros(value: float) -> None:
    out = colormaps.normalize(np.full((4, 5), value))
    assert out.dtype == np.float32 and out.shape == (4, 5)
    assert not np.isnan(out).any() and (out == 0).all()


def test_normalize_all_nan_or_empty_is_zeros() -> None:
    assert (colormaps.normalize(np.full((2, 2), np.nan)) == 0).all()
    assert colormaps.normalize(np.zeros((0, 3))).shape == (0, 3)


def test_normalize_keeps_zero_at_zero_for_non_negative_maps() -> None:
    out = colormaps.normalize(np.array([[2.0, 4.0]]), clip_percentile=100)
    np.testing.assert_allclose(out, [[0.5, 1.0]])  # not min-max, which would give [0, 1]


def test_normalize_known_ramp() -> None:
    ramp = np.arange(200, dtype=np.float64).reshape(10, 20)
    np.testing.assert_allclose(colormaps.normalize(ramp, clip_percentile=100), ramp / 199, rtol=1e-6)


def test_normalize_clips_outliers_at_the_percentile() -> None:
    values = np.arange(1000, dtype=np.float64).reshape(20, 50)
    values[0, 0] = 1e9  # one outlier must not wash out the rest
    out = colormaps.normalize(values, clip_percentile=99.5)
    top = np.percentile(values, 99.5)
    assert out[0, 0] == 1.0
    np.testing.assert_allclose(out[10, 0], values[10, 0] / top, rtol=1e-5)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (out[1:] < 1.0).sum() > 900


def test_normalize_sparse_map_falls_back_to_the_maximum() -> None:
    values = np.zeros((30, 30))
    values[3, 4] = 7.0  # the 99.5th percentile is 0 here
    out = colormaps.normalize(values)
    assert out[3, 4] == 1.0 and out.sum() == 1.0


def test_normalize_signed_map_is_symmetric_around_zero() -> None:
    out = colormaps.normalize(np.array([[-2.0, 0.0, 1.0, 2.0]]), clip_percentile=100)
    np.testing.assert_allclose(out, [[0.0, 0.5, 0.75, 1.0]])


def test_normalize_non_finite_values() -> None:
    out = colormaps.normalize(np.array([[0.0, 1.0, np.nan, np.inf, 2.0]]), clip_percentile=100)
    np.testing.assert_allclose(out, [[0.0, 0.5, 0.0, 1.0, 1.0]])
    signed = colormaps.normalize(np.array([[-1.0, np.nan, 1.0]]), clip_percentile=100)
    np.testing.assert_allclose(signed, [[0.0, 0.0, 1.0]])


def test_normalize_accepts_integers_and_rejects_bad_arguments() -> None:
    np.testing.assert_allclose(colormaps.normalize(np.array([[0, 5, 10]]), 100), [[0, 0.5, 1]])
    with pytest.raises(ValueError):
        colormaps.normalize(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError):
        colormaps.normalize(np.zeros((2, 2)), clip_percentile=0)
    with pytest.raises(ValueError):
        colormaps.normalize(np.zeros((2, 2)), clip_percentile=101)


# ---------------------------------------------------------------- colormap


@pytest.mark.parametrize("name", NAMES)
def test_colormap_endpoints_and_anchors_match_the_table(name: str) -> None:
    table = colormaps.COLORMAPS[name]
    ends = colormaps.colormap(np.array([[0.0, 1.0]]), name)
    assert ends.dtype == np.uint8 and ends.shape == (1, 2, 3)
    np.testing.assert_array_equal(ends[0, 0], table[0])
    np.testing.assert_array_equal(ends[0, 1], table[-1])
    anchors = colormaps.colormap(np.linspace(0, 1, len(table))[None, :], name)
    np.testing.assert_array_equal(anchors[0], table)


def test_colormap_known_colours() -> None:
    ends = {name: colormaps.colormap(np.array([[0.0, 1.0]]), name)[0].tolist() for name in NAMES}
    assert ends["inferno"] == [[0, 0, 4], [252, 255, 164]]
    assert ends["viridis"] == [[68, 1, 84], [253, 231, 37]]
    assert ends["gray"] == [[0, 0, 0], [255, 255, 255]]
    midpoint = colormaps.colormap(np.array([[0.25, 0.5]]), "gray")[0]
    np.testing.assert_array_equal(midpoint, [[64, 64, 64], [128, 128, 128]])  # rint(63.75), 127.5
    np.testing.assert_array_equal(colormaps.colormap(np.array([[0.5]]), "bwr")[0, 0], [255, 255, 255])


def test_colormap_clips_out_of_range_and_maps_nan_to_zero() -> None:
    out = colormaps.colormap(np.array([[-3.0, 7.0, np.nan, np.inf]]), "viridis")[0]
    table = colormaps.COLORMAPS["viridis"]
    np.testing.assert_array_equal(out, [table[0], table[-1], table[0], table[-1]])


def test_colormap_gray_is_monotonic() -> None:
    out = colormaps.colormap(np.linspace(0, 1, 256)[None, :], "gray")[0]
    assert (np.diff(out[:, 0].astype(int)) >= 0).all()
    assert (out[:, 0] == out[:, 1]).all() and (out[:, 1] == out[:, 2]).all()


def test_colormap_rejects_unknown_name_and_bad_shape() -> None:
    with pytest.raises(ValueError, match="jet"):
        colormaps.colormap(np.zeros((2, 2)), "jet")
    with pytest.raises(ValueError):
        colormaps.colormap(np.zeros(4), "gray")


@pytest.mark.parametrize("name", ["inferno", "viridis", "magma", "plasma"])
def test_colormap_is_close_to_matplotlib(name: str) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    ramp = np.linspace(0, 1, 512)[None, :]
    reference = matplotlib.colormaps[name](ramp)[..., :3] * 255
    assert np.abs(colormaps.colormap(ramp, name) - reference).max() < 8


# ---------------------------------------------------------------- heatmap and overlay


def test_heatmap_image_is_normalize_then_colormap() -> None:
    values = np.random.default_rng(3).normal(size=(6, 9))
    heat = colormaps.heatmap_image(values, "viridis", clip_percentile=98)
    np.testing.assert_array_equal(heat, colormaps.colormap(colormaps.normalize(values, 98), "viridis"))
    assert heat.shape == (6, 9, 3) and heat.dtype == np.uint8


def test_overlay_alpha_endpoints() -> None:
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    values = rng.random((6, 8))
    values[0, 0], values[1, 1] = 0.0, 1.0
    np.testing.assert_array_equal(colormaps.overlay(image, values, alpha=0.0), image)
    full = colormaps.overlay(image, values, alpha=1.0, name="viridis")
    heat = colormaps.heatmap_image(values, "viridis")
    np.testing.assert_array_equal(full[0, 0], image[0, 0])  # value 0: the photo, unchanged
    np.testing.assert_array_equal(full[1, 1], heat[1, 1])  # the top value: the colormap's colour


def test_overlay_weights_each_pixel_by_its_value() -> None:
    image = np.full((1, 3, 3), 100, np.uint8)
    out = colormaps.overlay(image, np.array([[0.0, 0.5, 1.0]]), alpha=0.5, name="gray")
    # weights 0, 0.25, 0.5 of the gray colours 0, 128 (127.5 rounded), 255
    np.testing.assert_array_equal(out[0, :, 0], [100, 107, 178])


def test_overlay_resizes_the_map_bilinearly() -> None:
    image = np.zeros((3, 4, 3), np.uint8)
    values = np.array([[0.0, 1.0], [0.0, 1.0]])  # 2x2 map over a 3x4 image
    out = colormaps.overlay(image, values, alpha=1.0, name="gray")
    assert out.shape == (3, 4, 3)
    # map 0, .25, .75, 1 -> gray 0, 64, 191, 255 weighted by the same values over black
    np.testing.assert_array_equal(out[:, :, 0], [[0, 16, 143, 255]] * 3)


def test_overlay_rejects_bad_arguments() -> None:
    image = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(ValueError):
        colormaps.overlay(image.astype(np.float32), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        colormaps.overlay(image[..., 0], np.zeros((2, 2)))
    with pytest.raises(ValueError):
        colormaps.overlay(image, np.zeros((2, 2)), alpha=1.5)


# ---------------------------------------------------------------- npy and module hygiene


@pytest.mark.parametrize(
    "array",
    [np.arange(12, dtype=np.float32).reshape(3, 4), np.zeros((2, 3, 3), np.uint8), np.array(1.5)],
)
def test_npy_bytes_round_trip(array: np.ndarray) -> None:
    data = colormaps.npy_bytes(array)
    assert data.startswith(b"\x93NUMPY")
    loaded = np.load(io.BytesIO(data), allow_pickle=False)
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)


def test_npy_bytes_refuses_object_arrays() -> None:
    with pytest.raises(ValueError):
        colormaps.npy_bytes(np.array([{"a": 1}], dtype=object))


def test_engine_modules_do_not_import_serving_or_plotting_libraries() -> None:
    handlers = Path(__file__).resolve().parents[2] / "handlers"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from convlens.core import colormaps, images;"
        "print(sorted(m for m in ('ts', 'matplotlib', 'cv2') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(handlers)], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
