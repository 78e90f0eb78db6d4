#!/usr/bin/env python
"""Style benchmark: one shipped stylizer at 256, 512 and 1024 px, ONNX Runtime vs PyTorch eager (same weights),
achieved GFLOP/s vs this machine's measured matmul GFLOP/s, and feed-forward vs optimization transfer at equal
size (Johnson et al.'s "three orders of magnitude"). Also a 4000x3000 tiled stylize with its peak memory.

    .venv/bin/python benchmarks/style.py [--model stained_glass] [--runs 5] [--gatys-steps 100] [--json out.json]

`--variants` instead compares ways to run the same network, round-robin within one run (`measure`, importable):
the statistics graph, the fast single-tile graph, graph optimization levels, PyTorch eager (also channels-last),
INT8 dynamic and static quantization, each with its speed ratio, output difference and GFLOP/s.

    .venv/bin/python benchmarks/style.py --variants [--quick] [--runs 3] [--json out.json]

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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers"), str(ROOT / "benchmarks"), str(ROOT)]

import numpy as np
import torch
from skimage import data
from tools.stylizers import export, nets, patterns  # noqa: E402

from common import matmul_gflops  # noqa: E402  (benchmarks/: the one machine-rate measurement)
from convlens.core import backbones  # noqa: E402
from convlens.style import transfer  # noqa: E402
from convlens.stylize import runtime  # noqa: E402

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


def photo(side: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(data.astronaut()).resize((side, side), Image.BILINEAR))


# --- variants of one network (issue 8): same weights, different graphs, levels, runtimes and precisions ------------

CALIBRATION = ("chelsea", "coffee", "rocket")  # static INT8 calibration photos (the benchmark photo is astronaut)


def _session(path: Path, level: str, threads: int) -> object:
    import onnxruntime as ort

    options = runtime.session_options(threads)
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, f"ORT_{level}")  # pools never spin
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _quantized(fast: Path, folder: Path, side: int) -> dict[str, Path]:
    """INT8 copies of the fast graph: dynamic (weights u8, activations quantized per call) and static QDQ
    (per-channel s8 weights, u8 activations calibrated on a few photos) of the convs but the first and the last
    (quantizing those too, or the norms, cost 2-5 dB PSNR more for no further speed on 2 AVX2 cores)."""
    import logging

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    class Photos(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter([{"image": runtime._chw(_square(getattr(data, n)(), side))} for n in CALIBRATION])

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    out = {"int8 dynamic": folder / "dynamic.onnx", "int8 static": folder / "static.onnx"}
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs every tensor whose shape it cannot infer
    try:
        quantize_dynamic(str(fast), str(out["int8 dynamic"]), weight_type=QuantType.QUInt8)
        convs = [n.name for n in onnx.load(str(fast)).graph.node if n.op_type == "Conv"]
        quantize_static(str(fast), str(out["int8 static"]), Photos(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv"], nodes_to_exclude=[convs[0], convs[-1]])
    finally:
        logging.getLogger().setLevel(level)
    return out


def _square(image: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    c = min(h, w)
    crop = image[(h - c) // 2:(h - c) // 2 + c, (w - c) // 2:(w - c) // 2 + c]
    return np.asarray(Image.fromarray(crop).resize((side, side), Image.BILINEAR))


def difference(got: np.ndarray, want: np.ndarray) -> dict:
    """Output difference in 8-bit levels (mean, max abs) and PSNR (dB; None when identical) of [0, 1] images."""
    a, b = np.round(got * 255), np.round(want * 255)
    mse = float(np.mean((a - b) ** 2))
    return {"mean_levels": float(np.abs(a - b).mean()), "max_levels": float(np.abs(a - b).max()),
            "psnr_db": None if mse == 0 else float(10 * np.log10(255 ** 2 / mse))}


def measure(sizes: tuple[int, ...] = (256, 512, 1024), runs: int = 3, model_name: str = "stained_glass",
            int8: bool = True, calibration_side: int = 256, threads: int | None = None) -> dict:
    """Every variant of one stylizer at each size, timed round-robin (median of `runs` after a warm-up): ms,
    speed-up over the statistics graph (the served path before issue 8), output difference from it, GFLOP/s and
    their share of the float32 matmul rate measured next to each size."""
    import tempfile

    threads = threads or torch.get_num_threads()
    model = runtime.StyleLibrary(STORE).models[model_name]
    if model.multi or model.fast_path is None:
        raise SystemExit(f"{model_name}: the variants benchmark needs a single-style net with a fast graph")
    net = export.model_from_onnx(model.path, model.manifest["network"])
    channels_last = export.model_from_onnx(model.path, model.manifest["network"]).to(memory_format=torch.channels_last)
    stats_feeds = {"alpha": np.zeros((), np.float32),
                   **{f"stats_{i}": np.zeros((1, c, 1, 1), np.float32)
                      for i, c in enumerate(model.manifest["stats_channels"])}}
    graphs = {"stats graph (served before)": (model.path, "ENABLE_ALL"), "fast graph (served)": (model.fast_path,
              "ENABLE_ALL"), "fast graph, EXTENDED (no NCHWc)": (model.fast_path, "ENABLE_EXTENDED"),
              "fast graph, BASIC": (model.fast_path, "ENABLE_BASIC")}
    with tempfile.TemporaryDirectory() as tmp:
        if int8:
            graphs.update({k: (v, "ENABLE_ALL") for k, v in
                           _quantized(model.fast_path, Path(tmp), calibration_side).items()})
        sessions = {k: _session(path, level, threads) for k, (path, level) in graphs.items()}

        def onnx_fn(name: str) -> Callable[[np.ndarray], np.ndarray]:
            extra = stats_feeds if name.startswith("stats") else {}
            return lambda x: sessions[name].run(["stylized"], {"image": x, **extra})[0]

        def torch_fn(m: nets.Stylizer, last: bool) -> Callable[[np.ndarray], np.ndarray]:
            def run(x: np.ndarray) -> np.ndarray:
                t = torch.from_numpy(x)
                with torch.inference_mode():
                    return m.fused(t.contiguous(memory_format=torch.channels_last) if last else t).numpy()
            return run

        variants = {k: onnx_fn(k) for k in sessions}
        variants["PyTorch eager (fused norms)"] = torch_fn(net, False)
        variants["PyTorch eager, channels-last"] = torch_fn(channels_last, True)
        rows = []
        for side in sizes:
            x = runtime._chw(photo(side))
            reference = variants["stats graph (served before)"](x)
            samples: dict[str, list[float]] = {k: [] for k in variants}
            outputs = {k: fn(x) for k, fn in variants.items()}  # warm-up, and the outputs to compare
            for _ in range(runs):
                for name, fn in variants.items():
                    t = time.perf_counter()
                    fn(x)
                    samples[name].append(time.perf_counter() - t)
            peak = matmul_gflops()
            gflop = nets.flops_per_pixel(net.config) * side * side / 1e9
            base = statistics.median(samples["stats graph (served before)"])
            row = {"size": side, "gflop": gflop, "matmul_gflops": peak, "variants": {}}
            for name in variants:
                t = statistics.median(samples[name])
                row["variants"][name] = {"ms": t * 1e3, "speedup": base / t, "gflops": gflop / t,
                                         "matmul_share": gflop / t / peak, **difference(outputs[name], reference)}
            rows.append(row)
    return {"model": model_name, "threads": threads, "cores": os.cpu_count(), "runs": runs,
            "flop_per_pixel": nets.flops_per_pixel(net.config), "rows": rows}


def variants_table(result: dict) -> str:
    """Markdown: one row per variant, one column per size (ms, speed-up, GFLOP/s and share of matmul, diff)."""
    sizes = [r["size"] for r in result["rows"]]
    lines = ["| variant | " + " | ".join(f"{s} px" for s in sizes) + " | difference (levels mean/max, PSNR) |",
             "|---|" + "---|" * (len(sizes) + 1)]
    for name in result["rows"][0]["variants"]:
        cells = []
        for r in result["rows"]:
            v = r["variants"][name]
            cells.append(f"{v['ms']:.0f} ms, {v['speedup']:.2f}x, {v['gflops']:.0f} GFLOP/s "
                         f"({100 * v['matmul_share']:.0f} %)")
        v = result["rows"][-1]["variants"][name]
        psnr = "exact" if v["max_levels"] == 0 else f"{v['psnr_db']:.1f} dB"
        diff = f"{v['mean_levels']:.2f} / {v['max_levels']:.0f}, {psnr}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {diff} |")
    peaks = ", ".join(f"{r['matmul_gflops']:.0f}" for r in result["rows"])
    lines.append(f"\nmatmul float32 GFLOP/s measured next to each size: {peaks}; difference at "
                 f"{sizes[-1]} px against the statistics graph")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="stained_glass")
    p.add_argument("--sizes", default="256,512,1024")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--gatys-steps", type=int, default=100)
    p.add_argument("--skip-large", action="store_true", help="skip the 4000x3000 run")
    p.add_argument("--json", type=Path)
    p.add_argument("--variants", action="store_true", help="compare graphs, levels, runtimes, INT8 (only that)")
    p.add_argument("--quick", action="store_true", help="with --variants: 256 and 512 px, 2 runs, 128 px calibration")
    args = p.parse_args()
    if args.variants:
        sizes = (256, 512) if args.quick else tuple(int(s) for s in args.sizes.split(","))
        result = measure(sizes, 2 if args.quick else args.runs, args.model,
                         calibration_side=128 if args.quick else 256)
        print(variants_table(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return
    threads = torch.get_num_threads()
    library = runtime.StyleLibrary(STORE, threads=threads)
    model = library.models[args.model]
    # the ONNX file's weights back into PyTorch: the same network on both runtimes
    torch_model = export.model_from_onnx(model.path, model.manifest["network"])
    flops_px = nets.flops_per_pixel(torch_model.config)
    rows = []
    backbone = backbones.load_backbone(device=torch.device("cpu"))
    style = torch.from_numpy(patterns.make(args.model if args.model in patterns.PATTERNS else "cubist", 256))
    style = style.permute(2, 0, 1)[None].float() / 255
    for side in [int(s) for s in args.sizes.split(",")]:
        img = photo(side)
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            t_torch = median_s(lambda x=x: torch_model(x), args.runs)
        t_onnx = median_s(lambda img=img: runtime.stylize_array(model, img, tile=4096), args.runs)
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
