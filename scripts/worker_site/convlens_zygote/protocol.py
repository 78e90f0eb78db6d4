"""The zygote's wire format over a unix stream socket: one request, then status lines.

Request (shim -> zygote): a 4-byte big-endian length carrying the shim's fds 0, 1 and 2 (SCM_RIGHTS), then that
many bytes of JSON: {"version", "python", "argv", "env", "cwd"}. No pickle: the zygote parses plain data only.
Replies (zygote -> shim), one ASCII line each: `pid N` once the child is forked, then `exit CODE` when it ends
(CODE as os.waitstatus_to_exitcode: negative = killed by that signal); or `refused REASON` instead of both.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import sys

VERSION = 1
MAX_REQUEST_BYTES = 1 << 20  # argv + environment; a bigger request is refused
STDIO = (0, 1, 2)
_LENGTH = struct.Struct("!I")


class ProtocolError(Exception):
    """A request or reply that does not follow this format."""


class Request:
    """What the zygote needs to turn a forked child into the worker the frontend launched (a plain class: the
    shim runs in every worker process, and importing dataclasses would cost each one about 1 MiB)."""

    __slots__ = ("argv", "env", "cwd", "python", "version")

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, python: str = sys.version,
                 version: int = VERSION) -> None:
        self.argv, self.env, self.cwd, self.python, self.version = argv, env, cwd, python, version


def send_request(sock: socket.socket, request: Request, fds: tuple[int, ...] = STDIO) -> None:
    """Send `request` with `fds` attached to its first bytes."""
    body = json.dumps({"version": request.version, "python": request.python, "argv": request.argv,
                       "env": request.env, "cwd": request.cwd}).encode()
    socket.send_fds(sock, [_LENGTH.pack(len(body))], list(fds))
    sock.sendall(body)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Read exactly n bytes (ProtocolError on an early end)."""
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 65536))
        if not chunk:
            raise ProtocolError(f"connection closed after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_request(sock: socket.socket) -> tuple[Request, list[int]]:
    """Read one request and its fds; the caller owns (closes) the fds, also when this raises after receiving them."""
    head, fds, _, _ = socket.recv_fds(sock, _LENGTH.size, len(STDIO))
    try:
        if len(head) < _LENGTH.size:
            head += recv_exactly(sock, _LENGTH.size - len(head))
        (length,) = _LENGTH.unpack(head)
        if length > MAX_REQUEST_BYTES:
            raise ProtocolError(f"request of {length} bytes, over {MAX_REQUEST_BYTES}")
        if len(fds) != len(STDIO):
            raise ProtocolError(f"expected {len(STDIO)} file descriptors, got {len(fds)}")
        data = json.loads(recv_exactly(sock, length))
        request = Request(argv=[str(a) for a in data["argv"]], cwd=str(data["cwd"]),
                          env={str(k): str(v) for k, v in dict(data["env"]).items()},
                          python=str(data["python"]), version=int(data["version"]))
    except (ProtocolError, ValueError, KeyError, TypeError) as error:
        for fd in fds:
            _close(fd)
        raise ProtocolError(str(error)) from error
    if not request.argv:
        for fd in fds:
            _close(fd)
        raise ProtocolError("empty argv")
    return request, fds


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def send_line(sock: socket.socket, kind: str, value: object) -> bool:
    """Send one reply line; False when the peer is gone (its shim died)."""
    try:
        sock.sendall(f"{kind} {value}\n".encode())
        return True
    except OSError:
        return False


class LineReader:
    """Reply lines off a socket, one at a time (None at the end of the stream)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def next(self) -> tuple[str, str] | None:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        kind, _, value = line.decode("ascii", "replace").partition(" ")
        return kind, value
