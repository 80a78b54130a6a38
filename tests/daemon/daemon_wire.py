"""A raw client: sends a script of packets (bytes, pauses, an fd to pass) and collects every byte back."""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class PassFd:
    """One sendmsg: a 1-byte payload carrying the fd of `path` (SCM_RIGHTS)."""

    path: str
    payload: bytes = b"\0"


Step = bytes | Pause | PassFd


def chunk(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def instream(data: bytes, size: int = 8192, framing: bytes = b"z") -> list[Step]:
    term = b"\0" if framing == b"z" else b"\n"
    chunks = [chunk(data[i:i + size]) for i in range(0, len(data), size)]
    return [framing + b"INSTREAM" + term, b"".join(chunks) + chunk(b"")]


def talk(path: str, steps: list[Step], wait: float = 10.0, gap: float = 0.02) -> tuple[bytes, str]:
    """Returns (all bytes received, how the connection ended: 'close', 'reset' or 'timeout')."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        sock.settimeout(wait)
        for step in steps:
            try:
                _send(sock, step)
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(gap)
        return _read_all(sock)


def _send(sock: socket.socket, step: Step) -> None:
    if isinstance(step, Pause):
        time.sleep(step.seconds)
    elif isinstance(step, PassFd):
        fd = os.open(step.path, os.O_RDONLY)
        try:
            socket.send_fds(sock, [step.payload], [fd])
        finally:
            os.close(fd)
    else:
        sock.sendall(step)


def _read_all(sock: socket.socket) -> tuple[bytes, str]:
    out = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return out, "reset"
        except TimeoutError:
            return out, "timeout"
        if not data:
            return out, "close"
        out += data
