"""File-system steps of the quarantine that must not follow symlinks or lose data on a crash.

Directories are opened one component at a time with O_NOFOLLOW from `/`, so a parent directory that
is (or becomes) a symlink is refused instead of silently redirecting a move or a restore elsewhere.
Every later step works relative to that directory descriptor.

`FAULT_HOOK` is called with the name of each step of a crash-sensitive sequence; the crash-safety test
sets it to kill the process at a chosen step. Production leaves it None.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from vigil.errors import VigilError

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | O_CLOEXEC

FAULT_HOOK: Callable[[str], None] | None = None


class QuarantineError(VigilError):
    """A quarantine operation was refused or failed; no file was lost."""


def step(name: str) -> None:
    if FAULT_HOOK is not None:
        FAULT_HOOK(name)


def open_dir_nofollow(path: bytes) -> int:
    """Open an absolute directory path without following a symlink in any component."""
    if not path.startswith(b"/"):
        raise QuarantineError(f"not an absolute path: {os.fsdecode(path)!r}")
    fd = os.open(b"/", _DIR_FLAGS)
    try:
        for part in (p for p in path.split(b"/") if p and p != b"."):
            if part == b"..":
                raise QuarantineError(f"'..' in path: {os.fsdecode(path)!r}")
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError as exc:
        os.close(fd)
        raise QuarantineError(f"{os.fsdecode(path)}: parent directory refused ({exc.strerror})") from exc
    except QuarantineError:
        os.close(fd)
        raise
    return fd


def split(path: bytes) -> tuple[bytes, bytes]:
    parent, _, name = path.rstrip(b"/").rpartition(b"/")
    if not name:
        raise QuarantineError(f"no file name in {os.fsdecode(path)!r}")
    return parent or b"/", name


def identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def lstat_at(dir_fd: int, name: bytes) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def same_regular_file(dir_fd: int, name: bytes, ident: tuple[int, int]) -> bool:
    info = lstat_at(dir_fd, name)
    return info is not None and stat.S_ISREG(info.st_mode) and identity(info) == ident


def fsync_fd(fd: int) -> None:
    os.fsync(fd)


def fsync_path_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
