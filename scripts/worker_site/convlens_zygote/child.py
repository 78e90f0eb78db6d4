"""What a child forked by the zygote does to become the worker the frontend launched, then runs it.

The child takes the shim's session-free place: its own session, the shim's fds as 0/1/2, the shim's working
directory, environment and sys.path (as `python SCRIPT` with that PYTHONPATH would have built it), fresh random
seeds, the default signal handlers, torch's thread count from the environment; it dies with the shim (a pidfd
watched by a daemon thread: the frontend kills workers with SIGKILL), then runs the script as `__main__`.
"""
from __future__ import annotations

import atexit
import io
import logging
import os
import random
import runpy
import select
import signal
import sys
import threading
import traceback
from typing import NoReturn

from .protocol import STDIO, Request


def worker_path(script: str, pythonpath: str, base: list[str]) -> list[str]:
    """sys.path of `python script` under `pythonpath`: the script's folder, PYTHONPATH's entries, then `base`."""
    extra = [os.path.abspath(p) for p in pythonpath.split(os.pathsep) if p]
    return [os.path.dirname(os.path.abspath(script)), *extra, *[p for p in base if p not in extra]]


def text_stream(fd: int, mode: str, env: dict[str, str]) -> io.TextIOWrapper:
    """sys.stdin/stdout/stderr over `fd` as a fresh interpreter makes them (stderr line-buffered, stdout when a tty)."""
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    binary = open(fd, mode + "b", buffering=-1 if mode == "r" or not unbuffered else 0,  # noqa: SIM115 - lives on
                  closefd=False)
    line = fd == 2 or os.isatty(fd)
    return io.TextIOWrapper(binary, encoding="utf-8", errors="backslashreplace" if fd == 2 else "strict",
                            line_buffering=line, write_through=unbuffered)


def die_with(pidfd: int) -> None:
    """A daemon thread that SIGKILLs this process when the process behind `pidfd` (the shim) has ended."""
    def watch() -> None:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        while not poller.poll():
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="zygote-shim-watch", daemon=True).start()


def adopt(request: Request, fds: list[int], base_path: list[str]) -> None:
    """Turn this freshly forked process into the shim's worker (everything but running its script)."""
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setsid()
    for target, fd in zip(STDIO, fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd not in STDIO:
            os.close(fd)
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    sys.argv = list(request.argv)
    sys.path[:] = worker_path(request.argv[0], request.env.get("PYTHONPATH", ""), base_path)
    sys.path_importer_cache.clear()
    sys.stdin = text_stream(0, "r", request.env)
    sys.stdout = text_stream(1, "w", request.env)
    sys.stderr = text_stream(2, "w", request.env)
    logging.root.handlers.clear()  # the worker's logging.basicConfig must take effect
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    threads = request.env.get("OMP_NUM_THREADS", "")
    if "torch" in sys.modules and threads.isdigit() and int(threads) > 0:
        sys.modules["torch"].set_num_threads(int(threads))


def run(request: Request, fds: list[int], shim_pidfd: int, base_path: list[str]) -> NoReturn:
    """Become the worker, run its script as __main__ and exit with its status; never returns into the zygote."""
    code = 1
    try:
        adopt(request, fds, base_path)
        die_with(shim_pidfd)
        runpy.run_path(request.argv[0], run_name="__main__")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, int) and done.code is not None:
            print(done.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - whatever the script raised, the child must not return into the zygote
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()  # what a normal interpreter exit runs (e.g. logging's flush)
        except BaseException:  # noqa: BLE001 - exiting regardless
            pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
