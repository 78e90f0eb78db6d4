"""One real TorchServe per test session (scripts/local_server.py), shared by every integration test.

Its workers are forked from a zygote, as `make serve` does (CONVLENS_ZYGOTE=0: started by TorchServe itself):
measured with every endpoint on 2 loaded cores, 1.8 GiB of PSS before the first request instead of 5.8, and
every endpoint READY in 14 s instead of 95 (docs/performance.md, "Cold start and memory").
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from local_server import ENDPOINTS, Server, running_server  # noqa: E402 - after the sys.path set-up above


def served_endpoints() -> tuple[str, ...]:
    """Every endpoint, or the comma list in CONVLENS_TEST_ENDPOINTS (a developer running one area's tests on a small
    machine; tests of endpoints left out then fail with 404s, so CI never sets it)."""
    chosen = os.environ.get("CONVLENS_TEST_ENDPOINTS", "").strip()
    if not chosen:
        return ENDPOINTS
    names = tuple(name.strip() for name in chosen.split(",") if name.strip())
    unknown = sorted(set(names) - set(ENDPOINTS))
    if unknown:
        raise pytest.UsageError(f"CONVLENS_TEST_ENDPOINTS names unknown endpoints {unknown}; known: {ENDPOINTS}")
    return names


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    with running_server(served_endpoints(), workdir=tmp_path_factory.mktemp("torchserve")) as srv:
        print(f"\nTorchServe cold start to all endpoints ready: {srv.cold_start_s:.1f}s")
        yield srv
