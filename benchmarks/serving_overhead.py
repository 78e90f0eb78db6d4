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


def timed(fn: Callable[[], object], runs: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p90_ms": samples[int(0.9 * (len(samples) - 1))]}


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
    rows["classify engine"] = timed(lambda: classify.classify(bb, cls_pixels, 5), args.runs)
    rows["saliency engine"] = timed(lambda: attribution.saliency(bb, sal_pixels), args.runs)

    from classify import ClassifyHandler
    from saliency import SaliencyHandler

    for name, handler_cls, fields in (("classify", ClassifyHandler, {"format": b"proto"}),
                                      ("saliency", SaliencyHandler, {"format": b"proto"})):
        handler = handler_cls()
        handler.initialize(FakeContext())
        request = [{"image": jpeg, **fields}]
        rows[f"{name} handler in-process"] = timed(lambda: handler.handle(request, FakeContext()), args.runs)
    del handler

    from convlens_client import Client
    from local_server import running_server

    with running_server() as server:
        rows["TorchServe cold start"] = {"p50_ms": server.cold_start_s * 1000, "p90_ms": float("nan")}
        for transport in ("http", "grpc"):
            with Client(server.host, transport=transport, http_port=server.ports["http"],
                        grpc_port=server.ports["grpc"], key_file=server.key_file) as client:
                rows[f"classify {transport}"] = timed(lambda: client.classify(jpeg), args.runs)
                rows[f"saliency {transport}"] = timed(lambda: client.saliency(jpeg), args.runs)

    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
               f"threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}")
    print(f"\nmachine: {machine}; photo {args.size}x{args.size} JPEG; {args.runs} runs each\n")
    print(f"{'measurement':32} {'p50 ms':>9} {'p90 ms':>9} {'overhead vs in-process p50':>28}")
    for name, row in rows.items():
        base = rows.get(f"{name.split()[0]} handler in-process") if name.endswith(("http", "grpc")) else None
        extra = f"{row['p50_ms'] - base['p50_ms']:+.1f} ms ({row['p50_ms'] / base['p50_ms']:.2f}x)" if base else ""
        print(f"{name:32} {row['p50_ms']:9.1f} {row['p90_ms']:9.1f} {extra:>28}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "size": args.size, "runs": args.runs, "rows": rows},
                                        indent=2))


if __name__ == "__main__":
    main()
