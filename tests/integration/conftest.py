"""One real TorchServe per test session (scripts/local_server.py), shared by every integration test."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from local_server import Server, running_server  # noqa: E402 - after the sys.path set-up above


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    with running_server(workdir=tmp_path_factory.mktemp("torchserve")) as srv:
        print(f"\nTorchServe cold start to all endpoints ready: {srv.cold_start_s:.1f}s")
        yield srv
