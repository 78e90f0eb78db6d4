"""Start a private TorchServe for tests and benchmarks: own free ports, own temp dir (pid file, tokens, logs).

`running_server()` yields once every endpoint has a READY worker (TorchServe's /ping says Healthy while models
still load, so readiness is read from the management API) and stops the server afterwards.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import build_models
import profiles
from write_config import config_text

ROOT = Path(__file__).resolve().parents[1]
WORKER_SITE = ROOT / "scripts" / "worker_site"
if str(WORKER_SITE) not in sys.path:
    sys.path.append(str(WORKER_SITE))
import convlens_zygote  # noqa: E402 - after the sys.path set-up above

ENDPOINTS = tuple(build_models.endpoints())  # every endpoint with a config and a handler
STARTUP_TIMEOUT_S = 240


@dataclass
class Server:
    """Where the test server listens and where its tokens are."""

    host: str
    ports: dict[str, int]
    workdir: Path
    cold_start_s: float
    ready_s: dict[str, float] = field(default_factory=dict)  # endpoint -> seconds from start to its first READY
    zygote_pid: int | None = None  # the fork server the workers come from (None: workers start as TorchServe's)

    @property
    def key_file(self) -> Path:
        return self.workdir / "key_file.json"

    def key(self, kind: str) -> str:
        return json.loads(self.key_file.read_text())[kind]["key"]

    def url(self, path: str, port: str = "http") -> str:
        return f"http://{self.host}:{self.ports[port]}{path}"

    def describe(self, model: str) -> list[dict]:
        """The management API's describe answer (worker pids and states); renews an expired management token."""
        for attempt in (1, 2):
            request = urllib.request.Request(self.url(f"/models/{model}", "management"),
                                             headers={"Authorization": f"Bearer {self.key('management')}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                if attempt == 2 or b"InvalidKeyException" not in error.read():
                    raise
                self.renew_token("management")
        raise AssertionError("unreachable")

    def renew_token(self, kind: str) -> None:
        """Ask TorchServe for a new `inference` or `management` token with the API key (it rewrites key_file.json)."""
        request = urllib.request.Request(self.url(f"/token?type={kind}", "management"),
                                         headers={"Authorization": f"Bearer {self.key('API')}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def worker_pids(self, model: str) -> list[int]:
        return [w["pid"] for w in self.describe(model)[0]["workers"] if w["status"] == "READY"]

    def frontend_pid(self) -> int:
        """The Java frontend's pid: TorchServe's launcher writes it into $TMPDIR/.model_server.pid."""
        return int((self.workdir / "tmp" / ".model_server.pid").read_text().split()[0])


def worker_pythonpath() -> str:
    """PYTHONPATH for TorchServe (its frontend passes it on to the workers): scripts/worker_site first, whose
    sitecustomize makes a worker import torch only when its endpoint uses it, as scripts/serve.sh does."""
    return os.pathsep.join(p for p in (str(WORKER_SITE), os.environ.get("PYTHONPATH")) if p)


def wants_zygote(endpoints: tuple[str, ...]) -> bool:
    """The start scripts' rule: a zygote when some endpoint's worker imports torch, unless CONVLENS_ZYGOTE=0.
    A model named after no endpoint (a benchmark's `classify_before`, a test's `slow`) counts as a torch worker."""
    return convlens_zygote.enabled(dict(os.environ)) and any(
        not (profiles.HANDLERS / f"{e}.py").is_file() or profiles.uses_torch(e) for e in endpoints)


@contextlib.contextmanager
def running_zygote(workdir: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, Path]]:
    """A zygote for a server in `workdir` (socket in workdir/zygote/, log workdir/zygote.log), stopped on exit."""
    sock = workdir / "zygote" / "zygote.sock"
    with open(workdir / "zygote.log", "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "convlens_zygote.server", "--socket", str(sock)],
                                   cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, umask=0o077)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():  # it binds before importing anything heavy
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"zygote did not start:\n{(workdir / 'zygote.log').read_text()[-4000:]}")
            time.sleep(0.05)
        yield process, sock
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (from /proc/*/stat)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return out


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def stop_or_reap(process: subprocess.Popen, workdir: Path, timeout: float = 90) -> int:
    """Wait for a server script that was asked to stop; if it hangs, SIGKILL every process whose command line
    names `workdir` (frontend and workers) so a failed test leaves no server eating the next tests' memory."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        subprocess.run(["pkill", "-9", "-f", str(workdir)], check=False)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        raise


def wait_ready(server: Server, process: subprocess.Popen, log: Path, endpoints: tuple[str, ...],
               started: float | None = None, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    """/ping says Healthy while models still load: wait until every endpoint has a READY worker, noting in
    `server.ready_s` when each endpoint first had one (seconds since `started`, default: now)."""
    started = time.monotonic() if started is None else started
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"TorchServe exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if server.key_file.exists():
                for m in endpoints:
                    if m not in server.ready_s and server.worker_pids(m):
                        server.ready_s[m] = time.monotonic() - started
                if len(server.ready_s) >= len(set(endpoints)):
                    return
        except (OSError, KeyError, json.JSONDecodeError, IndexError):  # OSError: refused, reset, timed out (URLError)
            pass
        time.sleep(0.5)
    raise RuntimeError(f"TorchServe not ready in {timeout_s:.0f}s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def running_server(endpoints: tuple[str, ...] = ENDPOINTS, workdir: Path | None = None, *,
                   model_store: Path | None = None, also_load: tuple[str, ...] = (),
                   extra_config: dict[str, object] | None = None, token_ttl_min: float = 60,
                   lazy_torch: bool = True, zygote: bool | None = None,
                   startup_timeout_s: float = STARTUP_TIMEOUT_S) -> Iterator[Server]:
    """A TorchServe serving `endpoints` from model_store/, on free loopback ports, stopped on exit.

    model_store: serve archives already built there instead (tests: variants with tiny queues, broken weights);
    also_load: models loaded as well but not waited for (e.g. one that must fail its load); extra_config:
    config.properties keys to add or override; token_ttl_min may be a fraction (TorchServe reads a double);
    lazy_torch=False: workers import torch at start as TorchServe does by itself (before/after benchmarks);
    zygote: fork the workers from a zygote (convlens_zygote); None: as the start scripts decide (wants_zygote).
    The server runs with umask 077, so its key file, logs and unpacked archives are its owner's only.
    """
    if model_store is None:
        for name in endpoints:  # never test stale archives: rebuild any whose sources changed
            build_models.build(name, weights=None, force=False)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="convlens-ts-")))
        (workdir / "tmp").mkdir(parents=True, exist_ok=True)
        names = ("http", "management", "metrics", "grpc", "grpc_management")
        ports = dict(zip(names, free_ports(len(names))))
        config = workdir / "config.properties"
        config.write_text(config_text("127.0.0.1", ports, model_store or ROOT / "model_store",
                                      token_ttl_min=token_ttl_min, extra=extra_config,
                                      models=",".join(f"{m}.mar" for m in (*endpoints, *also_load))))
        env = {**os.environ, "TMPDIR": str(workdir / "tmp"), "TEMP": str(workdir / "tmp"),
               "LOG_LOCATION": str(workdir / "logs"), "METRICS_LOCATION": str(workdir / "logs"),
               "PYTHONPATH": worker_pythonpath() if lazy_torch else os.environ.get("PYTHONPATH", "")}
        log = workdir / "torchserve.log"
        torchserve = Path(sys.executable).with_name("torchserve")
        started = time.monotonic()
        zygote_pid = None
        env.pop("CONVLENS_ZYGOTE_SOCKET", None)
        if zygote if zygote is not None else wants_zygote(endpoints):
            if not lazy_torch:
                raise ValueError("the zygote works through scripts/worker_site: lazy_torch=False excludes it")
            zygote_process, sock = stack.enter_context(running_zygote(workdir, env))
            env["CONVLENS_ZYGOTE_SOCKET"], zygote_pid = str(sock), zygote_process.pid
        with open(log, "wb") as out:
            process = subprocess.Popen([str(torchserve), "--start", "--foreground", "--ncs", "--ts-config",
                                        str(config)], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True, umask=0o077)
        server = Server("127.0.0.1", ports, workdir, 0.0, zygote_pid=zygote_pid)
        try:
            wait_ready(server, process, log, endpoints, started, startup_timeout_s)
            server.cold_start_s = time.monotonic() - started
            yield server
        finally:
            subprocess.run([str(torchserve), "--stop"], cwd=workdir, env=env, capture_output=True, timeout=60)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
