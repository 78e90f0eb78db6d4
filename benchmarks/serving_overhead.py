#!/usr/bin/env python
"""Serving overhead: p50/p90 latency of classify and saliency direct on the engine vs through TorchServe.

Measured in one run on one machine: engine only (decoded pixels in, result out), the handler in-process (bytes in,
bytes out: decode + engine + encode), then the same request through a private TorchServe over HTTP and gRPC with
the client SDK. Also prints TorchServe's cold start (process start to every endpoint ready).

    .venv/bin/python benchmarks/serving_overhead.py [--runs 30] [--size 224] [--json out.json]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers"), str(ROOT / "scripts")]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from convlens import attribution, backbones, classify, inputs  # noqa: E402


def timed(fns: dict[str, Callable[[], object]], runs: int, warmup: int = 10) -> dict[str, dict[str, float]]:
    """p50/p90 in ms of each function, run round-robin so that machine drift affects them all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: {"p50_ms": statistics.median(s), "p90_ms": sorted(s)[int(0.9 * (len(s) - 1))]}
            for name, s in samples.items()}


class FakeContext:
    system_properties = {"model_dir": ".", "gpu_id": None}
    model_yaml_config: dict = {"convlens": {}}

    def get_request_header(self, idx, key):
        return None

    def set_response_content_type(self, idx, value):
        pass

    def set_response_status(self, code=200, phrase="", idx=0):
        raise RuntimeError(f"request failed with {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--size", type=int, default=224, help="photo side in pixels (square JPEG)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    photo = Image.fromarray(data.chelsea()).resize((args.size, args.size), Image.BILINEAR)
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=92)
    jpeg = buf.getvalue()
    rows: dict[str, dict[str, float]] = {}

    bb = backbones.load_backbone()
    cls_pixels = inputs.to_tensor(inputs.classification_pixels(photo, bb.preprocessing))[None]
    sal_pixels = inputs.explanation_pixels(photo, 224)
    from classify import ClassifyHandler
    from saliency import SaliencyHandler

    handlers = {"classify": ClassifyHandler(), "saliency": SaliencyHandler()}
    for handler in handlers.values():
        handler.initialize(FakeContext())
    request = [{"image": jpeg, "format": b"proto"}]
    rows.update(timed({
        "classify engine": lambda: classify.classify(bb, cls_pixels, 5),
        "classify handler in-process": lambda: handlers["classify"].handle(request, FakeContext()),
        "saliency engine": lambda: attribution.saliency(bb, sal_pixels),
        "saliency handler in-process": lambda: handlers["saliency"].handle(request, FakeContext()),
    }, args.runs))
    del handlers, bb

    from convlens_client import Client
    from local_server import running_server

    with running_server() as server:
        rows["TorchServe cold start"] = {"p50_ms": server.cold_start_s * 1000, "p90_ms": float("nan")}
        clients = {t: Client(server.host, transport=t, http_port=server.ports["http"],
                             grpc_port=server.ports["grpc"], key_file=server.key_file) for t in ("http", "grpc")}
        for endpoint in ("classify", "saliency"):
            rows.update(timed({f"{endpoint} {t}": (lambda c=c, e=endpoint: getattr(c, e)(jpeg))
                               for t, c in clients.items()}, args.runs))
        for c in clients.values():
            c.close()
        import psutil

        for endpoint in ("classify", "saliency"):
            rss = sum(psutil.Process(pid).memory_info().rss for pid in server.worker_pids(endpoint)) / 2**20
            rows[f"{endpoint} worker RSS (MiB)"] = {"p50_ms": rss, "p90_ms": float("nan")}

    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
               f"threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}")
    print(f"\nmachine: {machine}; photo {args.size}x{args.size} JPEG; {args.runs} runs each\n")
    print(f"{'measurement':32} {'p50 ms':>9} {'p90 ms':>9} {'overhead vs in-process p50':>28}"
          "   (RSS rows: MiB in the p50 column)")
    for name, row in rows.items():
        base = rows.get(f"{name.split()[0]} handler in-process") if name.endswith(("http", "grpc")) else None
        extra = f"{row['p50_ms'] - base['p50_ms']:+.1f} ms ({row['p50_ms'] / base['p50_ms']:.2f}x)" if base else ""
        print(f"{name:32} {row['p50_ms']:9.1f} {row['p90_ms']:9.1f} {extra:>28}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "size": args.size, "runs": args.runs, "rows": rows},
                                        indent=2))


if __name__ == "__main__":
    main()
