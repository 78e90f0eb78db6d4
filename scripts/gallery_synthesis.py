#!/usr/bin/env python
"""README pictures of the synthesis endpoints, made on the engine (no server): one PNG per technique.

    .venv/bin/python scripts/gallery_synthesis.py docs/gallery [--only classviz,neuron,texture,...] [--jobs 4]

Writes synthesis_classviz.png (the eight classes of benchmarks/quality_classviz.py, goldfish, flamingo,
strawberry, pizza, hummingbird, ambulance, zebra, banana: the default Lucid recipe on top, Yosinski's pixels
below), synthesis_neuron.png (channel 12 of block6 and block10, Lucid on top, pixels below; the block10 neuron;
two diverse images of block10's channel), synthesis_fooling.png (photo | fooled | difference x10),
synthesis_inversion.png (photo | from stem | from block4 | from block10), synthesis_deepdream.png
(photo | block4 | block10) and synthesis_texture.png (per sample: the sample | the default sliced texture twice
its size (192 px from 96 px) | the Gram texture of the same steps, for comparison). `--only` redraws some of them.
Seeded: the same machine makes the same pictures. A few minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers"), str(ROOT / "benchmarks")]

from convlens.core import backbones, images, inputs  # noqa: E402
from convlens.synthesis import Objective, classviz, deepdream, fooling, inversion, texture  # noqa: E402
from convlens.synthesis.render import GAP, strip  # noqa: E402
from convlens.synthesis.texture import DEFAULT_LAYERS  # noqa: E402
from quality_classviz import CLASSES as BENCHMARK_CLASSES  # noqa: E402


def resized(array: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.array(Image.fromarray(array).resize((width, height), Image.BILINEAR))


def column(rows: list[np.ndarray]) -> np.ndarray:
    """Strips one above the other on white, left-aligned."""
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, GAP), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(padded)[:-GAP]


CLASSES = (1, 130, 949, 963, *(c for c in BENCHMARK_CLASSES if c not in (1, 130, 949, 963)))  # the 4 first
CHANNELS = (("block6", 12), ("block10", 12))


def viz_jobs() -> dict[str, tuple[dict, dict]]:
    """name -> (Objective fields, classviz options) of every feature-visualization picture, at default fields."""
    jobs: dict[str, tuple[dict, dict]] = {"diverse": ({"layer": "block10", "channel": 12}, {"count": 2, "seed": 1})}
    for param in ("fourier", "pixel"):  # the slow ones first: the pool's processes finish together
        jobs.update({f"class {t} {param}": ({"target": t}, {"param": param}) for t in CLASSES})
        jobs.update({f"{layer}:{c} {param}": ({"layer": layer, "channel": c}, {"param": param})
                     for layer, c in CHANNELS})
        if param == "fourier":
            jobs["neuron"] = ({"layer": "block10", "channel": 12, "kind": "neuron"}, {})
    return jobs


def run_job(job: tuple[dict, dict]) -> list[np.ndarray]:
    """One picture (or a diverse set) on a fresh backbone: jobs run in separate processes."""
    torch.set_num_threads(int(os.environ.get("CONVLENS_TORCH_THREADS", "1")))
    fields, options = job
    started = time.perf_counter()
    result = classviz(backbones.load_backbone(), Objective(**fields), **options)
    print(f"  {fields} {options}: {result.metrics} in {time.perf_counter() - started:.0f}s", flush=True)
    return [image for _, image in result.images]


def feature_viz(save, jobs: int) -> None:
    """Classes and inner channels, the default recipe (fourier) above the pixel one, at default fields."""
    todo = viz_jobs()
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        done = dict(zip(todo, pool.map(run_job, todo.values(), chunksize=1)))
    save("classviz", column([strip([done[f"class {t} {param}"][0] for t in CLASSES])
                             for param in ("fourier", "pixel")]))
    rows = [[done[f"{layer}:{c} {param}"][0] for layer, c in CHANNELS] for param in ("fourier", "pixel")]
    save("neuron", column([strip(rows[0] + done["neuron"]), strip(rows[1]), strip(done["diverse"])]))


PICTURES = ("classviz", "neuron", "fooling", "inversion", "deepdream", "texture")


def main(out_dir: Path, only: tuple[str, ...] = PICTURES, jobs: int = 1) -> None:
    from skimage import data

    out_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("CONVLENS_TORCH_THREADS"):  # e.g. 1 on a busy shared machine
        torch.set_num_threads(int(os.environ["CONVLENS_TORCH_THREADS"]))
    bb = backbones.load_backbone()
    cat = resized(data.chelsea(), 192, 128)
    bricks = resized(np.array(Image.fromarray(data.brick()).convert("RGB")), 96, 96)

    def save(name: str, picture: np.ndarray) -> None:
        path = out_dir / f"synthesis_{name}.png"
        path.write_bytes(images.encode_png(picture, compress_level=9))
        print(f"wrote {path} ({picture.shape[1]}x{picture.shape[0]})", flush=True)

    started = time.perf_counter()
    if {"classviz", "neuron"} & set(only):  # made together
        feature_viz(save, jobs)
    if "fooling" in only:  # the photo at fooling's default size (shorter side 224), through classify's view
        photo = inputs.explanation_pixels(Image.fromarray(data.chelsea()), 224)
        fooled = fooling(bb, photo, 105, max_steps=100, confidence=0.9)  # tiger cat -> koala
        print(f"  fooling: {fooled.original[0].label} -> {fooled.predicted[0].label} in {fooled.steps} steps, "
              f"L-inf {fooled.metrics['linf_levels']:.0f}/255, classify p={fooled.metrics['classify_probability']:.3f}")
        save("fooling", strip([photo, fooled.image, fooled.images[1][1]]))
    if "inversion" in only:
        inv = [inversion(bb, cat, layer, steps=150, seed=1).image for layer in ("stem", "block4", "block10")]
        save("inversion", strip([cat, *inv]))
    if "deepdream" in only:
        dreams = [deepdream(bb, cat, layer, octaves=3, steps=10, seed=1).image for layer in ("block4", "block10")]
        save("deepdream", strip([cat, *dreams]))
    if "texture" in only:
        coffee = resized(data.coffee()[40:360, 120:440], 96, 96)
        rows = []
        for sample in (bricks, coffee):
            ours = texture(bb, sample, DEFAULT_LAYERS, size=(192, 192), steps=200, seed=1)
            old = texture(bb, sample, ("stem", "block2", "block4", "block6"), size=(192, 192), steps=200, seed=1,
                          loss="gram", match_palette=False)  # the old defaults
            for name, r in (("sliced", ours), ("gram", old)):
                m = r.metrics
                print(f"  texture {name}: near-pure {m['near_pure_share']:.2%} "
                      f"(sample {m['sample_near_pure_share']:.2%}), palette distance {m['palette_distance']:.4f}")
            rows.append(strip([sample, ours.image, old.image]))
        save("texture", np.concatenate(rows, axis=0))
    print(f"gallery in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--only", default=",".join(PICTURES), help="comma-separated pictures to redraw "
                                                                   "(classviz and neuron are made together)")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the feature visualizations")
    args = parser.parse_args()
    main(args.out_dir, tuple(args.only.split(",")), args.jobs)
