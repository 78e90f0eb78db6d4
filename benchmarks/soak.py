#!/usr/bin/env python
"""Soak: a bounded mix of requests from several concurrent clients over HTTP and gRPC against a private server.

Bounded by a fixed request count and a maximum duration, loopback only (a private TorchServe on free ports).
Reports requests served, errors by type (deliberately bad requests are part of the mix and must fail as
expected; anything else is unexpected), p50/p95/p99 latency per endpoint and transport, and worker RSS at start
and end. Exits non-zero on any unexpected error, a restarted worker, or RSS growth of 10% or more.

    .venv/bin/python benchmarks/soak.py [--requests 600] [--duration 150] [--clients 4] [--json out.json]

Every endpoint the specs declare is in the mix: those without a line in CHOSEN join with weight 1 and their
benchmark request (benchmarks/workload.py at 96 px, sent with `Client.raw`). A Mix(...) line in CHOSEN gives an
endpoint more weight or other calls through the SDK, or adds a deliberately bad request (with the error class it
must raise).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import struct
import sys
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "client"), str(ROOT / "handlers")]

import numpy as np
import psutil
from PIL import Image
from skimage import data

import workload
from convlens_client import Client
from convlens_client.errors import ConvLensError, InvalidRequest, TooLarge
from convlens_client.inputs import ImageFile
from serving.specs import SPECS


def _jpeg(array: np.ndarray, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).resize(size).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


CAT = _jpeg(data.chelsea(), (336, 224))
COFFEE = _jpeg(data.coffee(), (300, 200))


def _png_bomb(side: int) -> bytes:
    """A PNG header declaring side x side RGB pixels around a tiny payload (the pixels are never allocated)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(4096))) + \
        chunk(b"IEND", b"")


BOMB = _png_bomb(30000)


@dataclass(frozen=True)
class Mix:
    """One kind of request: `call(client)` must return normally, or raise `expect` when that is set."""

    name: str
    weight: int
    call: Callable[[Client], Any]
    expect: type[ConvLensError] | None = None


CHOSEN = [
    Mix("classify", 4, lambda c: c.classify(CAT, topk=5)),
    Mix("classify", 2, lambda c: c.classify(COFFEE, topk=1)),
    Mix("saliency", 2, lambda c: c.saliency(CAT, size=96)),
    Mix("saliency", 1, lambda c: c.saliency_image(COFFEE, view="overlay", size=96)),
    Mix("classify:bad-image", 1, lambda c: c.classify(CAT[:1000]), InvalidRequest),
    Mix("saliency:bad-target", 1, lambda c: c.saliency(CAT, target="no such class", size=64), InvalidRequest),
    Mix("classify:bomb", 1, lambda c: c.classify(BOMB), TooLarge),
    Mix("occlusion", 1, lambda c: c.occlusion(CAT, patch=32, stride=32, size=96)),
    Mix("stylize", 3, lambda c: c.stylize(CAT, style="pointillism", max_size=256)),
    Mix("stylize:bad-style", 1, lambda c: c.stylize(CAT, style="no_such_style"), InvalidRequest),
    Mix("embed", 1, lambda c: c.embed([CAT, COFFEE])),
    Mix("deepdream", 1, lambda c: c.deepdream(CAT, layer="block3", octaves=1, steps=3)),
]


def benchmark_call(endpoint: str) -> Callable[[Client], Any]:
    """The endpoint's benchmark request at 96 px, as the server answers it."""
    request = workload.fields(endpoint, 96)
    images = {name: v.data for name, v in request.items() if isinstance(v, ImageFile)}
    text = {name: v for name, v in request.items() if not isinstance(v, ImageFile)}
    return lambda client: client.raw(endpoint, images, **text)


MIX = CHOSEN + [Mix(e, 1, benchmark_call(e)) for e in sorted(SPECS) if e not in {m.name.split(":")[0] for m in CHOSEN}]
ENDPOINTS = sorted({m.name.split(":")[0] for m in MIX})


def worker_rss(server) -> dict[str, dict[int, int]]:
    return {e: {pid: psutil.Process(pid).memory_info().rss for pid in server.worker_pids(e)} for e in ENDPOINTS}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def soak(server, total: int, duration: float, clients: int, seed: int) -> dict[str, Any]:
    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    lock, issued = threading.Lock(), [0]
    deadline = time.monotonic() + duration
    weights = [m.weight for m in MIX]

    def run(index: int) -> None:
        transport = "http" if index % 2 == 0 else "grpc"
        rng = random.Random(seed + index)
        with Client(server.host, transport=transport, http_port=server.ports["http"],
                    grpc_port=server.ports["grpc"], key_file=server.key_file, timeout=60) as client:
            while time.monotonic() < deadline:
                with lock:
                    if issued[0] >= total:
                        return
                    issued[0] += 1
                mix = rng.choices(MIX, weights)[0]
                started = time.perf_counter()
                try:
                    mix.call(client)
                    error: BaseException | None = None
                except Exception as exc:  # noqa: BLE001 - every failure is classified below
                    error = exc
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if mix.expect is None and error is None:
                        outcomes["ok"] += 1
                        latencies[(mix.name.split(":")[0], transport)].append(elapsed)
                    elif mix.expect is not None and isinstance(error, mix.expect):
                        outcomes[f"expected {type(error).__name__} ({mix.name})"] += 1
                    else:
                        outcomes[f"UNEXPECTED {type(error).__name__ if error else 'success'} ({mix.name})"] += 1
                        unexpected.append(f"{mix.name} over {transport}: {error!r}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    table = {f"{e} {t}": {"n": len(v), "p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95),
                          "p99_ms": percentile(v, 99)} for (e, t), v in sorted(latencies.items())}
    return {"requests": sum(outcomes.values()), "wall_s": wall, "outcomes": dict(outcomes),
            "unexpected": unexpected[:20], "latency": table}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="total requests (fixed bound)")
    parser.add_argument("--duration", type=float, default=150, help="maximum seconds of load (fixed bound)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients, half HTTP, half gRPC")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from local_server import running_server

    with running_server() as server:
        with Client(server.host, http_port=server.ports["http"], key_file=server.key_file) as warm:
            for _ in range(5):  # first requests allocate caches that stay: measure RSS after them
                for mix in MIX:
                    if mix.expect is None:
                        mix.call(warm)
        pids = {e: server.worker_pids(e) for e in ENDPOINTS}
        rss_start = worker_rss(server)
        load_start = os.getloadavg()[0]
        result = soak(server, args.requests, args.duration, args.clients, args.seed)
        rss_end = worker_rss(server)
        load_end = os.getloadavg()[0]
        restarted = [e for e in ENDPOINTS if server.worker_pids(e) != pids[e]]
    growth = {f"{e} pid {pid}": {"start_mib": rss_start[e][pid] / 2**20, "end_mib": rss_end[e][pid] / 2**20,
                                 "growth_pct": 100 * (rss_end[e][pid] / rss_start[e][pid] - 1)}
              for e in ENDPOINTS for pid in rss_start[e] if pid in rss_end.get(e, {})}
    result.update(rss=growth, restarted=restarted, clients=args.clients, machine=f"{platform.machine()}, "
                  f"{os.cpu_count()} cores", cold_start_s=server.cold_start_s,
                  load_average=(load_start, load_end))

    print(f"\n{result['requests']} requests in {result['wall_s']:.1f} s from {args.clients} clients "
          f"(HTTP and gRPC), {result['machine']}, 1-min load average {load_start:.1f} -> {load_end:.1f}")
    for kind, n in sorted(result["outcomes"].items()):
        print(f"  {n:6d}  {kind}")
    print("\n| endpoint transport | n | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
    for name, row in result["latency"].items():
        print(f"| {name} | {row['n']} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['p99_ms']:.0f} |")
    print("\n| worker | RSS start MiB | RSS end MiB | growth |\n|---|---|---|---|")
    for name, row in growth.items():
        print(f"| {name} | {row['start_mib']:.0f} | {row['end_mib']:.0f} | {row['growth_pct']:+.1f}% |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    failed = result["unexpected"] or restarted or any(r["growth_pct"] >= 10 for r in growth.values())
    for line in result["unexpected"]:
        print(f"unexpected: {line}", file=sys.stderr)
    if restarted:
        print(f"restarted workers: {restarted}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
