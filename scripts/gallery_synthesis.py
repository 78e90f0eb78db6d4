#!/usr/bin/env python
"""README pictures of the synthesis endpoints, made on the engine (no server): one PNG per technique.

    .venv/bin/python scripts/gallery_synthesis.py docs/gallery [--only texture,fooling]

Writes synthesis_classviz.png, synthesis_fooling.png (photo | fooled | difference x10),
synthesis_inversion.png (photo | from stem | from block4 | from block10), synthesis_deepdream.png
(photo | block4 | block10) and synthesis_texture.png (per sample: the sample | the default sliced texture twice
its size (192 px from 96 px) | the Gram texture of the same steps, for comparison). `--only` redraws some of them.
Seeded: the same machine makes the same pictures. A few minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handlers"))

from convlens.core import backbones, images, inputs  # noqa: E402
from convlens.synthesis import Objective, classviz, deepdream, fooling, inversion, texture  # noqa: E402
from convlens.synthesis.render import strip  # noqa: E402
from convlens.synthesis.texture import DEFAULT_LAYERS  # noqa: E402


def resized(array: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.array(Image.fromarray(array).resize((width, height), Image.BILINEAR))


PICTURES = ("classviz", "fooling", "inversion", "deepdream", "texture")


def main(out_dir: Path, only: tuple[str, ...] = PICTURES) -> None:
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
    if "classviz" in only:
        viz = [classviz(bb, Objective(target=t), size=128, steps=80, seed=1).image
               for t in (1, 130)]  # goldfish, flamingo
        viz.append(classviz(bb, Objective(target=1), size=128, steps=80, param="fourier", seed=1).image)
        save("classviz", strip(viz))
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
    parser.add_argument("--only", default=",".join(PICTURES), help="comma-separated pictures to redraw")
    args = parser.parse_args()
    main(args.out_dir, tuple(args.only.split(",")))
