"""The benchmark suite's own logic: every endpoint has a valid benchmark request, percentiles and the overhead
targets are computed right (the suite's figures are checked end to end in tests/integration/test_bench.py)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "scripts")]  # build_models is in scripts/

import build_models  # noqa: E402 - after the sys.path set-up above
import common  # noqa: E402 - after the sys.path set-up above
import run  # noqa: E402 - after the sys.path set-up above
import workload  # noqa: E402 - after the sys.path set-up above
from serving.specs import SPECS, parse  # noqa: E402 - after the sys.path set-up above


@pytest.mark.parametrize("endpoint", build_models.endpoints())
@pytest.mark.parametrize("side", [224, 512])
def test_every_endpoint_has_a_benchmark_request_its_parser_accepts(endpoint, side):
    parse(endpoint, workload.as_row(workload.fields(endpoint, side)))  # raises on an unknown/bad field


def test_special_requests_name_declared_endpoints_and_fields():
    """benchmarks/workload.py keeps only what differs from each example request: for endpoints and fields that exist."""
    for endpoint, request in workload.special(224).items():
        declared = {f.name for f in SPECS[endpoint].fields}
        assert {name.rsplit("_", 1)[0] if name[-1].isdigit() else name for name in request} <= declared, endpoint


def test_the_soak_mixes_every_endpoint_with_requests_its_parser_accepts():
    import soak  # benchmarks/soak.py

    assert soak.ENDPOINTS == sorted(SPECS)
    sent = []

    class Recorder:
        def raw(self, endpoint, images, **fields):
            sent.append(endpoint)
            parse(endpoint, {**images, **{k: v.encode() for k, v in fields.items()}})

    for mix in soak.MIX[len(soak.CHOSEN):]:
        mix.call(Recorder())
    assert sorted(sent) == sorted(set(SPECS) - {m.name for m in soak.CHOSEN})


def test_percentiles_known_answers():
    samples = [float(x) for x in range(1, 101)]
    assert common.percentile(samples, 50) == pytest.approx(50.5)
    assert common.percentile(samples, 99) == pytest.approx(99.01)
    assert common.summary([3.0, 1.0, 2.0]) == {"p50_ms": 2.0, "p99_ms": pytest.approx(2.98), "n": 3}
    assert common.ratio([10.0, 10.0], [4.0, 6.0]) == pytest.approx(2.0)


def row(endpoint: str, size: int, direct: float, http: float, grpc: float) -> dict:
    out = {"endpoint": endpoint, "size": size, "served": "all", "direct": {"p50_ms": direct}}
    for name, value in (("http", http), ("grpc", grpc)):
        out[name] = {"p50_ms": value, "overhead_ms": value - direct, "overhead_pct": 100 * (value - direct) / direct}
    return out


def test_targets_check_classify_in_ms_and_stylize_at_512_in_percent():
    report = {"latency": {"rows": [row("classify", 224, 40, 44.9, 46), row("stylize", 224, 100, 200, 200),
                                   row("stylize", 512, 400, 459, 461), row("saliency", 224, 10, 100, 100)]}}
    got = run.targets(report)
    every = ", every endpoint served"
    assert {k: v["met"] for k, v in got.items()} == {
        "classify 224 px over http" + every: True, "classify 224 px over grpc" + every: False,
        "stylize 512 px over http" + every: True, "stylize 512 px over grpc" + every: False}
    assert got["stylize 512 px over grpc" + every]["overhead"] == pytest.approx(15.25)


def test_memory_figures_read_smaps_rollup_and_ratios_are_before_over_after():
    import memory  # benchmarks/memory.py

    own = memory.smaps_rollup(os.getpid())
    assert 0 < own["Pss"] <= own["Rss"] and own["Pss_Anon"] <= own["Pss"]

    def report(pss: float, ready: float, first: dict[str, tuple[float, float]]) -> dict:
        return {"memory": {"total_pss_mib": pss}, "ready_s": ready,
                "endpoint_ready_s": {e: r for e, (r, _) in first.items()},
                "first_request_s": {e: f for e, (_, f) in first.items()}}

    before = run.memory_summary(report(8000.0, 90.0, {"classify": (60.0, 1.0), "stylize": (80.0, 10.0)}))
    after = run.memory_summary(report(2000.0, 30.0, {"classify": (20.0, 0.5), "stylize": (10.0, 0.5)}))
    assert before == {"total_pss_mib": 8000.0, "ready_s": 90.0, "first_answer_s": 90.0}  # slowest first answer
    assert run.memory_ratios(before, after) == pytest.approx({"total_pss_mib": 4.0, "ready_s": 3.0,
                                                               "first_answer_s": 90 / 20.5})
    assert run.memory_ratios({"total_pss_mib": 10.0}, after) == {"total_pss_mib": 10.0 / 2000.0}  # only shared keys
    baseline = json.loads(run.BASELINE.read_text())["profiles"]
    assert {"stylize", "all"} <= set(baseline) and all(b["total_pss_mib"] > 0 for b in baseline.values())


def test_zygote_ratios_count_torch_workers_only_and_children_are_read_from_proc():
    import subprocess
    import sys

    import local_server
    import memory  # benchmarks/memory.py

    def report(total: float, ready: float, workers: dict[str, tuple[int, float]]) -> dict:
        return {"memory": {"total_pss_mib": total, "endpoints": {
            e: {"workers": n, "pss_mib": pss} for e, (n, pss) in workers.items()}}, "ready_s": ready}

    without = report(6000.0, 30.0, {"classify": (2, 660.0), "saliency": (1, 330.0), "stylize": (1, 26.0)})
    with_zygote = report(2000.0, 15.0, {"classify": (2, 160.0), "saliency": (1, 80.0), "stylize": (1, 43.0)})
    assert memory.zygote_ratios(without, with_zygote) == pytest.approx(
        {"total_pss_mib": 3.0, "torch_worker_pss_mib": 330 / 80, "ready_s": 2.0})  # stylize is not a torch worker
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in local_server.children(os.getpid())
    finally:
        child.kill()
        child.wait()
