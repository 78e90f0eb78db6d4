#!/usr/bin/env python
"""Time per step and total time of each synthesis technique at 224 px, on the engine (no server).

    .venv/bin/python benchmarks/synthesis.py [--steps 20] [--threads N]

Each technique runs once for warm-up (2 steps), then once timed with `--steps` steps (fooling: until it
fools, at most `--steps`). Per-step time = total / steps; the default-settings column extrapolates to the
endpoint's default step count. Runs on CUDA when present.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handlers"))

from convlens.core import backbones
from convlens.synthesis import Objective, classviz, deepdream, fooling, inversion, texture
from convlens.synthesis.texture import DEFAULT_LAYERS

SIZE = 224


def photo() -> np.ndarray:
    from skimage import data

    return np.array(Image.fromarray(data.chelsea()).resize((SIZE, SIZE), Image.BILINEAR))


def cases(bb, image, steps):
    """name -> (run(steps) -> result, steps per unit, default step count of the endpoint)."""
    return {
        "classviz (pixel, class)": (lambda n: classviz(bb, Objective(target=1), size=SIZE, steps=n, param="pixel"),
                                    100),
        "classviz (fourier, the default)": (lambda n: classviz(bb, Objective(target=1), size=SIZE, steps=n), 256),
        "fooling": (lambda n: fooling(bb, image, 1, max_steps=n, confidence=0.9), 100),
        "inversion (block4)": (lambda n: inversion(bb, image, "block4", steps=n), 200),
        "deepdream (block8, 3 octaves)": (lambda n: deepdream(bb, image, "block8", octaves=3,
                                                              steps=max(1, n // 3)), 30),
        "texture (sliced, default layers)": (lambda n: texture(bb, image, DEFAULT_LAYERS, size=(SIZE, SIZE),
                                                               steps=n), 200),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bb = backbones.load_backbone()
    image = photo()
    print(f"device {bb.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, {SIZE}x{SIZE} px")
    print("| technique | steps run | total s | per step ms | default steps | at defaults s |")
    print("|---|---|---|---|---|---|")
    for name, (run, default_steps) in cases(bb, image, args.steps).items():
        run(2)
        if bb.device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = run(args.steps)
        if bb.device.type == "cuda":
            torch.cuda.synchronize()
        total = time.perf_counter() - started
        steps = max(1, result.steps)
        per_step = total / steps
        print(f"| {name} | {result.steps} | {total:.2f} | {1000 * per_step:.0f} | {default_steps} | "
              f"{per_step * default_steps:.1f} |", flush=True)


if __name__ == "__main__":
    main()
