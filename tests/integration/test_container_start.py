"""The container's start script (Dockerfile CMD) run here outside Docker: same config, loopback, temp run dir.

Fixed tokens from a token directory (as a Kubernetes Secret volume gives them) are accepted over HTTP and gRPC;
scripts/ready.py (the HEALTHCHECK and the Kubernetes probes) says ready only while every endpoint has a READY
worker, even when TorchServe's /ping says Healthy; SIGTERM (docker stop, pod deletion) stops everything.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import requests

import build_models
import build_token_plugin
from convlens_client import Client
from convlens_client.errors import Unauthorized
from local_server import ENDPOINTS, ROOT, Server, free_ports, stop_or_reap, wait_ready
from write_config import config_text

INFERENCE = "inference-token-for-tests-0123"
MANAGEMENT = "management-token-for-tests-0123"
PORT_ENV = {"http": "CONVLENS_HTTP_PORT", "management": "CONVLENS_MANAGEMENT_PORT", "metrics": "CONVLENS_METRICS_PORT",
            "grpc": "CONVLENS_GRPC_PORT", "grpc_management": "CONVLENS_GRPC_MANAGEMENT_PORT"}


def start_env(tmp_path, tokens: dict[str, str]) -> tuple[dict[str, str], dict[str, int]]:
    token_dir = tmp_path / "tokens"
    token_dir.mkdir()
    for name, value in tokens.items():
        (token_dir / name).write_text(value + "\n")  # Secret files often end with a newline
    ports = dict(zip(PORT_ENV, free_ports(len(PORT_ENV))))
    env = {**os.environ, "CONVLENS_RUN_DIR": str(tmp_path / "run"), "CONVLENS_HOST": "127.0.0.1",
           "CONVLENS_TOKEN_DIR": str(token_dir), "TS_CONFIG_FILE": str(tmp_path / "ignored.properties"),
           **{PORT_ENV[k]: str(v) for k, v in ports.items()}}
    return env, ports


def ready_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "ready.py"), *args], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module", autouse=True)
def built():
    if shutil.which("javac") is None:
        pytest.skip("the token plugin needs a JDK (javac); the Docker image and CI have one")
    build_token_plugin.build()
    for name in ENDPOINTS:
        build_models.build(name, weights=None, force=False)


def test_container_start_serves_with_fixed_tokens_and_ready_reflects_workers(tmp_path):
    env, ports = start_env(tmp_path, {"inference": INFERENCE, "management": MANAGEMENT})
    log = tmp_path / "start.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(ROOT / "scripts" / "container_start.sh")], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server("127.0.0.1", ports, tmp_path / "run", 0.0)
    try:
        before = ready_script(env)
        assert before.returncode == 1 and "not ready" in before.stderr
        wait_ready(server, process, log, ENDPOINTS)
        assert ready_script(env).returncode == 0

        # the fixed tokens replaced TorchServe's random ones, and key_file.json says so (ready.py reads it)
        keys = json.loads(server.key_file.read_text())
        assert keys["inference"]["key"] == INFERENCE and keys["management"]["key"] == MANAGEMENT
        # exactly the config `make serve` writes for these settings, plus the plugin's path
        config = (tmp_path / "run" / "config.properties").read_text()
        assert config == config_text("127.0.0.1", ports, ROOT / "model_store", 60,
                                     plugins_path=ROOT / "build" / "token-plugin")
        assert "disable_token_authorization=false" in config

        # classify with the token over HTTP and gRPC; no token / a wrong one is refused
        for transport in ("http", "grpc"):
            with Client("127.0.0.1", token=INFERENCE, transport=transport, http_port=ports["http"],
                        grpc_port=ports["grpc"]) as client:
                predictions = client.classify(_png(), topk=2)
                assert len(predictions) == 2 and 0 <= predictions[0].index < 1000
            with Client("127.0.0.1", token="wrong-token-0123456789", transport=transport, http_port=ports["http"],
                        grpc_port=ports["grpc"]) as client, pytest.raises(Unauthorized):
                client.classify(_png())
        assert requests.get(server.url("/ping"), timeout=10).status_code == 400

        # one endpoint without a READY worker: /ping still says Healthy, ready.py says not ready
        manage = {"Authorization": f"Bearer {MANAGEMENT}"}
        scaled = requests.put(server.url("/models/saliency?min_worker=0&max_worker=0&synchronous=true",
                                         "management"), headers=manage, timeout=60)
        assert scaled.status_code == 200, scaled.text
        ping = requests.get(server.url("/ping"), headers={"Authorization": f"Bearer {INFERENCE}"}, timeout=10)
        assert ping.json()["status"] == "Healthy"
        down = ready_script(env)
        assert down.returncode == 1 and "saliency: no READY worker" in down.stderr
        assert ready_script(env, "--models", "classify").returncode == 0
        requests.put(server.url("/models/saliency?min_worker=1&max_worker=1&synchronous=true", "management"),
                     headers=manage, timeout=120).raise_for_status()
        assert ready_script(env, "--wait", "60").returncode == 0
    finally:
        process.send_signal(signal.SIGTERM)  # docker stop / pod deletion: SIGTERM to PID 1 only
        code = stop_or_reap(process, tmp_path)
    assert code == 0
    time.sleep(1)
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert not leftovers, "processes outlived SIGTERM"


def test_unusable_fixed_tokens_stop_the_server_before_it_listens(tmp_path):
    env, ports = start_env(tmp_path, {"inference": "short", "management": MANAGEMENT})
    result = subprocess.run([str(ROOT / "scripts" / "container_start.sh")], env=env, capture_output=True, text=True,
                            timeout=120, start_new_session=True)
    assert result.returncode == 70  # an exit nobody asked for is a failure (Docker's on-failure restarts it)
    assert "TorchServe exited without being asked to stop" in result.stderr
    assert "must hold 16 to 256 characters" in result.stdout + result.stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{ports['http']}/ping", timeout=5)


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(buf, format="PNG")
    return buf.getvalue()
