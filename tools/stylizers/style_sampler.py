"""An endless, deterministic supply of style images for the arbitrary-style trainer (no datasets, no downloads).

Each draw picks a family (the four `patterns.py` generators plus the seven below, or one of the bundled photos
cropped at random), a random palette (harmony schemes in HSV, or the family's own), a scale (the pattern is drawn
larger or smaller and resized to the output size) and a seed, all from `numpy.random.default_rng([seed, key])`: the
same (seed, key) gives the same picture, and a trainer that asks for key = step * batch + i never repeats a batch
and resumes its stream exactly. Families and photos named in `holdout` are never drawn for training; `eval_styles`
draws only them, for evaluation.
"""
from __future__ import annotations

import colorsys
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import patterns
from .patterns import Palette

# --- seven more families (same signature as patterns.py's: size, seed, palette) -----------------------------------


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return xx / size, yy / size


def _colours(palette: Palette) -> np.ndarray:
    return np.asarray(palette, dtype=np.float32)


def marble(size: int = 256, seed: int = 0, palette: Palette | None = None) -> np.ndarray:
    """Veined stone: a sine of turbulent (warped) coordinates mapped through a smooth palette gradient."""
    rng = np.random.default_rng(seed)
    x, y = _grid(size)
    warp = sum(rng.uniform(0.1, 0.4) / (k + 1) * np.sin(2 * np.pi * ((k + 1) * rng.uniform(1, 3) * x
                                                                       + rng.uniform(-2, 2) * y + rng.uniform()))
               for k in range(4))
    t = (np.sin(2 * np.pi * (rng.uniform(2, 5) * (x + y) + 3 * warp)) + 1) / 2
    table = _colours(palette or [(235, 230, 220), (150, 140, 130), (60, 55, 60)])
    pos = t * (len(table) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(table) - 2)
    f = (pos - lo)[..., None]
    return np.clip(table[lo] * (1 - f) + table[lo + 1] * f, 0, 255).astype(np.uint8)


def stripes(size: int = 256, seed: int = 0, palette: Palette | None = None) -> np.ndarray:
    """Op-art bands: hard-edged colour stripes along a wavy direction."""
    rng = np.random.default_rng(seed)
    x, y = _grid(size)
    a = rng.uniform(0, np.pi)
    u = x * np.cos(a) + y * np.sin(a)
    v = -x * np.sin(a) + y * np.cos(a)
    u = u + rng.uniform(0.02, 0.12) * np.sin(2 * np.pi * rng.uniform(1, 4) * v + rng.uniform(0, 6))
    table = _colours(palette or [(20, 20, 20), (240, 240, 235), (200, 40, 40)])
    band = np.floor(u * rng.uniform(8, 24)).astype(int) % len(table)
    return table[band].astype(np.uint8)


def hatching(size: int = 256, seed: int = 0, palette: Palette | None = None) -> np.ndarray:
    """Pen cross-hatching: short parallel ink strokes in two or three directions, denser where a field is dark."""
    rng = np.random.default_rng(seed)
    palette = palette or [(245, 240, 225), (30, 30, 45), (90, 60, 40)]
    img = Image.new("RGB", (size, size), tuple(palette[0]))
    draw = ImageDraw.Draw(img)
    freq, phase = rng.uniform(1, 3, 2), rng.uniform(0, 6, 2)
    angles = rng.uniform(0, np.pi, int(rng.integers(2, 4)))
    length, width = size / 14, max(1, size // 200)
    for _ in range(size * 6):
        x, y = rng.uniform(0, size, 2)
        dark = (np.sin(freq[0] * 2 * np.pi * x / size + phase[0]) * np.cos(freq[1] * 2 * np.pi * y / size + phase[1])
                + 1) / 2
        layers = int(dark * len(angles) + rng.uniform())
        for a in angles[:layers]:
            dx, dy = np.cos(a) * length / 2, np.sin(a) * length / 2
            ink = tuple(palette[1 + int(rng.integers(0, len(palette) - 1))])
            draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=ink, width=width)
    return np.asarray(img)


def tiles(size: int = 256, seed: int = 0, palette: Palette | None = None) -> np.ndarray:
    """Mosaic tesserae: a jittered grid of small squares in grout, colours following a smooth field."""
    rng = np.random.default_rng(seed)
    palette = palette or [(200, 170, 90), (40, 90, 150), (170, 60, 40), (230, 220, 200), (50, 120, 80)]
    img = Image.new("RGB", (size, size), (70, 65, 60))
    draw = ImageDraw.Draw(img)
    n = int(rng.integers(12, 24))
    cell = size / n
    freq, phase = rng.uniform(0.5, 2.5, 2), rng.uniform(0, 6, 2)
    for i in range(n):
        for j in range(n):
            cx, cy = (j + 0.5) * cell + rng.normal(0, cell * 0.08), (i + 0.5) * cell + rng.normal(0, cell * 0.08)
            field = np.sin(freq[0] * j / n * 6 + phase[0]) + np.cos(freq[1] * i / n * 6 + phase[1])
            k = int((field + 2) / 4 * len(palette) + rng.uniform(-0.6, 0.6)) % len(palette)
            colour = np.clip(np.asarray(palette[k], float) * rng.uniform(0.85, 1.1), 0, 255)
            h = cell * rng.uniform(0.36, 0.44)
            a = rng.uniform(-0.2, 0.2)
            corners = [(cx + h * (np.cos(a) * sx - np.sin(a) * sy), cy + h * (np.sin(a) * sx + np.cos(a) * sy))
                       for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            draw.polygon([(float(px), float(py)) for px, py in corners], fill=tuple(int(c) for c in colour))
    return np.asarray(img)


def blobs(size: int = 256, seed: int = 0, palette: Palette | None = None) -> np.ndarray:
    """Watercolour: translucent soft-edged washes of colour layered on paper."""
    rng = np.random.default_rng(seed)
    palette = palette or [(250, 246, 235), (90, 140, 200), (220, 120, 140), (240, 200, 90), (120, 180, 130)]
    img = np.full((size, size, 3), palette[0], np.float32)
    x, y = _grid(size)
    for _ in range(int(rng.integers(12, 30))):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
        wobble = 1 + 0.25 * np.sin(np.arctan2(y - cy, x - cx) * int(rng.integers(2, 6)) + rng.uniform(0, 6))
        d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / (r * wobble)
        alpha = (rng.uniform(0.3, 0.7) * np.clip(1.2 - d, 0, 1) ** 0.5 * (1 + 0.4 * (d > 0.85) * (d < 1.2)))[..., None]
        img = img * (1 - alpha) + np.asarray(palette[int(rng.integers(1, len(palette)))], np.float32) * alpha
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(size / 256))
    grain = rng.normal(0, 6, (size, size, 1))
    return np.clip(np.asarray(out, np.float32) + grain, 0, 255).astype(np.uint8)


def plaid(size: int = 256, seed: int = 0, palette: Palette | None = None) -> np.ndarray:
    """Tartan: horizontal and vertical bands of palette colours woven (averaged) over each other, with twill."""
    rng = np.random.default_rng(seed)
    palette = palette or [(30, 60, 40), (150, 30, 40), (20, 30, 80), (220, 200, 90)]
    table = _colours(palette)
    widths = rng.integers(2, 12, int(rng.integers(4, 9)))
    sett = np.repeat(rng.integers(0, len(table), len(widths)), widths)
    period = len(sett)
    idx = np.arange(size) * max(1, period * 2) // size % period
    rows, cols = table[sett[idx]][:, None], table[sett[idx]][None, :]
    twill = ((np.arange(size)[:, None] + np.arange(size)[None]) // max(1, size // 128) % 4 < 2)[..., None]
    return np.clip(np.where(twill, 0.7 * rows + 0.3 * cols, 0.3 * rows + 0.7 * cols), 0, 255).astype(np.uint8)


def halftone(size: int = 256, seed: int = 0, palette: Palette | None = None) -> np.ndarray:
    """Pop-art halftone: a grid of dots whose radius follows a smooth field, over flat colour areas."""
    rng = np.random.default_rng(seed)
    palette = palette or [(250, 245, 230), (220, 40, 50), (30, 70, 160), (250, 210, 40)]
    img = Image.new("RGB", (size, size), tuple(palette[0]))
    draw = ImageDraw.Draw(img)
    pitch = size / rng.uniform(14, 28)
    freq, phase = rng.uniform(0.5, 2.0, 2), rng.uniform(0, 6, 2)
    steps = int(size / pitch) + 2
    for i in range(steps):
        for j in range(steps):
            cx, cy = (j + 0.5 * (i % 2)) * pitch, i * pitch
            field = (np.sin(freq[0] * 2 * np.pi * cx / size + phase[0]) + np.cos(freq[1] * 2 * np.pi * cy / size
                                                                                  + phase[1]) + 2) / 4
            r = pitch * 0.55 * field
            colour = tuple(palette[1 + int(field * (len(palette) - 1) * 0.999)])
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    return np.asarray(img)


FAMILIES: dict[str, Callable[..., np.ndarray]] = {
    **patterns.PATTERNS, "marble": marble, "stripes": stripes, "hatching": hatching, "tiles": tiles, "blobs": blobs,
    "plaid": plaid, "halftone": halftone}
DEFAULT_PALETTE_SIZE = {"brush_flow": 6, "cubist": 6, "marble": 3, "stripes": 3, "plaid": 4}
PHOTO = "photo"  # family name of the bundled photos used as styles
DEFAULT_HOLDOUT = ("cubist", "plaid", "coffee", "brick")  # two pattern families and two photos kept for evaluation


# --- palettes -------------------------------------------------------------------------------------------------

def random_palette(rng: np.random.Generator, count: int) -> list[tuple[int, int, int]]:
    """`count` colours from a colour-harmony scheme (analogous, complementary, triadic, monochrome or muted)."""
    scheme = ("analogous", "complementary", "triadic", "monochrome", "muted")[int(rng.integers(0, 5))]
    base = rng.uniform()
    spread = {"analogous": 0.08, "complementary": 0.5, "triadic": 1 / 3, "monochrome": 0.0, "muted": 0.15}[scheme]
    out = []
    for k in range(count):
        hue = (base + spread * (k % 3 if scheme == "triadic" else k % 2 if scheme == "complementary" else
                                rng.uniform(-1, 1)) + rng.normal(0, 0.02)) % 1.0
        sat = rng.uniform(0.1, 0.35) if scheme == "muted" else rng.uniform(0.35, 0.95)
        val = rng.uniform(0.15, 1.0) if k else rng.uniform(0.05, 1.0)
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        out.append((int(round(r * 255)), int(round(g * 255)), int(round(b * 255))))
    return out


# --- the sampler ----------------------------------------------------------------------------------------------

def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Square uint8 image resized to `size` (Lanczos, so a pattern drawn larger stays crisp when shrunk)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))


def photo_crop(photo: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop (40-100 % of the short side) of an HxWx3 float [0, 1] photo, as uint8 at `size`."""
    h, w = photo.shape[:2]
    side = max(16, int(min(h, w) * rng.uniform(0.4, 1.0)))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = (np.clip(photo[y:y + side, x:x + side], 0, 1) * 255 + 0.5).astype(np.uint8)
    return resize(np.ascontiguousarray(crop), size)


class StyleSampler:
    """Deterministic style images: `draw(key)` -> (description, HxWx3 float32 in [0, 1] at `size`).

    `photos`: name -> HxWx3 float [0, 1] (the bundled photos; None: patterns only), drawn with probability
    `photo_share`. `holdout`: family or photo names reserved for `eval_styles`. `zoom`: range of the pattern's
    drawing size relative to `size` (log-uniform; above 1 the pattern's cells, strokes and dots come out smaller).
    """

    def __init__(self, size: int = 128, seed: int = 0, holdout: Sequence[str] = DEFAULT_HOLDOUT,
                 photos: dict[str, np.ndarray] | None = None, photo_share: float = 0.2,
                 zoom: tuple[float, float] = (0.6, 1.8), own_palette_share: float = 0.25) -> None:
        unknown = set(holdout) - set(FAMILIES) - set(photos or {})
        if unknown and photos:
            raise ValueError(f"unknown holdout names {sorted(unknown)}; families: {', '.join(FAMILIES)}")
        self.size, self.seed, self.zoom, self.photo_share = size, seed, zoom, photo_share
        self.own_palette_share = own_palette_share
        self.holdout = tuple(holdout)
        self.families = [f for f in FAMILIES if f not in self.holdout]
        self.photos = {k: v for k, v in (photos or {}).items() if k not in self.holdout}
        self.held_families = [f for f in FAMILIES if f in self.holdout]
        self.held_photos = {k: v for k, v in (photos or {}).items() if k in self.holdout}

    def draw(self, key: int) -> tuple[str, np.ndarray]:
        """The training style number `key` (never a held-out family or photo)."""
        return self._draw(np.random.default_rng([self.seed, key]), self.families, self.photos)

    def batch(self, step: int, n: int) -> list[tuple[str, np.ndarray]]:
        """The `n` styles of training step `step` (keys step * n ... step * n + n - 1)."""
        return [self.draw(step * n + i) for i in range(n)]

    def eval_styles(self, n: int) -> list[tuple[str, np.ndarray]]:
        """`n` fixed styles from the held-out families and photos only (the same for every call)."""
        if not self.held_families and not self.held_photos:
            raise ValueError("no held-out families or photos to evaluate on")
        rng = np.random.default_rng([self.seed, 2**31])
        names = [*self.held_families, *self.held_photos]
        return [self._one(rng, names[i % len(names)], self.held_photos) for i in range(n)]

    def _draw(self, rng: np.random.Generator, families: list[str], photos: dict[str, np.ndarray]
              ) -> tuple[str, np.ndarray]:
        if photos and rng.uniform() < self.photo_share:
            name = list(photos)[int(rng.integers(0, len(photos)))]
        else:
            name = families[int(rng.integers(0, len(families)))]
        return self._one(rng, name, photos)

    def _one(self, rng: np.random.Generator, name: str, photos: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
        if name in photos:
            return f"{PHOTO}:{name}", photo_crop(photos[name], self.size, rng).astype(np.float32) / 255
        zoom = float(np.exp(rng.uniform(np.log(self.zoom[0]), np.log(self.zoom[1]))))
        drawn = max(32, int(round(self.size * zoom)))
        seed = int(rng.integers(0, 2**31))
        if rng.uniform() < self.own_palette_share:
            palette, tag = None, "own"
        else:
            count = DEFAULT_PALETTE_SIZE.get(name, int(rng.integers(4, 8)))
            palette, tag = random_palette(rng, count), "random"
        fn = FAMILIES[name]
        image = fn(size=drawn, seed=seed) if palette is None else fn(size=drawn, seed=seed, palette=palette)
        return f"{name}:{seed}:{tag}:x{zoom:.2f}", resize(image, self.size).astype(np.float32) / 255
