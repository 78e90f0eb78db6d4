#!/usr/bin/env python
"""The ConvLens benchmark suite: one table and one JSON file from one run on one machine.

  latency     every endpoint at 224 and 512 px: p50/p99 direct (the handler in-process: decode + engine +
              encode, exactly what a worker runs) vs through TorchServe over HTTP and over gRPC, the serving
              overhead, the first answer after start and each worker's peak memory; TorchServe's cold start
  throughput  requests/s under concurrency: dynamic batching off vs on (classify, saliency, stylize), and
              1 worker x 2 threads vs 2 workers x 1 thread (classify) on the same cores
  tuning      before/after ratios of the serving path's choices: JPEG draft decoding, the uint8->float copy,
              torch and ONNX Runtime threads, PNG compression level and JPEG for stylized pictures
  stylizer    ONNX Runtime graph variants of the feed-forward stylizer (benchmarks/style.py)
  memory      proportional set size of the frontend and every worker before the first request, time to all READY
              and to each first answer (benchmarks/memory.py): `stylize` and `attribution` as shipped and as before
              issue 20's serving changes (JVM defaults, torch imported by every worker at start) in this run, every
              endpoint as shipped; profiles with torch workers also without the zygote (fork server); ratios to
              each other and to the figures before issue 20 (benchmarks/baseline.json)

    make bench                                   # everything, a few minutes on 2 cores
    .venv/bin/python benchmarks/run.py --quick   # classify, saliency, stylize only, fewer runs
    .venv/bin/python benchmarks/run.py --sections latency,tuning --json build/bench/results.json

Figures are medians over interleaved runs (direct, HTTP and gRPC take turns), so drift on a shared machine hits
them alike; compare ratios within one run, not absolute numbers across machines.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # puts handlers/, scripts/ and client/ on the path
import workload

ROOT = common.ROOT
SECTIONS = ("latency", "throughput", "tuning", "stylizer", "memory")
QUICK_ENDPOINTS = ("classify", "saliency", "stylize")
WARMUP_REQUESTS = 300  # per transport, before timing: TorchServe's frontend is a JVM that needs its JIT warm
TARGETS = {"stylize": ("overhead_pct", 15.0, "% of direct at 512 px"), "classify": ("overhead_ms", 5.0, "ms")}


# --- latency: direct vs HTTP vs gRPC ----------------------------------------------------------------------------

def clients(server: Any) -> dict[str, Any]:
    from convlens_client import Client

    return {t: Client(server.host, transport=t, http_port=server.ports["http"], grpc_port=server.ports["grpc"],
                      key_file=server.key_file, timeout=300) for t in ("http", "grpc")}


def first_answers(server: Any, endpoints: tuple[str, ...]) -> dict[str, float]:
    """ms of each endpoint's first request after start (lazy set-up such as ONNX Runtime sessions shows here)."""
    first = {}
    with_clients = clients(server)
    for endpoint in endpoints:
        start = time.perf_counter()
        with_clients["http"]._transport.predict(endpoint, workload.fields(endpoint, 224))
        first[endpoint] = (time.perf_counter() - start) * 1000
    for c in with_clients.values():
        c.close()
    return first


def warm_frontend(via: dict[str, Any], endpoint: str, requests: int = WARMUP_REQUESTS) -> None:
    """Let the JVM compile TorchServe's request path first, as any server that has been up a while has: cheap
    requests the handler refuses at once (cold, a trivial round trip took 6.8 ms p50; after 300, 4.5 ms)."""
    from convlens_client.errors import ConvLensError

    for client in via.values():
        for _ in range(requests):
            try:
                client._transport.predict(endpoint, {"topk": "0"})
            except ConvLensError:
                pass


def latency(endpoints: tuple[str, ...], sizes: tuple[int, ...], runs: int, slow_runs: int,
            dedicated: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every endpoint on one server serving them all; then each `dedicated` endpoint on a server of its own (a
    deployment that serves one endpoint: no other workers competing for memory and cores)."""
    from local_server import running_server

    rows, memory = [], {}
    with running_server(endpoints) as server:
        first = first_answers(server, endpoints)
        cold = {"ready_s": server.cold_start_s, "first_answer_ms": first}
        rows += timed_endpoints(server, endpoints, sizes, runs, slow_runs, memory, "all")
    for endpoint in dedicated:
        with running_server((endpoint,)) as server:
            rows += timed_endpoints(server, (endpoint,), sizes, runs, slow_runs, {}, "dedicated")
    return {"rows": rows, "worker_peak_rss_mib": memory, "cold_start": cold}


def timed_endpoints(server: Any, endpoints: tuple[str, ...], sizes: tuple[int, ...], runs: int, slow_runs: int,
                    memory: dict[str, float], served: str) -> list[dict]:
    """Direct vs HTTP vs gRPC rows for `endpoints` on a running server; peak worker memory into `memory`."""
    rows = []
    via = clients(server)
    warm_frontend(via, endpoints[0])
    for endpoint in endpoints:
        handler = common.load_handler(endpoint)
        for side in (224,) if endpoint in workload.SIZELESS else sizes:
            request = workload.fields(endpoint, side)
            row = workload.as_row(request)
            context = common.FakeContext(endpoint)

            def direct(handler: Any = handler, row: dict = row, context: Any = context,
                       endpoint: str = endpoint) -> None:
                handler.handle([row], context)
                if context.status:
                    raise RuntimeError(f"{endpoint} failed in-process with {context.status}")

            fns = {"direct": direct, **{t: (lambda c=c, r=request, e=endpoint: c._transport.predict(e, r))
                                        for t, c in via.items()}}
            n = runs if endpoint in workload.QUICK else slow_runs
            samples = common.timed(fns, n)
            entry = {"endpoint": endpoint, "size": side, "served": served,
                     **{k: common.summary(v) for k, v in samples.items()}}
            for transport in ("http", "grpc"):
                extra = entry[transport]["p50_ms"] - entry["direct"]["p50_ms"]
                entry[transport]["overhead_ms"] = extra
                entry[transport]["overhead_pct"] = 100 * extra / entry["direct"]["p50_ms"]
            rows.append(entry)
            print_latency_row(entry)
        memory[endpoint] = max(common.peak_rss_mib(pid) for pid in server.worker_pids(endpoint))
        del handler
        gc.collect()
    for c in via.values():
        c.close()
    return rows


def print_latency_row(e: dict) -> None:
    d, h, g = e["direct"], e["http"], e["grpc"]
    name = e["endpoint"] + (" (alone)" if e["served"] == "dedicated" else "")
    print(f"  {name:23} {e['size']:4}  direct {d['p50_ms']:8.1f} / {d['p99_ms']:8.1f}   "
          f"http {h['p50_ms']:8.1f} / {h['p99_ms']:8.1f} ({h['overhead_ms']:+6.1f} ms {h['overhead_pct']:+5.1f}%)   "
          f"grpc {g['p50_ms']:8.1f} / {g['p99_ms']:8.1f} ({g['overhead_ms']:+6.1f} ms {g['overhead_pct']:+5.1f}%)",
          flush=True)


# --- throughput: dynamic batching, workers x threads ------------------------------------------------------------

BATCH = 8            # requests per TorchServe batch when batching is on
BATCH_DELAY_MS = 1   # how long a worker's first request waits for company: under load the queue fills anyway
CONCURRENCY = 8


BEFORE = {"minWorkers": 1, "maxWorkers": 1, "batchSize": 1, "convlens": {"torch_threads": 0}}  # before issue 8


def variants(store: Path, endpoints: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    """Archive the throughput variants of `endpoints` into `store`: model name -> (endpoint, request side).
    `<e>_before` is the configuration before tuning (1 worker, all cores, no batching), `<e>_batch8` adds dynamic
    batching to it, `<e>_shipped` is model_store/<e>.yaml as shipped; classify also gets workers x threads."""
    import build_models

    made = {}
    for endpoint, side in (("classify", 224), ("saliency", 224), ("stylize", 512)):
        if endpoint not in endpoints:
            continue
        build_models.variant(store, f"{endpoint}_before", endpoint, jobQueueSize=64, **BEFORE)
        build_models.variant(store, f"{endpoint}_batch{BATCH}", endpoint, jobQueueSize=64,
                             **{**BEFORE, "batchSize": BATCH, "maxBatchDelay": BATCH_DELAY_MS})
        build_models.variant(store, f"{endpoint}_shipped", endpoint, jobQueueSize=64)
        made.update({f"{endpoint}_{v}": (endpoint, side) for v in ("before", f"batch{BATCH}", "shipped")})
    if "classify" in endpoints:
        for workers, threads in ((1, 1), (2, 1)):
            name = f"classify_{workers}x{threads}threads"
            build_models.variant(store, name, "classify", jobQueueSize=64,
                                 **{**BEFORE, "minWorkers": workers, "maxWorkers": workers,
                                    "convlens": {"torch_threads": threads}})
            made[name] = ("classify", 224)
    return made


def load(client: Any, model: str, request: dict, total: int) -> dict[str, float]:
    """One client alone (latency when idle), then `total` requests from CONCURRENCY threads (requests/s and the
    latency each request saw under load)."""
    def one(_: int) -> float:
        start = time.perf_counter()
        client._transport.predict(model, request)
        return (time.perf_counter() - start) * 1000

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(CONCURRENCY)))  # warm-up: every worker has answered once
        idle = [one(i) for i in range(max(3, total // 4))]
        start = time.perf_counter()
        latencies = list(pool.map(one, range(total)))
        elapsed = time.perf_counter() - start
    return {"requests_per_s": total / elapsed, "idle_p50_ms": common.percentile(idle, 50),
            **common.summary(latencies)}


# The configuration rows (_before, _batch8, _shipped) compare server settings on one network: stylize's trained one,
# as before the students became the default; the _shipped_lite row sends the default request.
PINNED = {"stylize": {"variant": "full"}}


def throughput(endpoints: tuple[str, ...], requests: int) -> dict[str, Any]:
    from local_server import running_server

    with tempfile.TemporaryDirectory(prefix="convlens-bench-") as tmp:
        store = Path(tmp)
        models = variants(store, endpoints)
        results: dict[str, Any] = {}
        runs = [(model, model, endpoint, side, {**workload.fields(endpoint, side), **PINNED.get(endpoint, {})})
                for model, (endpoint, side) in models.items()]
        if "stylize_shipped" in models:  # the default request: the distilled real-time students (issue 20)
            runs.append(("stylize_shipped_lite", "stylize_shipped", "stylize", 512, workload.fields("stylize", 512)))
        with running_server(tuple(models), model_store=store) as server:
            client = clients(server)["http"]
            for name, model, endpoint, side, request in runs:
                total = requests if endpoint != "stylize" else max(8, requests // 4)
                results[name] = {"endpoint": endpoint, "size": side, **load(client, model, request, total)}
                r = results[name]
                print(f"  {name:22} {r['requests_per_s']:7.2f} req/s   p50 {r['p50_ms']:8.1f} ms  "
                      f"p99 {r['p99_ms']:8.1f} ms under load;  alone p50 {r['idle_p50_ms']:8.1f} ms", flush=True)
            client.close()
    gains = {}
    for e in ("classify", "saliency", "stylize"):
        if f"{e}_before" in results:
            base = results[f"{e}_before"]["requests_per_s"]
            gains[f"{e} batching {BATCH} vs off"] = results[f"{e}_batch{BATCH}"]["requests_per_s"] / base
            gains[f"{e} shipped vs before"] = results[f"{e}_shipped"]["requests_per_s"] / base
    if "stylize_shipped_lite" in results:
        gains["stylize lite (default) vs full (shipped)"] = (results["stylize_shipped_lite"]["requests_per_s"]
                                                   / results["stylize_shipped"]["requests_per_s"])
    if "classify_2x1threads" in results:
        rate = {m: results[f"classify_{m}threads"]["requests_per_s"] for m in ("1x1", "2x1")}
        rate["1x2"] = results["classify_before"]["requests_per_s"]
        gains["classify 2 workers x 1 thread vs 1 x 2"] = rate["2x1"] / rate["1x2"]
        gains["classify 1 worker x 1 thread vs 1 x 2"] = rate["1x1"] / rate["1x2"]
        alone = {"1x1": results["classify_1x1threads"]["idle_p50_ms"], "1x2": results["classify_before"]["idle_p50_ms"]}
        gains["classify latency alone, 2 threads vs 1"] = alone["1x1"] / alone["1x2"]
    return {"concurrency": CONCURRENCY, "batch": BATCH, "batch_delay_ms": BATCH_DELAY_MS, "models": results,
            "ratios": gains}


# --- memory and cold start ---------------------------------------------------------------------------------------

MEMORY_PROFILES = ("stylize", "attribution")  # measured as shipped and as before, in this run
BASELINE = Path(__file__).resolve().parent / "baseline.json"  # issue 20's "before" figures, measured once


def memory_and_cold_start(quick: bool) -> dict[str, Any]:
    """Each profile's memory and start times as shipped, without the zygote where it has one, and as before (same
    run), `all` as shipped and without the zygote (unless quick: about 2 GiB with it, 6 without, 8 as before);
    ratios before/after, without/with the zygote and to the stored baseline."""
    import memory
    import profiles

    baseline = json.loads(BASELINE.read_text())
    out: dict[str, Any] = {}
    for name in MEMORY_PROFILES[:1] if quick else (*MEMORY_PROFILES, profiles.ALL):
        chosen = profiles.resolve(name)
        row: dict[str, Any] = {"after": memory.measure_server(chosen)}
        memory.print_server(row["after"])
        if row["after"]["zygote"]:  # the same deployment with every worker started by TorchServe itself
            row["no_zygote"] = memory.measure_server(chosen, zygote=False)
            print("  without the zygote (CONVLENS_ZYGOTE=0):")
            memory.print_server(row["no_zygote"])
            row["zygote_ratios"] = memory.zygote_ratios(row["no_zygote"], row["after"])
        if name != profiles.ALL:
            row["before"] = memory.measure_server(chosen, jvm="", lazy_torch=False)
            print("  before (JVM defaults, torch imported at every worker's start):")
            memory.print_server(row["before"])
            row["ratios"] = memory_ratios(memory_summary(row["before"]), memory_summary(row["after"]))
        if name in baseline["profiles"]:
            row["baseline"] = baseline["profiles"][name]
            row["ratios_to_baseline"] = memory_ratios(baseline["profiles"][name], memory_summary(row["after"]))
        out[name] = row
    return out


def memory_summary(report: dict[str, Any]) -> dict[str, float]:
    """The three figures compared across runs: total PSS, time to all READY, time to the slowest first answer."""
    return {"total_pss_mib": report["memory"]["total_pss_mib"], "ready_s": report["ready_s"],
            "first_answer_s": max(report["endpoint_ready_s"][e] + s for e, s in report["first_request_s"].items())}


def memory_ratios(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """before / after of each summary figure both have (above 1: after is smaller or faster)."""
    return {key: before[key] / after[key] for key in ("total_pss_mib", "ready_s", "first_answer_s")
            if key in before and key in after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--endpoints", help="comma list (default: every endpoint; --quick: classify, saliency, "
                                            "stylize)")
    parser.add_argument("--sizes", default="224,512")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per fast endpoint and size")
    parser.add_argument("--slow-runs", type=int, default=2, help="timed runs per iterative endpoint and size")
    parser.add_argument("--requests", type=int, default=48, help="requests per throughput variant")
    parser.add_argument("--quick", action="store_true", help="three endpoints, fewer runs")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench" / "results.json")
    parser.add_argument("--markdown", type=Path, metavar="RESULTS_JSON", help="print README tables of a saved run")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    import build_models

    known = tuple(build_models.endpoints())
    endpoints = tuple(args.endpoints.split(",")) if args.endpoints else (QUICK_ENDPOINTS if args.quick else known)
    if set(endpoints) - set(known):
        parser.error(f"unknown endpoint(s): {', '.join(sorted(set(endpoints) - set(known)))}")
    if args.quick:
        args.runs, args.slow_runs, args.requests = min(args.runs, 10), min(args.slow_runs, 3), min(args.requests, 24)
    sizes = tuple(int(s) for s in args.sizes.split(","))

    report: dict[str, Any] = {"machine": common.machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                              "arguments": vars(args) | {"json": str(args.json)}}
    report["machine"]["matmul_gflops"] = common.matmul_gflops()
    print_machine(report["machine"])
    started = time.perf_counter()
    if "latency" in sections:
        print(f"\n== latency (ms, p50 / p99): direct in-process vs TorchServe; {args.runs} runs "
              f"({args.slow_runs} for iterative endpoints), interleaved", flush=True)
        dedicated = tuple(e for e in TARGETS if e in endpoints)
        report["latency"] = latency(endpoints, sizes, args.runs, args.slow_runs, dedicated)
    if "throughput" in sections:
        print(f"\n== throughput over HTTP, {CONCURRENCY} concurrent clients", flush=True)
        report["throughput"] = throughput(endpoints, args.requests)
    if "tuning" in sections:
        import tuning

        print("\n== tuning: before/after in one run (in-process)", flush=True)
        report["tuning"] = tuning.measure(quick=args.quick)
    if "stylizer" in sections:
        import style

        print("\n== stylizer graph variants (ONNX Runtime)", flush=True)
        report["stylizer"] = style.measure(sizes=(256, 512) if args.quick else (256, 512, 1024),
                                           runs=3)
        print(style.variants_table(report["stylizer"]))
    if "memory" in sections:
        print("\n== memory (PSS before the first request) and cold start", flush=True)
        report["memory"] = memory_and_cold_start(args.quick)
    report["elapsed_s"] = time.perf_counter() - started
    report["targets"] = targets(report)
    print_summary(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwrote {args.json} ({report['elapsed_s']:.0f} s)")


def markdown(report: dict) -> str:
    """README-ready tables of a report (run.py --markdown FILE.json prints them for a saved run)."""
    out = []
    if "latency" in report:
        out += ["| endpoint | px | served | direct p50 / p99 ms | HTTP p50 / p99 ms (overhead) "
                "| gRPC p50 / p99 ms (overhead) |",
                "|---|---|---|---|---|---|"]
        for e in report["latency"]["rows"]:
            cells = [f"{e['direct']['p50_ms']:.1f} / {e['direct']['p99_ms']:.1f}"]
            cells += [f"{e[t]['p50_ms']:.1f} / {e[t]['p99_ms']:.1f} ({e[t]['overhead_ms']:+.1f} ms, "
                      f"{e[t]['overhead_pct']:+.0f} %)" for t in ("http", "grpc")]
            served = "all" if e.get("served", "all") == "all" else "alone"
            out.append(f"| `{e['endpoint']}` | {e['size']} | {served} | " + " | ".join(cells) + " |")
    if "throughput" in report:
        t = report["throughput"]
        out += ["", f"| variant ({t['concurrency']} concurrent clients, HTTP) | requests/s | p50 / p99 ms under load | "
                    "p50 ms alone |", "|---|---|---|---|"]
        out += [f"| `{name}` | {m['requests_per_s']:.1f} | {m['p50_ms']:.0f} / {m['p99_ms']:.0f} "
                f"| {m['idle_p50_ms']:.0f} |" for name, m in t["models"].items()]
    if "tuning" in report:
        out += ["", "| choice | before ms | after ms | ratio | what |", "|---|---|---|---|---|"]
        out += [f"| {name} | {v['before_ms']:.2f} | {v['after_ms']:.2f} | {v['ratio']:.2f}x | {v['what']} |"
                for name, v in report["tuning"].items()]
    return "\n".join(out)


def print_machine(m: dict) -> None:
    gpu = m["gpu"] or "no GPU"
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {gpu}; Python {m['python']}, "
          f"torch {m['torch']}, ONNX Runtime {m['onnxruntime']}; load average {m['load_average']}; "
          f"matmul {m['matmul_gflops']:.0f} GFLOP/s", flush=True)


def targets(report: dict) -> dict[str, Any]:
    """The issue's serving-overhead targets, checked on this run's figures (HTTP and gRPC)."""
    out = {}
    for row in report.get("latency", {}).get("rows", []):
        endpoint = row["endpoint"]
        if endpoint not in TARGETS or (endpoint == "stylize" and row["size"] != 512):
            continue
        key, limit, unit = TARGETS[endpoint]
        for transport in ("http", "grpc"):
            value = row[transport][key]
            served = "every endpoint served" if row["served"] == "all" else f"{endpoint} served alone"
            out[f"{endpoint} {row['size']} px over {transport}, {served}"] = {
                "overhead": value, "limit": limit, "unit": unit, "met": value <= limit}
    return out


def print_summary(report: dict) -> None:
    lat = report.get("latency")
    if lat:
        print("\n== summary")
        print(f"TorchServe cold start: every endpoint ready in {lat['cold_start']['ready_s']:.1f} s; first answers "
              + ", ".join(f"{e} {ms:.0f} ms" for e, ms in lat["cold_start"]["first_answer_ms"].items()))
        print("worker peak RSS (MiB): " + ", ".join(f"{e} {m:.0f}" for e, m in lat["worker_peak_rss_mib"].items()))
    for name, t in report.get("targets", {}).items():
        print(f"target {name}: overhead {t['overhead']:.1f} (limit {t['limit']:g} {t['unit']}) "
              f"{'MET' if t['met'] else 'NOT MET'}")
    if "throughput" in report:
        print("throughput ratios: " + ", ".join(f"{k} {v:.2f}x" for k, v in report["throughput"]["ratios"].items()))
    if "stylizer" in report:
        fast = [r["variants"]["fast graph (served)"]["speedup"] for r in report["stylizer"]["rows"]]
        print("stylizer fast graph vs before: " + ", ".join(f"{r['size']} px {x:.2f}x"
                                                           for r, x in zip(report["stylizer"]["rows"], fast)))
    for name, row in report.get("memory", {}).items():
        m = row["after"]
        line = (f"memory {name}: total PSS {m['memory']['total_pss_mib']:.0f} MiB, all READY in {m['ready_s']:.1f} s "
                f"(load average {m['load_average_before'][0]:.1f})")
        for key, label in (("ratios", "vs before in this run"), ("zygote_ratios", "no zygote / zygote"),
                           ("ratios_to_baseline", "vs baseline.json")):
            if key in row:
                line += f"; {label}: " + ", ".join(f"{k} {v:.2f}x" for k, v in row[key].items())
        print(line)
    if "tuning" in report:
        print("tuning ratios: " + ", ".join(f"{k} {v['ratio']:.2f}x" for k, v in report["tuning"].items()))


if __name__ == "__main__":
    main()
