#!/usr/bin/env python
"""Write TorchServe's config.properties for ConvLens: secure defaults, size limits, metrics.

Listeners bind loopback unless told otherwise; token authorization stays on; the model registration API stays
off; models may only come from the local model store. Environment variables: CONVLENS_HOST, CONVLENS_HTTP_PORT,
CONVLENS_MANAGEMENT_PORT, CONVLENS_METRICS_PORT, CONVLENS_GRPC_PORT, CONVLENS_GRPC_MANAGEMENT_PORT,
CONVLENS_TOKEN_TTL_MIN, CONVLENS_TOKEN_AUTH (on|off; off only with a loopback host), CONVLENS_PLUGINS_PATH,
CONVLENS_ENDPOINTS (the endpoints and profiles to serve, scripts/profiles.py; default all).
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from pathlib import Path

import profiles

ROOT = Path(__file__).resolve().parents[1]
# Request/response limits, raised together: a 12-megapixel photo as PNG or as base64 in a JSON body fits, and
# the handlers' own per-image limit (32 MiB, model_store/*.yaml) sits below it so it can answer 413 itself.
MAX_MESSAGE_BYTES = 48 * 1024 * 1024
# Load shedding: a request that finds its model's job queue full gets 503 at once instead of waiting behind it.
# This is the fallback for models that do not set `jobQueueSize` in model_store/<name>.yaml (which wins); small
# because a queue longer than (responseTimeout / service time) only turns fast 503s into slow timeouts.
JOB_QUEUE_SIZE = 16
# Inference/management tokens live an hour (TorchServe's default, a deliberate choice: long enough for a session,
# short enough that a leaked token soon dies); rotate them with the API key (GET :8081/token?type=inference).
TOKEN_TTL_MIN = 60.0
# The Java frontend's JVM: a heap ceiling instead of the default quarter of the machine's memory (it holds requests
# in flight: 8 concurrent requests at the 48 MiB limit, several copies each, fit), the serial collector (no G1
# regions and remembered sets: smaller and enough for a frontend that only routes bytes on a few cores), and
# class data sharing on (TorchServe's default JVM start).
JVM_ARGS = "-Xms32m -Xmx1g -XX:+UseSerialGC -XX:MaxMetaspaceSize=128m -XX:ReservedCodeCacheSize=64m"


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def archives(model_store: Path) -> str:
    """load_models value naming every model archive in the store (TorchServe's `all` also takes folders)."""
    return ",".join(sorted(p.name for p in model_store.glob("*.mar")))


def chosen_archives(model_store: Path, chosen: str | None) -> str:
    """load_models value for the endpoints and profiles in `chosen` (CONVLENS_ENDPOINTS); each archive must exist."""
    names = profiles.resolve(chosen)
    missing = [n for n in names if not (model_store / f"{n}.mar").is_file()]
    if missing:
        raise ValueError(f"no archive in {model_store} for {', '.join(missing)}: run `make models`")
    return ",".join(f"{n}.mar" for n in names)


def config_text(host: str, ports: dict[str, int], model_store: Path, token_ttl_min: float,
                models: str | None = None, token_auth: bool = True, plugins_path: Path | None = None,
                extra: dict[str, object] | None = None) -> str:
    """config.properties text; `extra` overrides or adds keys (tests use it for tiny queues or short tokens)."""
    if not token_auth and not is_loopback(host):
        raise ValueError(f"refusing to listen on {host} with token authorization off: "
                         "only a loopback host may run without tokens")
    store = model_store.resolve()
    lines = {
        "inference_address": f"http://{host}:{ports['http']}",
        "management_address": f"http://{host}:{ports['management']}",
        "metrics_address": f"http://{host}:{ports['metrics']}",
        "grpc_inference_address": host,
        "grpc_inference_port": ports["grpc"],
        "grpc_management_address": host,
        "grpc_management_port": ports["grpc_management"],
        "model_store": store,
        "load_models": models or archives(store),
        "allowed_urls": f"file://{re.escape(str(store))}/.*",
        "disable_token_authorization": "false" if token_auth else "true",
        "enable_model_api": "false",
        "token_expiration_min": f"{token_ttl_min:g}",  # a float: TorchServe reads it with Double.valueOf
        "max_request_size": MAX_MESSAGE_BYTES,
        "max_response_size": MAX_MESSAGE_BYTES,
        "default_workers_per_model": 1,
        "job_queue_size": JOB_QUEUE_SIZE,
        "default_response_timeout": 120,
        "metrics_mode": "prometheus",
        "enable_envvars_config": "false",
        "install_py_dep_per_model": "false",
        "vmargs": JVM_ARGS,
    }
    if plugins_path is not None:  # e.g. the fixed-token plugin (scripts/build_token_plugin.py)
        lines["plugins_path"] = plugins_path.resolve()
    lines.update(extra or {})
    header = "# Written by scripts/write_config.py; edit that script (or its environment variables), not this file.\n"
    return header + "".join(f"{k}={v}\n" for k, v in lines.items())


def main() -> None:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / ".run" / "config.properties")
    parser.add_argument("--host", default=env("CONVLENS_HOST", "127.0.0.1"))
    parser.add_argument("--http-port", type=int, default=int(env("CONVLENS_HTTP_PORT", 8080)))
    parser.add_argument("--management-port", type=int, default=int(env("CONVLENS_MANAGEMENT_PORT", 8081)))
    parser.add_argument("--metrics-port", type=int, default=int(env("CONVLENS_METRICS_PORT", 8082)))
    parser.add_argument("--grpc-port", type=int, default=int(env("CONVLENS_GRPC_PORT", 7070)))
    parser.add_argument("--grpc-management-port", type=int, default=int(env("CONVLENS_GRPC_MANAGEMENT_PORT", 7071)))
    parser.add_argument("--model-store", type=Path, default=ROOT / "model_store")
    parser.add_argument("--models", help="TorchServe load_models value (default: the archives of the endpoints "
                        "CONVLENS_ENDPOINTS names, every endpoint when unset; never TorchServe's 'all', which would "
                        "also load the store's stylizers/ folder as a broken model)")
    parser.add_argument("--token-ttl-min", type=float, default=float(env("CONVLENS_TOKEN_TTL_MIN", TOKEN_TTL_MIN)))
    parser.add_argument("--token-auth", choices=("on", "off"), default=env("CONVLENS_TOKEN_AUTH", "on"),
                        help="TorchServe token authorization (off is refused unless the host is loopback)")
    parser.add_argument("--plugins-path", type=Path, default=env("CONVLENS_PLUGINS_PATH") or None)
    args = parser.parse_args()
    ports = {"http": args.http_port, "management": args.management_port, "metrics": args.metrics_port,
             "grpc": args.grpc_port, "grpc_management": args.grpc_management_port}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        models = args.models or chosen_archives(args.model_store, env("CONVLENS_ENDPOINTS"))
        text = config_text(args.host, ports, args.model_store, args.token_ttl_min, models,
                           token_auth=args.token_auth == "on", plugins_path=args.plugins_path)
    except ValueError as error:
        sys.exit(f"error: {error}")
    args.out.write_text(text)
    print(f"==> wrote {args.out}")


if __name__ == "__main__":
    main()
