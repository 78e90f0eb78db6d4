"""`scripts/serve.sh` (what `make serve` runs): serves on the configured ports and stops cleanly on Ctrl-C."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import requests
from PIL import Image

from local_server import ENDPOINTS, ROOT, Server, free_ports, stop_or_reap, wait_ready


def _terminal_sigint() -> None:
    """SIGINT as a terminal's shell leaves it: when the test run itself was started in the background, SIGINT
    arrives ignored, and a shell cannot trap a signal that was ignored on entry, so serve.sh's trap would not run."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_serve_script(tmp_path: Path, **extra_env: str) -> tuple[subprocess.Popen, Server, dict[str, str], Path]:
    """scripts/serve.sh on free loopback ports with its run folder under tmp_path, in its own session (so the
    test can Ctrl-C the whole group); returns the process, the server it will be, its environment and its log."""
    names = ("http", "management", "metrics", "grpc", "grpc_management")
    ports = dict(zip(names, free_ports(len(names))))
    env = {**os.environ, "CONVLENS_RUN_DIR": str(tmp_path / "run"),
           **{f"CONVLENS_{name.upper()}_PORT": str(port) for name, port in ports.items()}, **extra_env}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(ROOT / "scripts" / "serve.sh")], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_terminal_sigint)
    return process, Server("127.0.0.1", ports, tmp_path / "run", 0.0), env, log


def test_serve_script_serves_then_stops_cleanly_on_ctrl_c(tmp_path):
    process, server, env, log = start_serve_script(tmp_path)
    ports = server.ports
    try:
        wait_ready(server, process, log, ENDPOINTS)
        banner = log.read_text()
        assert f"http://127.0.0.1:{ports['http']}/predictions" in banner
        assert str(server.key_file) in banner
        listed = requests.get(server.url("/models", "management"), timeout=30,
                              headers={"Authorization": f"Bearer {server.key('management')}"}).json()["models"]
        assert sorted(m["modelName"] for m in listed) == sorted(ENDPOINTS)  # no folder of the store as a model
        frontend = server.frontend_pid()
        response = requests.post(server.url("/predictions/classify"), files={"image": b"not an image"},
                                 headers={"Authorization": f"Bearer {server.key('inference')}"}, timeout=60)
        assert response.status_code == 400 and response.json()["field"] == "image"
        workers = [pid for e in ENDPOINTS for pid in server.worker_pids(e)]
        zygote = psutil.Process(workers[0]).ppid()  # torch endpoints served: workers are forked from the zygote
        assert "convlens_zygote.server" in " ".join(psutil.Process(zygote).cmdline())
        assert all(psutil.Process(pid).ppid() == zygote for pid in workers)
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert stop_or_reap(process, tmp_path) == 0
    deadline = time.monotonic() + 30
    while any(map(alive, (frontend, zygote, *workers))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive(frontend), "the Java frontend outlived Ctrl-C"
    assert not alive(zygote) and not any(map(alive, workers)), "the zygote or a worker outlived Ctrl-C"
    assert "stopping ConvLens" in log.read_text()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_serve_script_serves_only_the_chosen_endpoints_and_stylize_without_torch(tmp_path):
    """CONVLENS_ENDPOINTS=stylize: one model, readiness waits for it alone, and its worker never maps libtorch."""
    process, server, env, log = start_serve_script(tmp_path, CONVLENS_ENDPOINTS="stylize")
    ports = server.ports
    try:
        wait_ready(server, process, log, ("stylize",))
        assert "endpoints        stylize  (CONVLENS_ENDPOINTS=stylize)" in log.read_text()
        listed = requests.get(server.url("/models", "management"), timeout=30,
                              headers={"Authorization": f"Bearer {server.key('management')}"}).json()["models"]
        assert [m["modelName"] for m in listed] == ["stylize"]
        ready = subprocess.run([sys.executable, str(ROOT / "scripts" / "ready.py"), "--port",
                                str(ports["management"])], env=env, capture_output=True, text=True, timeout=60)
        assert ready.returncode == 0 and ready.stdout.strip() == "ready: stylize"
        photo = io.BytesIO()
        Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(photo, "PNG")
        answer = requests.post(server.url("/predictions/stylize"), timeout=120,
                               files={"image": photo.getvalue()}, data={"style": "pointillism", "format": "png"},
                               headers={"Authorization": f"Bearer {server.key('inference')}"})
        assert answer.status_code == 200 and Image.open(io.BytesIO(answer.content)).size == (64, 48)
        (worker,) = server.worker_pids("stylize")
        maps = Path(f"/proc/{worker}/maps").read_text()
        assert "onnxruntime" in maps and "libtorch" not in maps  # torch neither imported nor loaded lazily
        assert not (tmp_path / "run" / "zygote").exists()  # no torch endpoint: no zygote started
    finally:
        os.killpg(process.pid, signal.SIGINT)
        assert stop_or_reap(process, tmp_path) == 0
