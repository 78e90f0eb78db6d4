#!/usr/bin/env python
"""README pictures of the synthesis endpoints, made on the engine (no server): one PNG per technique.

    .venv/bin/python scripts/gallery_synthesis.py docs/gallery

Writes synthesis_classviz.png, synthesis_fooling.png (photo | fooled | difference x10),
synthesis_inversion.png (photo | from stem | from block4 | from block10), synthesis_deepdream.png
(photo | block4 | block10) and synthesis_texture.png (sample | texture twice its size (192 px from a 96 px sample)).
Seeded: the same machine makes the same pictures. A few minutes on 2 CPU cores.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handlers"))

from convlens.core import backbones, images  # noqa: E402
from convlens.synthesis import Objective, classviz, deepdream, fooling, inversion, texture  # noqa: E402
from convlens.synthesis.render import strip  # noqa: E402


def resized(array: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.array(Image.fromarray(array).resize((width, height), Image.BILINEAR))


def main(out_dir: Path) -> None:
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
    viz = [classviz(bb, Objective(target=t), size=128, steps=80, seed=1).image for t in (1, 130)]  # goldfish, flamingo
    viz.append(classviz(bb, Objective(target=1), size=128, steps=80, param="fourier", seed=1).image)
    save("classviz", strip(viz))
    fooled = fooling(bb, cat, 105, max_steps=100, confidence=0.9)  # Egyptian cat -> koala
    print(f"  fooling: {fooled.original[0].label} -> {fooled.predicted[0].label} in {fooled.steps} steps, "
          f"L-inf {fooled.metrics['linf_levels']:.0f}/255")
    save("fooling", strip([cat, fooled.image, fooled.images[1][1]]))
    inv = [inversion(bb, cat, layer, steps=150, seed=1).image for layer in ("stem", "block4", "block10")]
    save("inversion", strip([cat, *inv]))
    dreams = [deepdream(bb, cat, layer, octaves=3, steps=10, seed=1).image for layer in ("block4", "block10")]
    save("deepdream", strip([cat, *dreams]))
    tex = texture(bb, bricks, ["stem", "block2", "block4", "block6"], size=(192, 192), steps=150, seed=1)
    print(f"  texture: Gram loss {tex.metrics['initial_gram_loss']:.3g} -> {tex.metrics['gram_loss']:.3g}")
    save("texture", strip([bricks, tex.image]))
    print(f"gallery in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gallery_synthesis.py OUT_DIR")
    main(Path(sys.argv[1]))
