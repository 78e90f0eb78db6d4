#!/usr/bin/env python
"""Attribution speed: latency of every saliency method at 224 px on the default backbone, and occlusion
throughput (occluded images per second) against plain batched inference of the same backbone, in the engine's
memory layout (like with like) and in the default one (what the layout choice gains), and against a
one-forward-pass-per-position loop.

    .venv/bin/python benchmarks/attribution.py [--runs 3] [--size 224] [--patch 32] [--stride 16]
        [--only all|methods|occlusion] [--json out.json]

Runs on the backbone's device (CUDA when present). Medians of round-robin runs after one warm-up each.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers")]

import numpy as np
import torch
from PIL import Image
from skimage import data

from convlens import attribution
from convlens.attribution import occlusion
from convlens.attribution.base import MEMORY_FORMAT, auto_batch_size
from convlens.core import backbones


def median_s(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds of each function, run round-robin so machine drift affects them alike."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(s) for name, s in samples.items()}


def plain_inference(bb: backbones.Backbone, x: torch.Tensor, positions: int) -> Callable[[], None]:
    """Classify `positions` images in batches of len(x), in x's memory layout (the engine's: MEMORY_FORMAT)."""
    def run() -> None:
        with torch.inference_mode():
            for start in range(0, positions, len(x)):
                bb.model(bb.normalize(x[: min(len(x), positions - start)]))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--only", choices=("all", "methods", "occlusion"), default="all")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    bb = backbones.load_backbone()
    pixels = np.array(Image.fromarray(data.chelsea()).resize((args.size, args.size), Image.BILINEAR))
    print(f"# {platform.node()}: {bb.name} on {bb.device}, torch threads {torch.get_num_threads()}, "
          f"{args.size}x{args.size} px")

    methods = {m: (lambda m=m: attribution.saliency(bb, pixels, [285], method=m)) for m in attribution.METHODS}
    latency = median_s(methods, args.runs) if args.only != "occlusion" else {}
    print("\n| method | latency (s) | settings |\n|---|---|---|")
    settings = {"smoothgrad": "25 samples", "integrated_gradients": "32 steps", "gradcam": "layer head",
                "guided_gradcam": "layer head"}
    for m, s in latency.items():
        print(f"| {m} | {s:.3f} | {settings.get(m, '1 pass')} |")

    positions = (len(occlusion.grid_starts(args.size, args.patch, args.stride))) ** 2
    batch = auto_batch_size(args.size, args.size, bb.device, bytes_per_pixel=512)
    x = torch.rand(batch, 3, args.size, args.size, device=bb.device)
    plain = plain_inference(bb, x.contiguous(memory_format=MEMORY_FORMAT), positions)
    occ = {
        "plain batched inference": plain,
        "plain batched inference, default layout": plain_inference(bb, x.contiguous(), positions),
        "occlusion (batched, auto)": lambda: occlusion.occlusion(bb, pixels, 285, args.patch, args.stride),
        "occlusion (one pass at a time)": lambda: occlusion.occlusion(bb, pixels, 285, args.patch, args.stride,
                                                                      batch_size=1),
    }
    occ_s = median_s(occ, args.runs) if args.only != "methods" else {name: float("nan") for name in occ}
    ips = {name: positions / s for name, s in occ_s.items()}
    base = ips["plain batched inference"]
    print(f"\nocclusion: patch {args.patch}, stride {args.stride} -> {positions} occluded images, batch {batch}")
    print("\n| run | time (s) | images/s | vs plain batched |\n|---|---|---|---|")
    for name in occ:
        print(f"| {name} | {occ_s[name]:.2f} | {ips[name]:.1f} | {ips[name] / base:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"latency_s": latency, "occlusion_images_per_s": ips,
                                         "positions": positions, "batch": batch, "device": str(bb.device)},
                                        indent=2))


if __name__ == "__main__":
    main()
