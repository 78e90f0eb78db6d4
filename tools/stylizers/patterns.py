"""Procedural style images made by our own code (no third-party artwork), each deterministic from a seed.

Stained glass (Voronoi cells with dark leading), flow-field brush strokes, pointillist dots and cubist polygons
give the stylizers four clearly different textures to learn. `palette` (RGB triples) recolours any of them; None keeps
each one's own palette, and with it today's pictures byte for byte (`style_sampler.py` draws random ones).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PALETTES = {
    "stained_glass": [(178, 34, 52), (30, 80, 170), (240, 190, 40), (30, 140, 80), (120, 40, 140), (230, 110, 30),
                      (70, 170, 200)],
    "brush_flow": [(22, 42, 110), (40, 90, 170), (90, 150, 210), (240, 210, 80), (250, 240, 190), (20, 30, 60)],
    "pointillism": [(230, 80, 60), (250, 200, 70), (80, 170, 90), (60, 110, 200), (240, 140, 180),
                    (130, 210, 230)],
    "cubist": [(150, 110, 60), (90, 70, 50), (200, 170, 120), (60, 80, 90), (170, 80, 50), (220, 205, 170)],
}


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


Palette = Sequence[tuple[int, int, int]]


def stained_glass(size: int = 256, seed: int = 0, cells: int = 60, palette: Palette | None = None) -> np.ndarray:
    """Voronoi cells in jewel colours, separated by dark lead lines where the two nearest sites are equidistant."""
    rng = _rng(seed)
    sites = rng.uniform(0, size, (cells, 2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    d = (xx[None] - sites[:, 0, None, None]) ** 2 + (yy[None] - sites[:, 1, None, None]) ** 2
    order = np.argsort(d, axis=0)
    nearest = np.take_along_axis(d, order[:2], axis=0)
    table = np.array(PALETTES["stained_glass"] if palette is None else palette, dtype=np.float32)
    colours = table[rng.integers(0, len(table), cells)] * rng.uniform(0.75, 1.1, (cells, 1))
    img = colours[order[0]]
    # shading inside each cell: brighter towards its site, as light through uneven glass
    img = img * (1.05 - 0.35 * np.sqrt(nearest[0]) / (size / np.sqrt(cells)))[..., None]
    edge = np.sqrt(nearest[1]) - np.sqrt(nearest[0]) < size / 110
    img[edge] = (25, 22, 20)
    return np.clip(img, 0, 255).astype(np.uint8)


def brush_flow(size: int = 256, seed: int = 0, strokes: int = 1400, palette: Palette | None = None) -> np.ndarray:
    """Short curved brush strokes following a smooth swirling flow field, in a night-sky palette (first: ground)."""
    rng = _rng(seed)
    freq = rng.uniform(1.0, 3.0, (3, 2)) * 2 * np.pi / size
    phase = rng.uniform(0, 2 * np.pi, 3)

    def angle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return sum(np.sin(freq[k, 0] * x + phase[k]) + np.cos(freq[k, 1] * y - phase[k]) for k in range(3))

    palette = PALETTES["brush_flow"] if palette is None else palette
    img = Image.new("RGB", (size, size), tuple(palette[0]))
    draw = ImageDraw.Draw(img)
    width = max(2, size // 64)
    for _ in range(strokes):
        x, y = rng.uniform(0, size, 2)
        colour = palette[int(rng.integers(1, len(palette)))]
        jitter = rng.integers(-18, 19, 3)
        colour = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(colour, jitter))
        points = [(x, y)]
        for _ in range(int(rng.integers(4, 9))):
            a = angle(np.array(x), np.array(y))
            x, y = x + np.cos(a) * size / 64, y + np.sin(a) * size / 64
            points.append((float(x), float(y)))
        draw.line(points, fill=colour, width=width, joint="curve")
    return np.asarray(img.filter(ImageFilter.SMOOTH))


def pointillism(size: int = 256, seed: int = 0, dots: int = 4000, palette: Palette | None = None) -> np.ndarray:
    """Dense round dots of pure colours on a pale ground, larger and sparser in a few patches."""
    rng = _rng(seed)
    img = Image.new("RGB", (size, size), (245, 238, 220))
    draw = ImageDraw.Draw(img)
    palette = PALETTES["pointillism"] if palette is None else palette
    radius = size / 90
    for _ in range(dots):
        x, y = rng.uniform(0, size, 2)
        r = radius * rng.uniform(0.7, 1.4)
        # colour depends smoothly on position so regions read as shapes, as in Seurat's dot fields
        k = int((np.sin(x / size * 5 + seed) + np.cos(y / size * 4) + 2) / 4 * len(palette) + rng.integers(0, 2))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(palette[k % len(palette)]))
    return np.asarray(img)


def cubist(size: int = 256, seed: int = 0, shapes: int = 70, palette: Palette | None = None) -> np.ndarray:
    """Overlapping angular facets in earth tones with dark outlines, as in analytic cubism (last colour: ground)."""
    rng = _rng(seed)
    palette = PALETTES["cubist"] if palette is None else palette
    img = Image.new("RGB", (size, size), tuple(palette[-1]))
    draw = ImageDraw.Draw(img)
    for _ in range(shapes):
        cx, cy = rng.uniform(0, size, 2)
        n = int(rng.integers(3, 6))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(size / 14, size / 5, n)
        points = [(float(cx + r * np.cos(a)), float(cy + r * np.sin(a))) for a, r in zip(angles, radii)]
        base = np.array(palette[int(rng.integers(0, len(palette)))], dtype=float) * rng.uniform(0.8, 1.15)
        draw.polygon(points, fill=tuple(int(v) for v in np.clip(base, 0, 255)), outline=(35, 28, 22),
                     width=max(1, size // 128))
    return np.asarray(img)


PATTERNS: dict[str, Callable[..., np.ndarray]] = {
    "stained_glass": stained_glass, "brush_flow": brush_flow, "pointillism": pointillism, "cubist": cubist}


def make(name: str, size: int = 256, seed: int = 0, palette: Palette | None = None) -> np.ndarray:
    """An HxWx3 uint8 style image by pattern name (`palette`: recoloured); KeyError lists the known ones."""
    if name not in PATTERNS:
        raise KeyError(f"unknown style pattern '{name}'; known: {', '.join(PATTERNS)}")
    if palette is None:
        return PATTERNS[name](size=size, seed=seed)
    return PATTERNS[name](size=size, seed=seed, palette=palette)
