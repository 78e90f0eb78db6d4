#!/usr/bin/env python
"""What a ConvLens deployment's memory is made of, and how long it takes to start.

  imports   one fresh process per step, each importing one more library (numpy, Pillow, torch, torchvision, cv2,
            scikit-learn, ONNX Runtime, TorchServe's worker, the backbone): what each step adds to a lone process
  server    a private TorchServe serving the chosen endpoints: time until every endpoint is READY, then the
            proportional set size (PSS, /proc/PID/smaps_rollup: shared pages split fairly between the processes
            sharing them) of the Java frontend, of every worker, and of the zygote and the workers' shims when
            workers are forked (scripts/worker_site/convlens_zygote), before the first request, per endpoint and
            in total; then each endpoint's first answer

    .venv/bin/python benchmarks/memory.py --endpoints stylize             # one deployment profile
    .venv/bin/python benchmarks/memory.py --profile attribution --imports # a profile, plus the import steps
    .venv/bin/python benchmarks/memory.py --endpoints attribution --compare-zygote   # with and without, ratios

Memory is measured before the first request (what a deployment holds idle); compare runs on one machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "scripts", ROOT / "handlers", ROOT / "client", ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

MIB = 1024 * 1024
STARTUP_TIMEOUT_S = 900  # a shared machine under load may take minutes to start every endpoint: measure it anyway
# Cumulative import steps: each runs in a fresh interpreter with every step before it, so the difference between
# two steps is what that step adds. The last two are a worker: TorchServe's worker modules, a loaded backbone.
IMPORT_STEPS: tuple[tuple[str, str], ...] = (
    ("python", "pass"),
    ("numpy + Pillow", "import numpy, PIL.Image"),
    ("onnxruntime", "import onnxruntime"),
    ("torch", "import torch"),
    ("torchvision", "import torchvision"),
    ("cv2", "import cv2"),
    ("scikit-learn", "import sklearn.manifold, sklearn.decomposition"),
    ("TorchServe worker", "import ts.model_service_worker"),
    ("backbone", "from convlens.core import backbones; backbones.load_backbone('efficientnet_lite0', None, "
                 "torch.device('cpu'))"),
)


def smaps_rollup(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/smaps_rollup (Rss, Pss, Pss_Anon, Pss_File, ...) in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[key.strip()] = int(parts[0]) * 1024
    return out


def import_steps() -> list[dict[str, Any]]:
    """RSS, PSS and anonymous (private, paid by every worker in full) memory after each cumulative import step."""
    rows, code = [], []
    for name, statement in IMPORT_STEPS:
        code.append(statement)
        script = "\n".join(["import sys", "sys.path[:0] = [sys.argv[1]]", *code,
                             "print(open('/proc/self/smaps_rollup').read())"])
        started = time.perf_counter()
        text = subprocess.run([sys.executable, "-c", script, str(ROOT / "handlers")], check=True,
                              capture_output=True, text=True).stdout
        seconds = time.perf_counter() - started
        fields = {}
        for line in text.splitlines()[1:]:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2:
                fields[key.strip()] = int(parts[0]) * 1024
        rows.append({"step": name, "rss_mib": fields["Rss"] / MIB, "anon_mib": fields.get("Anonymous", 0) / MIB,
                     "seconds": seconds})
    for before, after in zip([None, *rows], rows):
        after["adds_rss_mib"] = after["rss_mib"] - (before["rss_mib"] if before else 0.0)
        after["adds_anon_mib"] = after["anon_mib"] - (before["anon_mib"] if before else 0.0)
        after["adds_seconds"] = after["seconds"] - (before["seconds"] if before else 0.0)
    return rows


def is_worker_command(pid: int) -> bool:
    """Whether `pid` runs TorchServe's worker script (a shim does; the frontend's metric collector does not)."""
    try:
        return "model_service_worker.py" in Path(f"/proc/{pid}/cmdline").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False


def server_memory(server: Any, endpoints: tuple[str, ...]) -> dict[str, Any]:
    """PSS of the frontend, of every endpoint's workers, of the zygote and of the shims the frontend launched in
    place of forked workers (MiB), read at the same moment; the total counts them all."""
    pids = {endpoint: server.worker_pids(endpoint) for endpoint in endpoints}
    workers = {pid for group in pids.values() for pid in group}
    from local_server import children

    shims = [pid for pid in children(server.frontend_pid()) if pid not in workers and is_worker_command(pid)]
    frontend = smaps_rollup(server.frontend_pid())
    zygote = smaps_rollup(server.zygote_pid)["Pss"] / MIB if server.zygote_pid else 0.0
    shims_pss = sum(smaps_rollup(pid)["Pss"] for pid in shims) / MIB if server.zygote_pid else 0.0
    per_endpoint = {}
    for endpoint, workers in pids.items():
        rollups = [smaps_rollup(pid) for pid in workers]
        per_endpoint[endpoint] = {"workers": len(workers), "pss_mib": sum(r["Pss"] for r in rollups) / MIB,
                                  "pss_anon_mib": sum(r.get("Pss_Anon", 0) for r in rollups) / MIB,
                                  "rss_mib": sum(r["Rss"] for r in rollups) / MIB}
    workers_pss = sum(e["pss_mib"] for e in per_endpoint.values())
    return {"frontend_pss_mib": frontend["Pss"] / MIB, "frontend_rss_mib": frontend["Rss"] / MIB,
            "endpoints": per_endpoint, "workers_pss_mib": workers_pss, "zygote_pss_mib": zygote,
            "shims": len(shims) if server.zygote_pid else 0, "shims_pss_mib": shims_pss,
            "total_pss_mib": workers_pss + frontend["Pss"] / MIB + zygote + shims_pss,
            "total_rss_mib": frontend["Rss"] / MIB + sum(e["rss_mib"] for e in per_endpoint.values())}


def first_answers(server: Any, endpoints: tuple[str, ...]) -> dict[str, float]:
    """Seconds of each endpoint's first request once every endpoint is READY (lazy set-up shows here)."""
    import workload
    from convlens_client import Client

    client = Client(server.host, transport="http", http_port=server.ports["http"], grpc_port=server.ports["grpc"],
                    key_file=server.key_file, timeout=300)
    first = {}
    requests = {endpoint: workload.fields(endpoint, 224) for endpoint in endpoints}  # built before any timing
    try:
        for endpoint in endpoints:
            started = time.perf_counter()
            client._transport.predict(endpoint, requests[endpoint])
            first[endpoint] = time.perf_counter() - started
    finally:
        client.close()
    return first


def measure_server(endpoints: tuple[str, ...], store: Path | None = None, jvm: str | None = None,
                   lazy_torch: bool = True, zygote: bool | None = None) -> dict[str, Any]:
    """Start a private TorchServe with `endpoints` (archives from `store`, default: model_store/ rebuilt), read its
    memory before any request, then time first answers. `jvm`: the frontend's JVM options instead of
    write_config.JVM_ARGS ("" = the JVM's defaults, as before issue 20); lazy_torch=False: every worker imports
    torch at start (without scripts/worker_site, as before; no zygote either); zygote: forked workers or not
    (None: as the start scripts decide)."""
    from local_server import running_server

    load_before = os.getloadavg()
    extra = None if jvm is None else {"vmargs": jvm}
    zygote = False if not lazy_torch else zygote
    with running_server(endpoints, model_store=store, extra_config=extra, lazy_torch=lazy_torch, zygote=zygote,
                        startup_timeout_s=STARTUP_TIMEOUT_S) as server:
        memory = server_memory(server, endpoints)
        ready = dict(server.ready_s)
        first = first_answers(server, endpoints)
        answered = server_memory(server, endpoints)
    first_answer_s = {e: ready[e] + first[e] for e in endpoints}
    return {"endpoints": list(endpoints), "zygote": server.zygote_pid is not None, "cores": os.cpu_count(),
            "load_average_before": list(load_before),
            "load_average_after": list(os.getloadavg()), "ready_s": server.cold_start_s,
            "endpoint_ready_s": ready, "first_request_s": first, "first_answer_s": first_answer_s,
            "memory": memory, "memory_after_first_answers": answered}


def print_server(report: dict[str, Any]) -> None:
    m = report["memory"]
    print(f"endpoints: {', '.join(report['endpoints'])}; {'zygote' if report.get('zygote') else 'no zygote'}; "
          f"{report['cores']} cores, load average before "
          f"{report['load_average_before'][0]:.2f}, after {report['load_average_after'][0]:.2f}")
    print(f"  all READY in {report['ready_s']:.1f} s; first answer after start (READY + first request): " +
          ", ".join(f"{e} {report['endpoint_ready_s'][e]:.1f} + {s:.1f} s"
                    for e, s in report["first_request_s"].items()))
    print(f"  {'process':16} {'workers':>7} {'PSS MiB':>9} {'PSS anon':>9} {'RSS MiB':>9}")
    print(f"  {'frontend (JVM)':16} {'':>7} {m['frontend_pss_mib']:9.0f} {'':>9} {m['frontend_rss_mib']:9.0f}")
    for endpoint, e in m["endpoints"].items():
        print(f"  {endpoint:16} {e['workers']:7d} {e['pss_mib']:9.0f} {e['pss_anon_mib']:9.0f} {e['rss_mib']:9.0f}")
    if m.get("zygote_pss_mib"):
        print(f"  {'zygote':16} {'':>7} {m['zygote_pss_mib']:9.0f}")
        print(f"  {'shims':16} {m['shims']:7d} {m['shims_pss_mib']:9.0f}")
    print(f"  {'total':16} {'':>7} {m['total_pss_mib']:9.0f} {'':>9} {m['total_rss_mib']:9.0f}")
    a = report["memory_after_first_answers"]
    print(f"  after one answer each: total PSS {a['total_pss_mib']:.0f} MiB (" +
          ", ".join(f"{e} {v['pss_mib']:.0f}" for e, v in a["endpoints"].items()) + ")")


def zygote_ratios(without: dict[str, Any], with_zygote: dict[str, Any]) -> dict[str, float]:
    """without / with the zygote: total PSS, PSS per torch worker (mean), time to all READY (above 1: it helps)."""
    import profiles

    def per_worker(report: dict[str, Any]) -> float:
        rows = [e for name, e in report["memory"]["endpoints"].items() if profiles.uses_torch(name)]
        return sum(e["pss_mib"] for e in rows) / max(1, sum(e["workers"] for e in rows))

    return {"total_pss_mib": without["memory"]["total_pss_mib"] / with_zygote["memory"]["total_pss_mib"],
            "torch_worker_pss_mib": per_worker(without) / max(per_worker(with_zygote), 1e-9),
            "ready_s": without["ready_s"] / with_zygote["ready_s"]}


def print_imports(rows: list[dict[str, Any]]) -> None:
    print(f"  {'import step':18} {'adds RSS MiB':>12} {'adds anon MiB':>13} {'adds s':>7}   (cumulative RSS)")
    for r in rows:
        print(f"  {r['step']:18} {r['adds_rss_mib']:12.0f} {r['adds_anon_mib']:13.0f} {r['adds_seconds']:7.2f}"
              f"   ({r['rss_mib']:.0f})")


def main() -> None:
    import profiles

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", help="comma list of endpoints and profile names (default: all)")
    parser.add_argument("--imports", action="store_true", help="also the import steps of a lone process")
    parser.add_argument("--no-server", action="store_true", help="only the import steps")
    parser.add_argument("--store", type=Path, help="serve the archives in this folder as they are (e.g. a copy "
                        "of an older build's model_store/*.mar, for before/after figures)")
    parser.add_argument("--jvm", help="the frontend's JVM options instead of write_config.JVM_ARGS ('' = the "
                        "JVM's defaults, as before)")
    parser.add_argument("--before", action="store_true", help="as before issue 20: the JVM's default options and "
                        "torch imported by every worker at start (pair with --store holding the old archives)")
    parser.add_argument("--no-zygote", action="store_true", help="workers started by TorchServe, not forked")
    parser.add_argument("--compare-zygote", action="store_true", help="measure with and without the zygote, "
                        "in this order, and print the ratios (no zygote / zygote)")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    try:
        endpoints = profiles.resolve(args.endpoints or "all")
    except ValueError as error:
        parser.error(str(error))
    report: dict[str, Any] = {}
    if args.imports or args.no_server:
        print("== import steps (a lone process: RSS = PSS)")
        report["imports"] = import_steps()
        print_imports(report["imports"])
    if not args.no_server:
        print("== server")
        report["server"] = measure_server(endpoints, args.store, "" if args.before else args.jvm,
                                          lazy_torch=not args.before, zygote=False if args.no_zygote else None)
        print_server(report["server"])
        if args.compare_zygote:
            report["no_zygote"] = measure_server(endpoints, args.store, args.jvm, zygote=False)
            print_server(report["no_zygote"])
            report["zygote_ratios"] = zygote_ratios(report["no_zygote"], report["server"])
            print("no zygote / zygote: " + ", ".join(f"{k} {v:.2f}x" for k, v in report["zygote_ratios"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
