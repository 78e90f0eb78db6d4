"""`benchmarks/run.py` end to end on one endpoint: it starts its own servers, measures and writes the report."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_suite_reports_latency_throughput_and_targets(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--sections", "latency,throughput",
                           "--endpoints", "classify", "--sizes", "224", "--runs", "3", "--requests", "8",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["machine"]["cores"] == os.cpu_count() and report["machine"]["matmul_gflops"] > 0
    row, alone = report["latency"]["rows"]  # every endpoint served (here: classify), then classify alone
    assert (row["endpoint"], row["size"], row["served"]) == ("classify", 224, "all")
    assert (alone["endpoint"], alone["served"]) == ("classify", "dedicated")
    for way in ("direct", "http", "grpc"):
        assert 0 < row[way]["p50_ms"] <= row[way]["p99_ms"] and row[way]["n"] == 3
    assert row["http"]["overhead_ms"] == row["http"]["p50_ms"] - row["direct"]["p50_ms"]
    assert 100 < report["latency"]["worker_peak_rss_mib"]["classify"] < 8000
    assert report["latency"]["cold_start"]["ready_s"] > 0
    models = report["throughput"]["models"]
    assert set(models) == {"classify_before", "classify_batch8", "classify_shipped", "classify_1x1threads",
                           "classify_2x1threads"}
    assert all(m["requests_per_s"] > 0 and m["idle_p50_ms"] > 0 for m in models.values())
    assert set(report["targets"]) == {f"classify 224 px over {t}, {s}" for t in ("http", "grpc")
                                      for s in ("every endpoint served", "classify served alone")}
    assert "classify" in done.stdout and "throughput ratios" in done.stdout
