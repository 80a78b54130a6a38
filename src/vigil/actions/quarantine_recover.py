"""Finish or undo what a crash interrupted, when a vault is opened.

* `pending` (quarantine interrupted): if the original path still holds the same inode with the recorded
  sha256, nothing was lost yet and the blob is dropped (rolled back); otherwise the original is gone and
  the blob, fsynced before the row was written, is the file: the row becomes `stored` (completed).
  Comparing content as well as the inode guards against an inode number reused by a new file.
* `restoring` (restore interrupted): if the target holds the recorded bytes the restore completed and the
  entry leaves the vault; otherwise the temporary file is removed and the entry stays `stored`.
* A blob with no row was never acknowledged (the original was not touched): it is deleted.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import TYPE_CHECKING

from vigil.actions import quarantine_fs as qfs
from vigil.actions.quarantine_fs import QuarantineError
from vigil.actions.quarantine_index import PENDING, RESTORING, STORED, Entry
from vigil.actions.quarantine_restore import temp_name

if TYPE_CHECKING:
    from vigil.actions.quarantine import Vault


def recover(vault: Vault) -> list[str]:
    """Repair the vault; returns one line per repaired operation (for the log)."""
    notes = [_finish_pending(vault, entry) for entry in vault.index.entries(PENDING)]
    notes += [_finish_restore(vault, entry) for entry in vault.index.entries(RESTORING)]
    known = {entry.id for entry in vault.index.entries()}
    for name in os.listdir(vault.blobs):
        if name not in known:
            os.unlink(os.path.join(vault.blobs, name))
            notes.append(f"quarantine: removed unacknowledged blob {name}")
    return notes


def _sha256_at(dir_fd: int, name: bytes) -> str | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | qfs.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    digest = hashlib.sha256()
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _holds(path: bytes, sha256: str, ident: tuple[int, int] | None) -> bool:
    """Does `path` (parents not followed through symlinks) hold a regular file with these bytes?"""
    try:
        parent, name = qfs.split(path)
        dir_fd = qfs.open_dir_nofollow(parent)
    except QuarantineError:
        return False
    try:
        if ident is not None and not qfs.same_regular_file(dir_fd, name, ident):
            return False
        return _sha256_at(dir_fd, name) == sha256
    finally:
        os.close(dir_fd)


def _finish_pending(vault: Vault, entry: Entry) -> str:
    shown = os.fsdecode(entry.path)
    has_blob = os.path.exists(vault.blob_path(entry.id))
    if not has_blob or _holds(entry.path, entry.sha256, (entry.dev, entry.ino)):
        vault.delete(entry.id)
        return f"quarantine: rolled back interrupted move of {shown} (still in place)"
    vault.index.set_state(entry.id, STORED)
    return f"quarantine: completed interrupted move of {shown} as {entry.id}"


def _finish_restore(vault: Vault, entry: Entry) -> str:
    target = entry.restore_to or entry.path
    shown = os.fsdecode(target)
    done = _holds(target, entry.sha256, None)
    try:
        parent, _name = qfs.split(target)
        dir_fd = qfs.open_dir_nofollow(parent)
    except QuarantineError:
        dir_fd = -1
    if dir_fd >= 0:
        try:
            os.unlink(temp_name(entry.id), dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(dir_fd)
    if done:
        vault.delete(entry.id)
        return f"quarantine: completed interrupted restore of {entry.id} to {shown}"
    vault.index.set_state(entry.id, STORED)
    return f"quarantine: undid interrupted restore of {entry.id} to {shown}"
