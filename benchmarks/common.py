"""Shared by the benchmarks: round-robin timing, percentiles, the machine's description, worker memory, and a fake
TorchServe context that runs a handler in-process with its endpoint's own YAML config."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "handlers", ROOT / "scripts", ROOT / "client"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import numpy as np
import torch
import yaml


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation; with fewer than 100 samples p99 is close to the maximum)."""
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(samples_ms, 50), "p99_ms": percentile(samples_ms, 99), "n": len(samples_ms)}


def timed(fns: dict[str, Callable[[], object]], runs: int, warmup: int = 1) -> dict[str, list[float]]:
    """Milliseconds per call of each function, round-robin so that machine drift affects them all alike, the
    order rotating every round so that none always follows another (a process that just finished may keep a
    core busy for a moment: thread pools spinning before they sleep)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(runs):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            start = time.perf_counter()
            fns[name]()
            samples[name].append((time.perf_counter() - start) * 1000)
    return samples


def ratio(before: list[float], after: list[float]) -> float:
    """Speed-up of `after` over `before` (medians)."""
    return statistics.median(before) / statistics.median(after)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_gflops(n: int = 1024, runs: int = 5) -> float:
    """Float32 GEMM rate of this machine with torch's threads (2·n³ FLOP per product, median of `runs`)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    median_ms = percentile(timed({"mm": lambda: a @ b}, runs, warmup=2)["mm"], 50)
    return 2 * n ** 3 / (median_ms / 1000) / 1e9


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, GPU (if any) and library versions: the context every figure needs."""
    import onnxruntime
    import psutil

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "gpu": gpu, "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def endpoint_config(endpoint: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "model_store" / f"{endpoint}.yaml").read_text())


class FakeContext:
    """The parts of TorchServe's Context a handler uses, with `endpoint`'s YAML config and the model dir."""

    def __init__(self, endpoint: str) -> None:
        gpu_id = 0 if torch.cuda.is_available() else None  # where TorchServe would put the worker
        self.system_properties = {"model_dir": str(ROOT / "model_store"), "gpu_id": gpu_id}
        self.model_yaml_config = endpoint_config(endpoint)
        self.status: dict[int, int] = {}

    def get_request_header(self, idx: int, key: str) -> None:
        return None

    def set_response_content_type(self, idx: int, value: str) -> None:
        pass

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.status[idx] = code


def load_handler(endpoint: str) -> Any:
    """The endpoint's handler, initialized as its worker would be (its YAML's thread settings included)."""
    import importlib

    module = importlib.import_module(endpoint)
    cls = next(v for k, v in vars(module).items() if k.endswith("Handler") and getattr(v, "task", "") == endpoint)
    handler = cls()
    torch.set_num_threads(os.cpu_count() or 1)  # a worker starts with torch's default; the YAML may lower it
    handler.initialize(FakeContext(endpoint))
    return handler
