#!/usr/bin/env python
"""Readiness check for a running ConvLens: exit 0 only when every endpoint has a READY worker.

TorchServe's /ping answers Healthy while models are still loading (and needs a token anyway), so this asks the
management describe API, with the management key from key_file.json, about every endpoint the server was told to
serve (CONVLENS_ENDPOINTS, scripts/profiles.py). Used by the Docker HEALTHCHECK and the Kubernetes probes; standard
library only, so a probe starts fast. Environment: CONVLENS_RUN_DIR (where key_file.json is, default .run),
CONVLENS_HOST, CONVLENS_MANAGEMENT_PORT, CONVLENS_TOKEN_AUTH (off: TorchServe writes no key file, so no key is
sent), CONVLENS_ENDPOINTS.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import profiles
from write_config import is_loopback

ROOT = Path(__file__).resolve().parents[1]


def probe_host(host: str) -> str:
    """Where to reach the management API from inside the container/pod: loopback when listening everywhere."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host


def not_ready(models: list[str], host: str, port: int, key_file: Path | None, timeout: float) -> list[str]:
    """Reasons the server is not ready (empty list: ready). `key_file=None`: token authorization is off."""
    if not models:
        return ["no models to check (model store empty?)"]
    headers = {}
    if key_file is not None:
        try:
            headers["Authorization"] = f"Bearer {json.loads(key_file.read_text())['management']['key']}"
        except (OSError, ValueError, KeyError, TypeError) as error:
            return [f"no management key in {key_file} yet ({type(error).__name__})"]
    reasons = []
    for model in models:
        request = urllib.request.Request(f"http://{host}:{port}/models/{model}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                versions = json.loads(response.read())
        except urllib.error.HTTPError as error:
            reasons.append(f"{model}: HTTP {error.code}")
            continue
        except (urllib.error.URLError, OSError, ValueError) as error:
            return [f"management API at {host}:{port} not answering ({error})"]
        states = [w.get("status") for v in versions for w in v.get("workers", [])]
        if "READY" not in states:
            reasons.append(f"{model}: no READY worker (workers: {states or 'none'})")
    return reasons


def main() -> int:
    env = os.environ.get
    run_dir = Path(env("CONVLENS_RUN_DIR", str(ROOT / ".run")))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=probe_host(env("CONVLENS_HOST", "127.0.0.1")))
    parser.add_argument("--port", type=int, default=int(env("CONVLENS_MANAGEMENT_PORT", 8081)))
    parser.add_argument("--key-file", type=Path, default=run_dir / "key_file.json")
    parser.add_argument("--models", help="comma-separated endpoints and profiles (default: CONVLENS_ENDPOINTS, "
                        "or every endpoint)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per HTTP call")
    parser.add_argument("--wait", type=float, default=0.0, help="keep trying for this many seconds")
    parser.add_argument("--no-token", action="store_true", default=env("CONVLENS_TOKEN_AUTH", "on") == "off",
                        help="send no management key (token authorization off; default from CONVLENS_TOKEN_AUTH)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if not is_loopback(args.host):
        print(f"warning: probing {args.host}, not loopback", file=sys.stderr)
    try:
        models = list(profiles.resolve(args.models or env("CONVLENS_ENDPOINTS")))
    except ValueError as error:
        print(f"not ready: {error}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.wait
    while True:
        reasons = not_ready(models, args.host, args.port, None if args.no_token else args.key_file, args.timeout)
        if not reasons or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if reasons:
        print("not ready: " + "; ".join(reasons), file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"ready: {', '.join(models)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
