#!/usr/bin/env python
"""Seconds of each iterative endpoint's default request against its time budget (issue 17), no server: the
endpoint's handler is set up from its own `model_store/<endpoint>.yaml` (backbone, torch threads, budget) and runs
a request that gives only the required fields, so every other field is at the spec's default.

    .venv/bin/python benchmarks/defaults.py [--only classviz,texture] [--repeat 1]

Prints one row per request (wall and CPU seconds, the budget, the share of it used) and the load average before
and after: on a shared machine the wall time grows with the load, the CPU time much less (with one torch thread,
the endpoints' setting except style_transfer's, the CPU time is the wall time of an idle machine). The budget is not
enforced here (a busy machine would end the request with a 413 and leave no number): the share says whether it
would have been.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import io
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers"), str(ROOT)]

from tools.stylizers import patterns  # noqa: E402 - after the sys.path set-up


def png(pixels: np.ndarray) -> bytes:
    """The picture as PNG bytes, as a client uploads it."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def photo(name: str) -> bytes:
    """A scikit-image photo as PNG bytes."""
    from skimage import data

    return png(np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB")))


# request name -> (endpoint, the required fields only); pictures are made when the request runs
REQUESTS: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "classviz (class goldfish)": ("classviz", lambda: {"target": "goldfish"}),
    "classviz (neuron block10:12)": ("classviz", lambda: {"layer": "block10", "channel": "12",
                                                          "objective": "neuron"}),
    "texture (brick)": ("texture", lambda: {"image": photo("brick")}),
    "style_transfer (cat, stained glass)": ("style_transfer", lambda: {
        "content": photo("chelsea"), "style": png(patterns.make(next(iter(patterns.PATTERNS)), 256))}),
    "fooling (cat -> koala)": ("fooling", lambda: {"image": photo("chelsea"), "target": "koala"}),
    "deepdream (cat)": ("deepdream", lambda: {"image": photo("chelsea")}),
    "inversion (cat)": ("inversion", lambda: {"image": photo("chelsea")}),
}


class Context:
    """The parts of TorchServe's context a handler's `initialize` reads: the endpoint's YAML and model dir."""

    def __init__(self, endpoint: str) -> None:
        self.system_properties = {"model_dir": str(ROOT / "model_store"), "gpu_id": None, "batch_size": 1}
        self.model_yaml_config = yaml.safe_load((ROOT / "model_store" / f"{endpoint}.yaml").read_text())
        self.manifest = {"model": {"configFile": f"{endpoint}.yaml"}}


def handler_for(endpoint: str) -> Any:
    """The endpoint's handler (the class in handlers/<endpoint>.py), initialized from its YAML."""
    module = importlib.import_module(endpoint)
    cls = next(v for v in vars(module).values()
               if isinstance(v, type) and getattr(v, "task", None) == endpoint and v.__module__ == endpoint)
    handler = cls()
    handler.initialize(Context(endpoint))
    handler.budget_s = handler.config.time_budget_s
    handler.config = dataclasses.replace(handler.config, time_budget_s=math.inf)  # measured, not enforced
    return handler


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated endpoints (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per request (the best is shown)")
    args = parser.parse_args(argv)
    only = {e for e in args.only.split(",") if e}
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} cores")
    print("| request | wall s | CPU s | budget s | wall of budget | CPU of budget |\n|---|---|---|---|---|---|")
    rows, handlers = [], {}
    for name, (endpoint, fields) in REQUESTS.items():
        if only and endpoint not in only:
            continue
        handler = handlers.get(endpoint) or handlers.setdefault(endpoint, handler_for(endpoint))
        best: tuple[float, float] | None = None
        for _ in range(args.repeat):
            request = fields()
            wall, cpu = time.perf_counter(), time.process_time()
            handler.run(request, False)
            took = (time.perf_counter() - wall, time.process_time() - cpu)
            best = took if best is None or took[0] < best[0] else best
        assert best is not None
        budget = handler.budget_s
        rows.append({"request": name, "endpoint": endpoint, "wall_s": best[0], "cpu_s": best[1], "budget_s": budget})
        print(f"| {name} | {best[0]:.1f} | {best[1]:.1f} | {budget:g} | {best[0] / budget:.0%} | "
              f"{best[1] / budget:.0%} |", flush=True)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return rows


if __name__ == "__main__":
    main()
