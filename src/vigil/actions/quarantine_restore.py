"""Restore: give back the same bytes, mode, owner and mtime, at the original path or a chosen one.

The parent directories are opened with O_NOFOLLOW (a symlinked parent is refused: it could redirect a
root-owned restore anywhere); an existing target is refused unless forced. The file is written under a
temporary name next to the target, given its owner, mode and times, fsynced, and only then linked in
(`link` fails on an existing name; `rename` replaces it when forced). The row is marked `restoring` first,
so a crash is finished or undone by the next `Vault.open` (quarantine_recover.py).
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import TYPE_CHECKING

from vigil.actions import quarantine_fs as qfs
from vigil.actions.quarantine_crypto import BlobError, unseal
from vigil.actions.quarantine_fs import QuarantineError
from vigil.actions.quarantine_index import STORED, Entry

if TYPE_CHECKING:
    from vigil.actions.quarantine import Vault

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | qfs.O_CLOEXEC


def temp_name(entry_id: str) -> bytes:
    return b".vigil-restore-" + entry_id.encode("ascii")


def restore(vault: Vault, entry_id: str, *, force: bool, to: bytes | None) -> bytes:
    """Put the entry back; returns the path it was written to. The entry leaves the vault."""
    entry = vault.index.get(entry_id)
    if entry is None or entry.state != STORED:
        raise QuarantineError(f"{entry_id}: no stored quarantine entry")
    target = os.fsencode(os.path.abspath(to)) if to is not None else entry.path
    parent, name = qfs.split(target)
    dir_fd = qfs.open_dir_nofollow(parent)
    try:
        _check_target(dir_fd, name, target, force)
        vault.index.begin_restore(entry_id, target)
        qfs.step("restore-journal")
        try:
            _write_back(vault, entry, dir_fd, name, force)
        except (OSError, BlobError, QuarantineError):
            _discard_temp(dir_fd, entry_id)
            vault.index.set_state(entry_id, STORED)
            raise
        qfs.step("restore-linked")
    finally:
        os.close(dir_fd)
    vault.delete(entry_id)
    return target


def _check_target(dir_fd: int, name: bytes, target: bytes, force: bool) -> None:
    existing = qfs.lstat_at(dir_fd, name)
    if existing is None:
        return
    if not force:
        raise QuarantineError(f"{os.fsdecode(target)}: already exists (use --force to replace it)")
    if stat.S_ISDIR(existing.st_mode):
        raise QuarantineError(f"{os.fsdecode(target)}: is a directory; not replaced")


def _write_back(vault: Vault, entry: Entry, dir_fd: int, name: bytes, force: bool) -> None:
    tmp = temp_name(entry.id)
    _discard_temp(dir_fd, entry.id)
    fd = os.open(tmp, _CREATE, 0o600, dir_fd=dir_fd)
    try:
        blob = os.open(vault.blob_path(entry.id), os.O_RDONLY | os.O_NOFOLLOW | qfs.O_CLOEXEC)
        try:
            size, sha256 = unseal(vault.key, entry.id, blob, fd)
        finally:
            os.close(blob)
        if (size, sha256) != (entry.size, entry.sha256):
            raise QuarantineError(f"{entry.id}: blob does not match the recorded size and sha256")
        os.fchown(fd, entry.uid, entry.gid)
        os.fchmod(fd, entry.mode)  # after chown, which clears set-id bits
        os.utime(fd, ns=(entry.atime_ns, entry.mtime_ns))
        os.fsync(fd)
    finally:
        os.close(fd)
    qfs.step("restore-written")
    if force:
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    else:
        os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        os.unlink(tmp, dir_fd=dir_fd)
    os.fsync(dir_fd)


def _discard_temp(dir_fd: int, entry_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp_name(entry_id), dir_fd=dir_fd)
