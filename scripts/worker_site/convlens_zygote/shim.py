"""The worker process TorchServe launches, reduced to a shim: hand the launch to the zygote and mirror its child.

Runs from scripts/worker_site/sitecustomize.py before the worker script. With the zygote reachable, this process
sends its argv, environment, working directory and fds 0/1/2 (the pipes the frontend reads logs, `[PID]` and
metrics from), forwards SIGTERM/SIGINT to the child, and exits as the child exited (killed by a signal: by the
same signal), so the frontend sees what it would have seen. The frontend kills workers with SIGKILL, which
cannot be forwarded: the zygote sees this process's end and kills the child. Zygote unreachable or refusing:
`hand_over` returns and the worker starts here, as without a zygote; either way one line says which.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
from typing import NoReturn

from . import LOG_PREFIX, SOCKET_ENV, enabled
from .protocol import LineReader, Request, send_request


def say(message: str) -> None:
    """One line on stderr (the frontend logs a worker's stderr in model_log.log)."""
    sys.stderr.write(f"{LOG_PREFIX} {message}\n")
    sys.stderr.flush()


def connect(path: str) -> socket.socket | None:
    """A connection to the zygote at `path`, or None (not there, refused)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as error:
        sock.close()
        say(f"no zygote at {path} ({error.strerror or error}); starting the worker in this process")
        return None
    return sock


def exit_like(code: int) -> NoReturn:
    """End this process as the child ended: code >= 0 exits with it, -N dies of signal N (exit value 128+N)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code  # not reached for a fatal signal
    os._exit(code)


def mirror(sock: socket.socket, reader: LineReader, pid: int) -> NoReturn:
    """Forward SIGTERM/SIGINT to the child `pid` and exit as it exits (status from the zygote)."""
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            line = reader.next()
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue
        except OSError as error:
            line = None
            say(f"lost the zygote ({error})")
        if line is None:  # the zygote died: the child is orphaned, end it rather than leave it unsupervised
            say(f"the zygote went away; killing worker {pid}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            exit_like(70)
        kind, value = line
        if kind == "exit":
            sock.close()
            exit_like(int(value))


def hand_over(path: str) -> None:
    """Have the zygote at `path` start this worker and never return; return (start here) if it cannot."""
    sock = connect(path)
    if sock is None:
        return
    try:
        send_request(sock, Request(argv=list(sys.argv), env=dict(os.environ), cwd=os.getcwd()))
        reader = LineReader(sock)
        line = reader.next()
    except OSError as error:
        sock.close()
        say(f"zygote at {path} failed ({error}); starting the worker in this process")
        return
    if line is None or line[0] != "pid":
        sock.close()
        reason = "closed the connection" if line is None else " ".join(line)
        say(f"zygote at {path} {reason}; starting the worker in this process")
        return
    pid = int(line[1])
    say(f"worker forked by the zygote as pid {pid} (this shim is pid {os.getpid()})")
    mirror(sock, reader, pid)


def main() -> None:
    """sitecustomize's entry: use the zygote when $CONVLENS_ZYGOTE_SOCKET names one and it is switched on."""
    path = os.environ.get(SOCKET_ENV, "")
    if path and enabled(dict(os.environ)):
        hand_over(path)
