"""Turn a ScanTarget into bytes to scan: small files are read, large ones mapped read-only."""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vigil.errors import ScanError
from vigil.types import ScanTarget

_MAP_THRESHOLD = 1 << 20


@dataclass(slots=True)
class Opened:
    """A target's content, and for files the descriptor it came from (for the scan cache's fstat)."""

    data: bytes | memoryview
    fd: int | None = None


@contextmanager
def target_bytes(target: ScanTarget) -> Iterator[Opened]:
    """Yield the target's content; raises ScanError with clamscan-like wording when it cannot be read."""
    if target.data is not None:
        yield Opened(target.data)
        return
    if target.fd is not None:
        with _fd_bytes(target.fd) as data:
            yield Opened(data, target.fd)
        return
    if target.path is None:
        raise ScanError("nothing to scan")
    try:
        fd = os.open(target.path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0) | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise ScanError("No such file or directory") from exc
    except PermissionError as exc:
        raise ScanError("Access denied") from exc
    except OSError as exc:
        raise ScanError(exc.strerror or str(exc)) from exc
    try:
        with _fd_bytes(fd) as data:
            yield Opened(data, fd)
    finally:
        os.close(fd)


@contextmanager
def _fd_bytes(fd: int) -> Iterator[bytes | memoryview]:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ScanError("Not a regular file")
    if info.st_size < _MAP_THRESHOLD:
        yield _read_all(fd, info.st_size)
        return
    mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    view = memoryview(mapped)
    try:
        yield view
    finally:
        view.release()
        mapped.close()


def _read_all(fd: int, size: int) -> bytes:
    """From offset 0 (a passed descriptor may be anywhere) to the end, however the file grew meanwhile.

    The first read asks for the size fstat gave: each read allocates what it asks for, and a fixed 1 MiB
    request cost every small file two large allocations.
    """
    chunks: list[bytes] = []
    offset, want = 0, size + 1
    while True:
        chunk = os.pread(fd, want, offset)
        if not chunk:
            return b"".join(chunks)  # one chunk comes back as is, not copied
        chunks.append(chunk)
        offset += len(chunk)
        want = 1 << 16
