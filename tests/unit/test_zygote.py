"""The fork server's protocol with a stand-in worker script (no torch: the zygote preloads only `json`): the shim's
argv, environment, working directory and pipes reach the forked child; exit codes and signals come back as the
frontend would see them; a SIGKILLed shim takes its worker along; without a zygote the worker starts in place."""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "scripts" / "worker_site"
sys.path.insert(0, str(SITE))
from convlens_zygote import child, protocol  # noqa: E402 - after the sys.path set-up above

WORKER = """
import json, os, signal, sys, time
print("[PID]%d" % os.getpid(), flush=True)
print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "argv": sys.argv, "cwd": os.getcwd(),
                  "x": os.environ.get("X"), "path": sys.path[:3], "sid": os.getsid(0)}), flush=True)
print("a line on stderr", file=sys.stderr, flush=True)
mode = sys.argv[1]
if mode == "exit":
    sys.exit(int(sys.argv[2]))
if mode == "raise":
    raise RuntimeError("boom")
if mode == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
got = []
signal.signal(signal.SIGTERM, lambda *_: got.append(1))
print("waiting", flush=True)
for _ in range(1200):
    if got:
        print("got SIGTERM", flush=True)
        sys.exit(5)
    time.sleep(0.05)
"""


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone, also between opening its stat file and reading it
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def zygote(tmp_path_factory) -> Iterator[tuple[subprocess.Popen, Path]]:
    folder = tmp_path_factory.mktemp("zygote")
    sock = folder / "private" / "zygote.sock"
    process = subprocess.Popen([sys.executable, "-m", "convlens_zygote.server", "--socket", str(sock),
                                "--preload", "json"], env={**os.environ, "PYTHONPATH": str(SITE)},
                               stderr=subprocess.PIPE, text=True)
    assert wait_for(sock.exists), process.stderr.read() if process.poll() is not None else "no socket"
    yield process, sock
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ts") / "model_service_worker.py"  # the name TorchServe's frontend runs
    path.write_text(WORKER)
    return path


def launch(script: Path, sock: Path | None, *args: str, cwd: Path | None = None, **env: str) -> subprocess.Popen:
    """Start the worker script as the frontend does (its own pipes), with or without the zygote."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": f"{SITE}{os.pathsep}/opt/extra",
               **env}
    if sock is not None:
        environ["CONVLENS_ZYGOTE_SOCKET"] = str(sock)
    return subprocess.Popen([sys.executable, str(script), *args], env=environ, cwd=cwd or script.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def report(process: subprocess.Popen) -> dict:
    """The stand-in worker's JSON line (its second line on stdout)."""
    assert process.stdout is not None
    pid_line = process.stdout.readline()
    info = json.loads(process.stdout.readline())
    assert pid_line.strip() == f"[PID]{info['pid']}"  # what the frontend parses: the real worker's pid
    return info


def test_the_child_gets_argv_env_cwd_path_and_the_shims_pipes(zygote, script, tmp_path):
    server, sock = zygote
    process = launch(script, sock, "exit", "0", cwd=tmp_path, X="from the shim")
    info = report(process)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert info["ppid"] == server.pid and info["pid"] != process.pid  # forked by the zygote, not the shim
    assert info["sid"] == info["pid"]  # a session of its own
    assert info["argv"] == [str(script), "exit", "0"] and info["cwd"] == str(tmp_path) and info["x"] == "from the shim"
    assert info["path"] == [str(script.parent), str(SITE), "/opt/extra"]  # as `python SCRIPT` builds it
    assert "a line on stderr" in err  # through the shim's own stderr pipe
    assert f"worker forked by the zygote as pid {info['pid']}" in err


@pytest.mark.parametrize(("args", "code"), [(("exit", "3"), 3), (("raise",), 1), (("kill",), -signal.SIGKILL)])
def test_the_shim_ends_as_its_worker_ended(zygote, script, args, code):
    _, sock = zygote
    process = launch(script, sock, *args)
    report(process)
    _, err = process.communicate(timeout=20)
    assert process.returncode == code  # -9: killed by SIGKILL, which Java reads as exit value 137
    if args == ("raise",):
        assert "RuntimeError: boom" in err


def test_sigterm_to_the_shim_reaches_the_worker(zygote, script):
    _, sock = zygote
    process = launch(script, sock, "wait")
    report(process)
    assert process.stdout.readline().strip() == "waiting"
    process.terminate()
    out, _ = process.communicate(timeout=20)
    assert "got SIGTERM" in out and process.returncode == 5


def test_a_killed_shim_takes_its_worker_along(zygote, script):
    _, sock = zygote
    process = launch(script, sock, "sleep")
    worker = report(process)["pid"]
    assert process.stdout.readline().strip() == "waiting" and alive(worker)
    process.kill()  # what the frontend does to a worker it stops or scales down
    process.wait(timeout=10)
    assert wait_for(lambda: not alive(worker)), f"worker {worker} outlived its shim"


def test_without_a_zygote_the_worker_starts_in_place(script, tmp_path):
    process = launch(script, tmp_path / "missing.sock", "exit", "4")
    info = report(process)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 4 and info["pid"] == process.pid  # no fork: the launched process is the worker
    assert "no zygote at" in err and "starting the worker in this process" in err
    off = launch(script, tmp_path / "missing.sock", "exit", "0", CONVLENS_ZYGOTE="0")
    assert report(off)["pid"] == off.pid
    assert "zygote" not in off.communicate(timeout=20)[1]  # switched off: not even tried


def test_a_zygote_of_another_python_refuses_and_the_worker_starts_in_place(zygote):
    _, sock = zygote
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(sock))
    protocol.send_request(conn, protocol.Request(argv=["w.py"], env={}, cwd="/", python="2.7.18 (other)"))
    kind, reason = protocol.LineReader(conn).next() or ("", "")
    conn.close()
    assert kind == "refused" and "2.7.18" in reason


def test_socket_is_private_and_stopping_the_zygote_ends_its_workers(script, tmp_path):
    sock = tmp_path / "z" / "zygote.sock"
    server = subprocess.Popen([sys.executable, "-m", "convlens_zygote.server", "--socket", str(sock), "--preload",
                               ""], env={**os.environ, "PYTHONPATH": str(SITE)}, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(sock.exists)
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700 and stat.S_IMODE(sock.stat().st_mode) == 0o600
        process = launch(script, sock, "sleep")
        worker = report(process)["pid"]
        assert process.stdout.readline().strip() == "waiting"  # its SIGTERM handler is set
        server.terminate()
        assert server.wait(timeout=20) == 0
        out, _ = process.communicate(timeout=10)
        assert "got SIGTERM" in out and process.returncode == 5  # asked to stop, then mirrored by its shim
        assert not alive(worker) and not sock.exists()
    finally:
        server.kill()


def test_oversized_or_fdless_requests_are_refused(zygote):
    _, sock = zygote
    for payload in (b"\xff\xff\xff\xff", b"\x00\x00\x00\x02{}"):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(sock))
        conn.sendall(payload)
        kind, _ = protocol.LineReader(conn).next() or ("", "")
        conn.close()
        assert kind == "refused"


def test_worker_path_puts_the_script_folder_and_pythonpath_first():
    base = ["/usr/lib/python3.11", "/venv/site-packages", "/a"]
    assert child.worker_path("/ts/model_service_worker.py", "/a:/b:", base) == [
        "/ts", "/a", "/b", "/usr/lib/python3.11", "/venv/site-packages"]


TORCH_WORKER = """
import json, os, random, sys
import numpy, torch
x = torch.arange(6.0).reshape(2, 3) @ torch.ones(3, 1)
print(json.dumps({"ppid": os.getppid(), "cuda_initialized": torch.cuda.is_initialized(),
                  "threads": torch.get_num_threads(), "matmul": x.flatten().tolist(),
                  "numpy": int(numpy.random.randint(1 << 30)), "random": random.random()}), flush=True)
"""


def test_the_default_preload_leaves_cuda_and_threads_to_each_child_with_fresh_random_seeds(tmp_path):
    sock = tmp_path / "z" / "zygote.sock"
    log = tmp_path / "zygote.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "convlens_zygote.server", "--socket", str(sock)],
                                  env={**os.environ, "PYTHONPATH": str(SITE)}, stderr=out)
    script = tmp_path / "model_service_worker.py"
    script.write_text(TORCH_WORKER)
    try:
        assert wait_for(sock.exists)
        runs = []
        for threads in ("1", "2"):
            process = launch(script, sock, OMP_NUM_THREADS=threads)
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            runs.append(json.loads(out))
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert "imported numpy, PIL.Image, torch, torchvision" in log.read_text()
    assert all(r["ppid"] == server.pid and not r["cuda_initialized"] for r in runs)  # forked, CUDA untouched
    assert [r["threads"] for r in runs] == [1, 2]  # OMP_NUM_THREADS of each shim's environment
    assert all(r["matmul"] == [3.0, 12.0] for r in runs)
    assert runs[0]["numpy"] != runs[1]["numpy"] and runs[0]["random"] != runs[1]["random"]  # reseeded per child
