#!/usr/bin/env python
"""Style benchmark: one shipped stylizer at 256, 512 and 1024 px, ONNX Runtime vs PyTorch eager (same weights),
achieved GFLOP/s vs this machine's measured matmul GFLOP/s, and feed-forward vs optimization transfer at equal
size (Johnson et al.'s "three orders of magnitude"). Also a 4000x3000 tiled stylize with its peak memory.

    .venv/bin/python benchmarks/style.py [--model stained_glass] [--runs 5] [--gatys-steps 100] [--json out.json]

Shared machines: other processes compete for the cores; ratios within one run are what to compare.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers")]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from skimage import data  # noqa: E402

from convlens import backbones  # noqa: E402
from convlens.style import nets, patterns, runtime, transfer  # noqa: E402

STORE = ROOT / "model_store" / "stylizers"


def median_s(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def matmul_gflops(n: int = 1024, runs: int = 5) -> float:
    """Peak-ish float32 GEMM rate of this machine with torch's threads (2·n³ FLOP per product)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    return 2 * n ** 3 / median_s(lambda: a @ b, runs, warmup=2) / 1e9


def photo(side: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(data.astronaut()).resize((side, side), Image.BILINEAR))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="stained_glass")
    p.add_argument("--sizes", default="256,512,1024")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--gatys-steps", type=int, default=100)
    p.add_argument("--skip-large", action="store_true", help="skip the 4000x3000 run")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    threads = torch.get_num_threads()
    library = runtime.StyleLibrary(STORE, threads=threads)
    model = library.models[args.model]
    torch_model = nets.Stylizer(nets.NetConfig(**model.manifest["network"]))
    # the ONNX file's weights back into PyTorch: the same network on both runtimes
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model.path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    state = {k.removeprefix("model."): torch.from_numpy(init[k].copy()) for k in init if k.startswith("model.")}
    torch_model.load_state_dict(state)
    torch_model.eval()
    flops_px = nets.flops_per_pixel(torch_model.config)
    rows = []
    backbone = backbones.load_backbone(device=torch.device("cpu"))
    style = torch.from_numpy(patterns.make(args.model if args.model in patterns.PATTERNS else "cubist", 256))
    style = style.permute(2, 0, 1)[None].float() / 255
    for side in [int(s) for s in args.sizes.split(",")]:
        img = photo(side)
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            t_torch = median_s(lambda: torch_model(x), args.runs)
        t_onnx = median_s(lambda: runtime.stylize_array(model, img, tile=4096), args.runs)
        gflop = flops_px * side * side / 1e9
        peak = matmul_gflops()  # measured next to each row: the shared cores' load drifts
        gatys_steps = max(5, args.gatys_steps // 10)  # measured steps; the time is scaled to gatys_steps
        settings = transfer.TransferSettings(steps=gatys_steps, size=side, optimizer="lbfgs", multiscale=False)
        t0 = time.perf_counter()
        transfer.style_transfer(backbone, x, [style], settings)
        t_gatys = (time.perf_counter() - t0) * args.gatys_steps / gatys_steps  # scaled to gatys_steps
        rows.append({"size": side, "torch_ms": t_torch * 1e3, "onnx_ms": t_onnx * 1e3,
                     "onnx_speedup": t_torch / t_onnx, "gflop": gflop, "onnx_gflops": gflop / t_onnx,
                     "torch_gflops": gflop / t_torch, "matmul_gflops": peak,
                     "gatys_s": t_gatys, "gatys_steps": args.gatys_steps,
                     "gatys_measured_steps": gatys_steps, "ff_vs_gatys": t_gatys / t_onnx})
        print(json.dumps(rows[-1]), flush=True)
    large = None
    if not args.skip_large:
        big = np.tile(photo(1000), (3, 4, 1))  # 3000 x 4000
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        out = runtime.stylize(model, big)
        large = {"shape": list(out.shape), "seconds": time.perf_counter() - t0,
                 "peak_rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}
        print(json.dumps({"large": large}), flush=True)
    print(f"\nstylizer {args.model} ({model.manifest['network']}), {threads} torch threads, "
          f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    print("| size | PyTorch eager | ONNX Runtime | speed-up | GFLOP | ONNX GFLOP/s (matmul GFLOP/s, %) "
          f"| Gatys L-BFGS {args.gatys_steps} steps | feed-forward speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['torch_ms']:.0f} ms | {r['onnx_ms']:.0f} ms | {r['onnx_speedup']:.2f}x | "
              f"{r['gflop']:.1f} | {r['onnx_gflops']:.1f} ({r['matmul_gflops']:.1f}, "
              f"{100 * r['onnx_gflops'] / r['matmul_gflops']:.0f}%) | "
              f"{r['gatys_s']:.1f} s{'*' if r['gatys_measured_steps'] != r['gatys_steps'] else ''} | "
              f"{r['ff_vs_gatys']:.0f}x |")
    if large:
        print(f"\n4000x3000 tiled: {large['seconds']:.1f} s, peak RSS growth {large['peak_rss_growth_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "large": large}, indent=1))


if __name__ == "__main__":
    main()
