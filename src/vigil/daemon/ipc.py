"""The daemon ↔ worker wire: length-prefixed frames on one persistent unix socketpair per worker.

A frame is `kind (1 byte) | flags (1 byte) | body length (4 bytes, big-endian) | body`. Kinds:

* `D` (data): the body is a small INSTREAM payload, raw bytes: scanned as it is, never decoded;
* `J` (job): the body is a pickled tuple the daemon built itself (paths, modes), as before;
* `R` (reply, worker → daemon): a pickled `(status, value, cacheable)` tuple.

`FLAG_FD` says one file descriptor travels with the frame (SCM_RIGHTS on the frame's first byte);
the receiver pops passed descriptors in arrival order. One frame per job replaces a pickle, a
separate fd message and a pipe wake-up each, and the daemon can write a job without waiting.
"""

from __future__ import annotations

import os
import socket
import struct
from collections import deque

HEADER = struct.Struct(">ccI")
DATA = b"D"
JOB = b"J"
REPLY = b"R"
FLAG_NONE = b"\0"
FLAG_FD = b"\1"
RECV_SIZE = 1 << 18
BUFFER_SIZE = 1 << 20


def frame(kind: bytes, body: bytes, has_fd: bool = False) -> bytes:
    return HEADER.pack(kind, FLAG_FD if has_fd else FLAG_NONE, len(body)) + body


def tune(sock: socket.socket) -> None:
    """Big socket buffers, so a job or a reply of up to a megabyte goes out in one write."""
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, BUFFER_SIZE)
        except OSError:
            continue


class FrameReader:
    """Accumulates bytes (and passed fds) and cuts whole frames out of them."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.fds: deque[int] = deque()

    def feed(self, data: bytes, fds: list[int]) -> None:
        self.buf += data
        self.fds.extend(fds)

    def next(self) -> tuple[bytes, bytes, int | None] | None:
        """(kind, body, fd or None) of the next complete frame, or None if it is not all here yet."""
        if len(self.buf) < HEADER.size:
            return None
        kind, flags, size = HEADER.unpack_from(self.buf)
        end = HEADER.size + size
        if len(self.buf) < end:
            return None
        body = bytes(self.buf[HEADER.size:end])
        del self.buf[:end]
        fd = self.fds.popleft() if flags == FLAG_FD and self.fds else None
        return kind, body, fd

    def close(self) -> None:
        while self.fds:
            _close(self.fds.popleft())


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        return
