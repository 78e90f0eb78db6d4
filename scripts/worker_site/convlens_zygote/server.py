"""The zygote: import torch & co. once, then fork one child per worker a shim hands over, and report its exit.

    python -m convlens_zygote.server --socket RUN_DIR/zygote/zygote.sock

Binds its socket (mode 0600, in a folder of its own made 0700) before importing, so shims started meanwhile
queue on it; then imports the `--preload` modules, runs no torch op, loads no weights and never touches CUDA
(forking after OpenMP or CUDA start is unsafe), freezes the garbage collector's view of those objects (so
collections do not write to their pages) and serves: a request from a process of its own user gets a child
(`child.py`), the reply `pid N`, and `exit CODE` when it ends. A shim that goes away (the frontend SIGKILLs
workers) gets its child killed. SIGTERM/SIGINT: every child gets SIGTERM, then SIGKILL after a grace period.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import LOG_PREFIX, PRELOAD_ENV
from .protocol import ProtocolError, recv_request, send_line

# What every torch worker imports at start (and torchvision, which most import on their first request); not the
# ConvLens engine, which each archive carries itself (a worker imports it from its unpacked archive).
PRELOAD = ("numpy", "PIL.Image", "torch", "torchvision", "ts.model_service_worker", "ts.service", "ts.model_loader",
           "ts.context", "yaml")
REQUEST_TIMEOUT_S = 10.0  # a connection must deliver its request within this
STOP_GRACE_S = 5.0
_PEERCRED = struct.Struct("3i")


def say(message: str) -> None:
    print(f"{LOG_PREFIX} {message}", file=sys.stderr, flush=True)


class Stop(Exception):
    """SIGTERM or SIGINT arrived."""


@dataclass
class Child:
    """A forked worker: its pidfd (readable once it has ended) and the connection of the shim that asked for it."""

    pid: int
    pidfd: int
    conn: socket.socket


def listen(path: Path) -> socket.socket:
    """A unix socket at `path`, its folder private (0700) and the socket 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(128)
    return sock


def preload(modules: tuple[str, ...]) -> None:
    """Import `modules` (no torch op runs: importing registers operators, it starts no thread pool)."""
    started = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # later collections skip these objects: their pages stay shared with the children
    threads = len(os.listdir("/proc/self/task"))
    say(f"imported {', '.join(modules) or 'nothing'} in {time.perf_counter() - started:.1f} s "
        f"({threads} threads); pid {os.getpid()}")


def peer_pid(conn: socket.socket) -> int:
    """The pid of the process at the other end, refused (PermissionError) unless it runs as this user."""
    pid, uid, _ = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    if uid != os.getuid():
        raise PermissionError(f"peer uid {uid} is not {os.getuid()}")
    return pid


def fork_without_stop_signals() -> int:
    """os.fork() with SIGTERM/SIGINT held back around it: the child starts with their default action (a stop
    request meant for the zygote never runs the zygote's shutdown in a child), the parent gets them afterwards."""
    stops = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    return pid


class Zygote:
    """The accept/fork/reap loop."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        self.children: dict[int, Child] = {}  # pid -> child
        zygote_path = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        self.base_path = [p for p in sys.path[1:] if p and p not in zygote_path and os.path.abspath(p) not in
                          {os.path.abspath(z) for z in zygote_path if z}]

    def serve(self) -> None:
        """Run until Stop."""
        while True:
            for key, _ in self.selector.select():
                if key.data == "accept":
                    self.accept()
                elif key.data[0] == "ended":
                    self.reap(key.data[1])
                else:
                    self.shim_gone(key.data[1])

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        shim_pidfd = -1
        try:
            shim = peer_pid(conn)
            conn.settimeout(REQUEST_TIMEOUT_S)
            request, fds = recv_request(conn)
            if request.python != sys.version:
                raise ProtocolError(f"the shim runs Python {request.python.split()[0]}, this zygote "
                                    f"{sys.version.split()[0]}")
            shim_pidfd = os.pidfd_open(shim)
            conn.settimeout(None)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = fork_without_stop_signals()
        except (OSError, ProtocolError) as error:  # the shim then starts its worker itself
            say(f"refused a request: {error}")
            send_line(conn, "refused", str(error).replace("\n", " "))
            conn.close()
            for fd in (*fds, shim_pidfd):
                if fd >= 0:
                    os.close(fd)
            return
        if pid == 0:  # the child: drop the zygote's sockets and registry, become the worker
            from .child import run

            self.close_in_child(conn)
            run(request, fds, shim_pidfd, self.base_path)
        for fd in (*fds, shim_pidfd):
            os.close(fd)
        child = Child(pid, os.pidfd_open(pid), conn)
        self.children[pid] = child
        self.selector.register(child.pidfd, selectors.EVENT_READ, ("ended", pid))
        self.selector.register(conn, selectors.EVENT_READ, ("shim", pid))
        send_line(conn, "pid", pid)
        say(f"forked worker {pid} for shim {shim}: {' '.join(request.argv[-6:])}")

    def close_in_child(self, conn: socket.socket) -> None:
        """In a fresh child: close the zygote's listener, selector and every connection and pidfd it holds."""
        self.selector.close()
        for sock in (self.listener, conn, *(c.conn for c in self.children.values())):
            os.close(sock.detach())
        for child in self.children.values():
            os.close(child.pidfd)
        self.children.clear()

    def reap(self, pid: int) -> None:
        """A child ended: tell its shim how, forget it."""
        child = self.children.pop(pid)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self.selector.unregister(child.pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(child.conn)  # already gone when its shim went first
        os.close(child.pidfd)
        send_line(child.conn, "exit", code)
        child.conn.close()
        say(f"worker {pid} ended ({'signal ' + str(-code) if code < 0 else 'exit ' + str(code)})")

    def shim_gone(self, pid: int) -> None:
        """The shim's end of the connection closed or sent something: its process is gone, so is its worker."""
        child = self.children.get(pid)
        if child is None:
            return
        with contextlib.suppress(OSError):
            if child.conn.recv(1, socket.MSG_PEEK):
                child.conn.recv(4096)  # a shim sends nothing after its request; ignore stray bytes
                return
        self.selector.unregister(child.conn)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        say(f"shim of worker {pid} is gone: killed the worker")

    def stop(self) -> None:
        """SIGTERM every child, SIGKILL those still there after STOP_GRACE_S; each shim hears how its child ended."""
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while self.children:
            for pid in list(self.children):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    self.reap(pid)
            time.sleep(0.02)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    def stop(signum: int, _frame: object) -> None:
        raise Stop(signal.Signals(signum).name)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", type=Path, required=True, help="where to listen (its folder becomes 0700)")
    parser.add_argument("--preload", default=os.environ.get(PRELOAD_ENV, ",".join(PRELOAD)),
                        help="comma list of modules to import before forking (default: %(default)s)")
    args = parser.parse_args(argv)
    if len(str(args.socket).encode()) > 107:
        parser.error(f"--socket {args.socket} is longer than a unix socket path may be (107 bytes)")
    listener = listen(args.socket)
    zygote = Zygote(listener)
    try:
        with stop_on_signals():
            preload(tuple(m.strip() for m in args.preload.split(",") if m.strip()))
            zygote.serve()
    except Stop as why:
        say(f"stopping ({why}); ending {len(zygote.children)} workers")
    finally:
        zygote.stop()
        with contextlib.suppress(FileNotFoundError):
            args.socket.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
