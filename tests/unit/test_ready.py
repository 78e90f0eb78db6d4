"""scripts/ready.py against a fake TorchServe management API: ready only when every endpoint has a READY worker."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import ready  # noqa: E402 - after the sys.path set-up above

KEY = "management-key-for-tests"


class FakeManagement:
    """Answers GET /models/<name> like TorchServe's describe call, checking the bearer token."""

    def __init__(self, workers: dict[str, list[str]], key: str | None = KEY):
        self.workers = workers
        self.seen_auth: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's handler name
                fake.seen_auth.append(self.headers.get("Authorization", ""))
                name = self.path.removeprefix("/models/")
                if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
                    return self.reply(400, {"code": 400, "type": "InvalidKeyException"})
                if name not in fake.workers:
                    return self.reply(404, {"code": 404, "type": "ModelNotFoundException"})
                workers = [{"id": str(9000 + i), "status": s} for i, s in enumerate(fake.workers[name])]
                return self.reply(200, [{"modelName": name, "workers": workers}])

            def reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "key_file.json"
    path.write_text(json.dumps({"management": {"key": KEY}, "inference": {"key": "other"}, "API": {"key": "x"}}))
    return path


@pytest.mark.parametrize("workers, ready_expected, reason", [
    ({"classify": ["READY"], "saliency": ["READY"]}, True, ""),
    ({"classify": ["READY"], "saliency": ["UNLOADING"]}, False, "saliency: no READY worker"),
    ({"classify": ["READY", "STARTING"], "saliency": ["READY"]}, True, ""),
    ({"classify": [], "saliency": ["READY"]}, False, "classify: no READY worker (workers: none)"),
    ({"classify": ["READY"]}, False, "saliency: HTTP 404"),
])
def test_ready_only_when_every_model_has_a_ready_worker(key_file, workers, ready_expected, reason):
    fake = FakeManagement(workers)
    try:
        reasons = ready.not_ready(["classify", "saliency"], "127.0.0.1", fake.port, key_file, timeout=5)
    finally:
        fake.close()
    assert (reasons == []) is ready_expected
    assert reason in "; ".join(reasons)
    assert set(fake.seen_auth) == {f"Bearer {KEY}"}  # the management key from key_file.json


def test_not_ready_without_key_file_or_server(tmp_path, key_file):
    assert "no management key" in ready.not_ready(["classify"], "127.0.0.1", 1, tmp_path / "missing.json", 1)[0]
    fake = FakeManagement({})
    port = fake.port
    fake.close()  # nothing listens there any more
    assert "not answering" in ready.not_ready(["classify"], "127.0.0.1", port, key_file, 1)[0]
    assert ready.not_ready([], "127.0.0.1", port, key_file, 1) == ["no models to check (model store empty?)"]


def test_command_line_exit_codes_and_defaults(tmp_path, key_file):
    """The endpoints checked are the ones CONVLENS_ENDPOINTS names (what the server was told to load)."""
    fake = FakeManagement({"classify": ["READY"], "saliency": ["UNLOADING"]})
    cmd = [sys.executable, str(ROOT / "scripts" / "ready.py"), "--port", str(fake.port), "--key-file", str(key_file)]
    env = {**os.environ, "CONVLENS_ENDPOINTS": "saliency,classify"}
    try:
        not_yet = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        only_classify = subprocess.run(cmd + ["--models", "classify"], capture_output=True, text=True, timeout=60,
                                       env=env)
        unknown = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                 env={**env, "CONVLENS_ENDPOINTS": "classify,stylise"})
        fake.workers["saliency"] = ["READY"]
        now = subprocess.run(cmd + ["--quiet"], capture_output=True, text=True, timeout=60, env=env)
    finally:
        fake.close()
    assert not_yet.returncode == 1 and "saliency: no READY worker" in not_yet.stderr
    assert only_classify.returncode == 0 and only_classify.stdout.strip() == "ready: classify"
    assert unknown.returncode == 2 and "unknown endpoints or profiles: stylise;" in unknown.stderr
    assert now.returncode == 0 and now.stdout == ""
    assert ready.probe_host("0.0.0.0") == "127.0.0.1" and ready.probe_host("127.0.0.1") == "127.0.0.1"


def test_with_token_auth_off_no_key_is_needed_or_sent(tmp_path):
    fake = FakeManagement({"classify": ["READY"]}, key=None)
    cmd = [sys.executable, str(ROOT / "scripts" / "ready.py"), "--port", str(fake.port), "--models", "classify",
           "--key-file", str(tmp_path / "absent.json")]
    try:
        with_key = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        without = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "CONVLENS_TOKEN_AUTH": "off"})
    finally:
        fake.close()
    assert with_key.returncode == 1 and "no management key" in with_key.stderr
    assert without.returncode == 0 and fake.seen_auth == [""]
