"""clamscan's --move / --copy / --remove, written so that no step can lose a file.

The file is opened once with O_NOFOLLOW and identified by (device, inode); every later step re-checks
that the path still names that same inode, so a path swapped for a symlink or another file between the
scan and the action is refused rather than acted on. A move across filesystems is copy → fsync (file and
directory) → re-check → unlink: a crash at any point leaves the file in at least one place. A name clash in
the destination gets clamscan's `.001`…`.999` suffix; the destination is created with O_EXCL so two
runs never overwrite each other's files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vigil.errors import ActionError

MAX_SUFFIX = 999
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ActionResult:
    real_path: str
    destination: str | None  # None for --remove


def resolve_dir(directory: str) -> str:
    """Resolve the --move/--copy directory once, as clamscan's action_setup does."""
    if not os.path.isdir(directory):
        raise ActionError(f"action_setup: Failed to get realpath of {directory}")
    return os.path.realpath(directory)


@contextmanager
def _open_source(path: str) -> Iterator[tuple[int, os.stat_result]]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ActionError(f"Can't open '{path}': {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ActionError(f"'{path}' is not a regular file")
        yield fd, info
    finally:
        os.close(fd)


def _same_file(path: str, info: os.stat_result) -> bool:
    try:
        now = os.lstat(path)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino) and stat.S_ISREG(now.st_mode)


def _create_destination(directory: str, name: str) -> tuple[str, int]:
    """Claim a fresh name: `name`, then `name.001` … `name.999`."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    candidates = [name] + [f"{name}.{index:03d}" for index in range(1, MAX_SUFFIX + 1)]
    for candidate in candidates:
        target = os.path.join(directory, candidate)
        try:
            return target, os.open(target, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ActionError(f"Can't create '{target}': {exc.strerror}") from exc
    raise ActionError(f"No free name for {name} in {directory}")


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_fd(source: int, dest: int) -> None:
    os.lseek(source, 0, os.SEEK_SET)
    while chunk := os.read(source, _CHUNK):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dest, view):]
    os.fsync(dest)


def _copy_into(fd: int, info: os.stat_result, directory: str, name: str) -> str:
    target, dest = _create_destination(directory, name)
    try:
        _copy_fd(fd, dest)
        os.fchmod(dest, stat.S_IMODE(info.st_mode))
    except OSError as exc:
        os.close(dest)
        os.unlink(target)
        raise ActionError(f"Can't copy file to '{target}': {exc.strerror}") from exc
    os.close(dest)
    _fsync_dir(directory)
    return target


def _unlink_checked(path: str, info: os.stat_result) -> None:
    if not _same_file(path, info):
        raise ActionError(f"'{path}' changed during the action; left in place")
    try:
        os.unlink(path)
    except OSError as exc:
        raise ActionError(f"Can't unlink '{path}': {exc.strerror}") from exc
    _fsync_dir(os.path.dirname(path) or ".")


def copy_file(path: str, directory: str) -> ActionResult:
    real = os.path.realpath(path)
    with _open_source(real) as (fd, info):
        return ActionResult(real, _copy_into(fd, info, directory, os.path.basename(real)))


def _rename_into(real: str, info: os.stat_result, directory: str) -> str:
    target, dest = _create_destination(directory, os.path.basename(real))
    os.close(dest)
    if not _same_file(real, info):
        os.unlink(target)
        raise ActionError(f"'{real}' changed during the action; left in place")
    try:
        os.rename(real, target)  # replaces our own empty placeholder atomically
    except OSError as exc:
        os.unlink(target)
        raise ActionError(f"Can't move file {real} to {target}: {exc.strerror}") from exc
    _fsync_dir(directory)
    _fsync_dir(os.path.dirname(real) or ".")
    return target


def move_file(path: str, directory: str) -> ActionResult:
    """Same filesystem: one rename. Otherwise copy, fsync, re-check the inode, then unlink."""
    real = os.path.realpath(path)
    with _open_source(real) as (fd, info):
        if os.stat(directory).st_dev == info.st_dev:
            return ActionResult(real, _rename_into(real, info, directory))
        target = _copy_into(fd, info, directory, os.path.basename(real))
        _unlink_checked(real, info)
        return ActionResult(real, target)


def remove_file(path: str) -> ActionResult:
    real = os.path.realpath(path)
    with _open_source(real) as (_fd, info):
        _unlink_checked(real, info)
    return ActionResult(real, None)
