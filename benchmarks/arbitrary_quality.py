#!/usr/bin/env python
"""Arbitrary-style quality and speed (issue 19): the shipped arbitrary network against Gatys optimization.

On style images the network never saw in training (not its procedural families, not its skimage photos): the two
scikit-learn sample photos and two procedural drawings made here by procedures the trainer does not have
(concentric rings, thick sine scribbles). For every (photo, style) pair at `--size` px: the sliced Wasserstein style
distance of the output to the style (EfficientNet-Lite0 layers pixels, stem, block2, block5, block8; fixed random
directions; mean over layers), the content distance to the photo (relative squared error of block8, the content
layer of `style_transfer`), and the time of each method: the network with a new style (encode + stylize), and
`style_transfer` with 100 L-BFGS steps (its defaults). Then 512x512 with a new style and with a repeated one.

    .venv/bin/python benchmarks/arbitrary_quality.py [--size 256] [--steps 100] [--json build/bench/arbitrary.json]
        [--gallery docs/gallery/style_arbitrary.png] [--pairs 4]

Shared machines: other processes compete for the cores; ratios within one run are what to compare.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers"), str(ROOT)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from skimage import data  # noqa: E402

from convlens.core import backbones  # noqa: E402
from convlens.style import losses, transfer  # noqa: E402
from convlens.stylize import arbitrary, runtime  # noqa: E402

STORE = ROOT / "model_store" / "stylizers"
STYLE_LAYERS = ("pixels", "stem", "block2", "block5", "block8")
CONTENT_LAYER = "block8"
PHOTOS = ("astronaut", "chelsea")


def rings(size: int, seed: int) -> np.ndarray:
    """Concentric rings of a few colours around scattered centres (a procedure the trainer has not got)."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (5, 3))
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    centres = rng.uniform(0, size, (4, 2))
    d = np.min([np.hypot(y - cy, x - cx) for cy, cx in centres], axis=0)
    return colours[(d // (size / 24)).astype(int) % len(colours)].astype(np.uint8)


def scribbles(size: int, seed: int) -> np.ndarray:
    """Thick dark sine-wave strokes in several colours over a pale wash (also new to the trainer)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(180, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        y0, amp, freq, phase = rng.uniform(0, size), rng.uniform(5, 30), rng.uniform(0.01, 0.05), rng.uniform(0, 6)
        xs = np.linspace(-10, size + 10, 60)
        points = list(zip(xs, y0 + amp * np.sin(freq * xs + phase)))
        draw.line(points, fill=tuple(int(v) for v in rng.integers(0, 160, 3)), width=int(rng.integers(3, 9)))
    return np.asarray(image)


def held_out_styles(size: int) -> dict[str, np.ndarray]:
    """Style images never used in training: scikit-learn's two sample photos and the two drawings above."""
    from sklearn.datasets import load_sample_images

    samples = load_sample_images()
    styles = {Path(f).stem: img for f, img in zip(samples.filenames, samples.images)}
    return {**styles, "rings": rings(size, 3), "scribbles": scribbles(size, 4)}


def square(image: np.ndarray, side: int) -> np.ndarray:
    """Centre square crop resized to `side` px."""
    h, w = image.shape[:2]
    s = min(h, w)
    crop = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return np.asarray(Image.fromarray(crop).resize((side, side), Image.Resampling.LANCZOS))


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]


class Metrics:
    """Style (sliced Wasserstein) and content (relative block8 error) distances on EfficientNet-Lite0 features."""

    def __init__(self, backbone: backbones.Backbone) -> None:
        self.extractor = losses.FeatureExtractor(backbone, [n for n in STYLE_LAYERS if n != "pixels"])
        g = torch.Generator().manual_seed(0)
        channels = {"pixels": 3, "stem": 32, "block2": 24, "block5": 40, "block8": 80}
        self.directions = {n: losses.random_directions(channels[n], 64, g) for n in STYLE_LAYERS}

    def features(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        x = tensor(image)
        with torch.no_grad():
            return {**self.extractor(x), "pixels": x}

    def style(self, out: np.ndarray, style: np.ndarray) -> float:
        a, b = self.features(out), self.features(style)
        return float(np.mean([losses.sliced_wasserstein_loss(a[n], b[n], self.directions[n]).item()
                              for n in STYLE_LAYERS]))

    def content(self, out: np.ndarray, photo: np.ndarray) -> float:
        a, b = self.features(out)[CONTENT_LAYER], self.features(photo)[CONTENT_LAYER]
        return float(((a - b) ** 2).sum() / (b ** 2).sum())


def gatys(backbone: backbones.Backbone, photo: np.ndarray, style: np.ndarray, steps: int, size: int) -> np.ndarray:
    settings = transfer.TransferSettings(steps=steps, size=size)
    result = transfer.style_transfer(backbone, tensor(photo), [tensor(style)], settings)
    return np.asarray(result.image)


def speed_512(net: arbitrary.ArbitraryStylizer, style: np.ndarray, runs: int) -> dict[str, float]:
    """Median seconds for a 512x512 photo with a new style (cache emptied: encode + stylize) and a repeated one."""
    photo = square(data.astronaut(), 512)
    new, repeated = [], []
    for i in range(runs + 1):
        net.cache = arbitrary.VectorCache(16, 1 << 20)
        source = arbitrary.StyleSource(f"s{i}", lambda: style)
        t = time.perf_counter()
        runtime.stylize(net.model, photo, net.mix([source])[0])
        new.append(time.perf_counter() - t)
        t = time.perf_counter()
        runtime.stylize(net.model, photo, net.mix([source])[0])
        repeated.append(time.perf_counter() - t)
    return {"new_style_s": statistics.median(new[1:]), "repeated_style_s": statistics.median(repeated[1:])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=100, help="Gatys L-BFGS steps")
    p.add_argument("--pairs", type=int, default=4, help="how many (photo, style) pairs (at most 8)")
    p.add_argument("--runs", type=int, default=5, help="timing runs at 512 px")
    p.add_argument("--json", type=Path, default=ROOT / "build" / "bench" / "arbitrary_quality.json")
    p.add_argument("--gallery", type=Path, help="write the pairs side by side: photo | style | network | Gatys")
    args = p.parse_args()
    backbone = backbones.load_backbone("efficientnet_lite0")
    metrics = Metrics(backbone)
    library = runtime.StyleLibrary(STORE)
    model = library.arbitrary()
    assert model is not None, "no arbitrary-style network in model_store/stylizers"
    net = arbitrary.ArbitraryStylizer(model, arbitrary.VectorCache(64, 1 << 20))
    styles = {name: square(img, args.size) for name, img in held_out_styles(args.size).items()}
    pairs = [(PHOTOS[(i + k) % len(PHOTOS)], s) for k in range(len(PHOTOS)) for i, s in enumerate(styles)]
    pairs = pairs[:args.pairs]  # every style once first, each with another photo
    net.mix([arbitrary.StyleSource("warm", lambda: styles["rings"])])  # sessions opened outside the timings
    rows, pictures = [], []
    for content_name, style_name in pairs:
        photo, style = square(getattr(data, content_name)(), args.size), styles[style_name]
        t = time.perf_counter()
        vector, _ = net.mix([arbitrary.StyleSource(f"{style_name}-{content_name}", lambda style=style: style)])
        ours = runtime.stylize(model, photo, vector)
        ours_s = time.perf_counter() - t
        t = time.perf_counter()
        theirs = gatys(backbone, photo, style, args.steps, args.size)
        gatys_s = time.perf_counter() - t
        row = {"photo": content_name, "style": style_name,
               "style_distance": {"network": metrics.style(ours, style), "gatys": metrics.style(theirs, style),
                                  "photo": metrics.style(photo, style)},
               "content_distance": {"network": metrics.content(ours, photo), "gatys": metrics.content(theirs, photo)},
               "seconds": {"network": ours_s, "gatys": gatys_s}}
        rows.append(row)
        pictures.append(np.concatenate([photo, style, ours, theirs], axis=1))
        save(args, {"pairs": rows}, pictures)  # after every pair: a slow machine keeps what it measured
        sd, cd = row["style_distance"], row["content_distance"]
        print(f"{content_name:>9} x {style_name:<9} style {sd['network']:.4f} vs gatys {sd['gatys']:.4f} "
              f"(photo {sd['photo']:.4f}, ratio {sd['network'] / sd['gatys']:.2f}); content {cd['network']:.3f} vs "
              f"{cd['gatys']:.3f} (ratio {cd['network'] / cd['gatys']:.2f}); {ours_s:.3f} s vs {gatys_s:.1f} s",
              flush=True)

    def ratio(key: str) -> float:
        return float(np.exp(np.mean([np.log(r[key]["network"] / r[key]["gatys"]) for r in rows])))

    summary = {"style_ratio_geomean": ratio("style_distance"), "content_ratio_geomean": ratio("content_distance"),
               "speedup_geomean": 1 / ratio("seconds"), "size": args.size, "gatys_steps": args.steps,
               "steps_trained": model.manifest.get("steps"), **speed_512(net, styles["china"], args.runs)}
    print(json.dumps(summary, indent=1))
    save(args, {"summary": summary, "pairs": rows}, pictures)


def save(args: argparse.Namespace, result: dict, pictures: list[np.ndarray]) -> None:
    """The JSON results and, with --gallery, the pairs side by side (photo | style | network | Gatys)."""
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.gallery:
        grid = Image.fromarray(np.concatenate(pictures, axis=0))
        grid.resize((grid.width * 3 // 4, grid.height * 3 // 4), Image.Resampling.LANCZOS).save(args.gallery,
                                                                                                 optimize=True)


if __name__ == "__main__":
    main()
