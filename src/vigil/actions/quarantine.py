"""The quarantine vault: infected files moved out of reach, encrypted, indexed, and recoverable.

Layout of a vault directory (mode 0700, owned by the running user):
    key          32-byte AES-256 key, mode 0600 (quarantine_crypto.py)
    index.db     SQLite index and journal (quarantine_index.py)
    blobs/<id>   one sealed blob per entry

Quarantining never loses a file; the order of steps is what guarantees it:
    open the parent directories and the file with O_NOFOLLOW, fstat (the identity: device, inode)
    → seal the bytes into a new blob, fsync blob and blobs/ → index row `pending` (committed)
    → check the path still names the same regular file → unlink → fsync the directory → row `stored`.
A crash leaves a `pending` row; the next `Vault.open` finishes it (original gone: the blob is the file)
or rolls it back (original still there with the recorded bytes: the blob is dropped). A blob without a
row was never acknowledged and the original was never touched, so it is deleted.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from dataclasses import dataclass

import vigil
from vigil.actions import quarantine_fs as qfs
from vigil.actions.quarantine_crypto import KEY_BYTES, new_key, seal
from vigil.actions.quarantine_fs import QuarantineError
from vigil.actions.quarantine_index import PENDING, STORED, Entry, Index

__all__ = ["Entry", "QuarantineError", "Vault", "default_vault_dir"]

DEFAULT_VAULT = "/var/lib/vigil/quarantine"
_OPEN_SOURCE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | qfs.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | qfs.O_CLOEXEC


def default_vault_dir() -> str:
    return os.environ.get("VIGIL_QUARANTINE_DIR") or DEFAULT_VAULT


@dataclass(frozen=True, slots=True)
class _Source:
    dir_fd: int
    name: bytes
    fd: int
    info: os.stat_result
    path: bytes


def _prepare_dir(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise QuarantineError(f"{path}: not a directory owned by uid {os.geteuid()}; refusing to use it")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _load_key(root: str) -> bytes:
    """Read the vault key, creating it atomically (tmp + link) the first time."""
    path = os.path.join(root, "key")
    if not os.path.exists(path):
        tmp = os.path.join(root, f".key-{uuid.uuid4().hex}")
        fd = os.open(tmp, _CREATE, 0o600)
        try:
            os.write(fd, new_key())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first; use theirs
        finally:
            os.unlink(tmp)
        qfs.fsync_path_dir(root)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | qfs.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
            raise QuarantineError(f"{path}: key file must be owned by uid {os.geteuid()} with mode 0600")
        key = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(key) != KEY_BYTES:
        raise QuarantineError(f"{path}: key file is damaged")
    return key


class Vault:
    """One quarantine directory. Open with `Vault.open(path)`, which also repairs interrupted operations."""

    def __init__(self, root: str, key: bytes, index: Index) -> None:
        self.root = root
        self.blobs = os.path.join(root, "blobs")
        self.key = key
        self.index = index
        self.notes: list[str] = []  # what recovery repaired when the vault was opened

    @classmethod
    def open(cls, root: str | None = None, *, recover: bool = True) -> Vault:
        root = os.path.realpath(root or default_vault_dir())
        _prepare_dir(root)
        _prepare_dir(os.path.join(root, "blobs"))
        vault = cls(root, _load_key(root), Index(os.path.join(root, "index.db")))
        os.chmod(os.path.join(root, "index.db"), 0o600)
        if recover:
            from vigil.actions.quarantine_recover import recover as run_recovery

            vault.notes = run_recovery(vault)
        return vault

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def blob_path(self, entry_id: str) -> str:
        return os.path.join(self.blobs, entry_id)

    # --- quarantine --------------------------------------------------------------------------------
    def quarantine(self, path: str | bytes, detection: str, *, expected: tuple[int, int] | None = None,
                   db_version: str = "") -> Entry:
        """Move `path` into the vault. `expected` is the (device, inode) that was scanned, if known:
        a path that no longer names that file (swapped, replaced, now a symlink) is refused."""
        source = _open_source(os.fsencode(path))
        try:
            if expected is not None and qfs.identity(source.info) != expected:
                shown = os.fsdecode(source.path)
                raise QuarantineError(f"{shown}: not the file that was scanned; left in place")
            return self._move(source, detection, db_version)
        finally:
            os.close(source.fd)
            os.close(source.dir_fd)

    def _move(self, source: _Source, detection: str, db_version: str) -> Entry:
        qfs.step("opened")
        entry_id = uuid.uuid4().hex
        size, sha256 = self._write_blob(entry_id, source.fd)
        qfs.step("blob")
        after = os.fstat(source.fd)
        if (after.st_size, after.st_mtime_ns) != (source.info.st_size, source.info.st_mtime_ns) \
                or size != after.st_size:
            self._drop_blob(entry_id)
            shown = os.fsdecode(source.path)
            raise QuarantineError(f"{shown}: modified while being quarantined; left in place")
        info = source.info
        entry = Entry(entry_id, PENDING, source.path, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid,
                      info.st_mtime_ns, info.st_atime_ns, size, sha256, detection, db_version,
                      vigil.__version__, time.time(), info.st_dev, info.st_ino)
        self.index.add(entry)
        qfs.step("journal")
        if not qfs.same_regular_file(source.dir_fd, source.name, qfs.identity(info)):
            self.index.remove(entry_id)
            self._drop_blob(entry_id)
            raise QuarantineError(f"{os.fsdecode(source.path)}: path changed during the move; left in place")
        try:
            os.unlink(source.name, dir_fd=source.dir_fd)
        except OSError as exc:
            self.index.remove(entry_id)
            self._drop_blob(entry_id)
            raise QuarantineError(f"{os.fsdecode(source.path)}: cannot unlink ({exc.strerror})") from exc
        qfs.step("unlinked")
        os.fsync(source.dir_fd)
        qfs.step("dir-synced")
        self.index.set_state(entry_id, STORED)
        qfs.step("stored")
        return self.index.get(entry_id) or entry

    def _write_blob(self, entry_id: str, source: int) -> tuple[int, str]:
        dest = os.open(self.blob_path(entry_id), _CREATE, 0o600)
        try:
            result = seal(self.key, entry_id, source, dest)
            os.fsync(dest)
        finally:
            os.close(dest)
        qfs.fsync_path_dir(self.blobs)
        return result

    def _drop_blob(self, entry_id: str) -> None:
        try:
            os.unlink(self.blob_path(entry_id))
        except FileNotFoundError:
            return
        qfs.fsync_path_dir(self.blobs)

    # --- the rest of the life cycle ----------------------------------------------------------------
    def entries(self) -> list[Entry]:
        return list(self.index.entries())

    def lookup(self, prefix: str) -> Entry:
        """The entry whose id is or starts with `prefix` (ids are long; a unique prefix is enough)."""
        found = self.index.find(prefix) if prefix else []
        if len(found) != 1:
            raise QuarantineError(f"{prefix}: {'no' if not found else 'more than one'} quarantine entry")
        return found[0]

    def delete(self, entry_id: str) -> None:
        """Forget an entry for good. The row goes first: a crash then leaves only an orphan blob,
        which the next open deletes."""
        self.index.remove(entry_id)
        self._drop_blob(entry_id)

    def purge(self, older_than: float | None = None) -> int:
        """Delete stored entries quarantined more than `older_than` seconds ago (None: all)."""
        limit = time.time() - older_than if older_than is not None else float("inf")
        doomed = [e.id for e in self.index.entries(STORED) if e.quarantined_at <= limit]
        for entry_id in doomed:
            self.delete(entry_id)
        return len(doomed)

    def restore(self, entry_id: str, *, force: bool = False, to: str | bytes | None = None) -> bytes:
        from vigil.actions.quarantine_restore import restore

        return restore(self, entry_id, force=force, to=None if to is None else os.fsencode(to))


def _open_source(path: bytes) -> _Source:
    """Resolve the parent directories once (the user may name them through symlinks), never the file
    itself: a final component that is a symlink is refused by O_NOFOLLOW, not followed elsewhere."""
    parent, name = qfs.split(os.path.abspath(path))
    parent = os.fsencode(os.path.realpath(parent))
    real = parent.rstrip(b"/") + b"/" + name
    dir_fd = qfs.open_dir_nofollow(parent)
    try:
        fd = os.open(name, _OPEN_SOURCE, dir_fd=dir_fd)
    except OSError as exc:
        os.close(dir_fd)
        raise QuarantineError(f"{os.fsdecode(real)}: cannot open ({exc.strerror}); left in place") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        os.close(dir_fd)
        raise QuarantineError(f"{os.fsdecode(real)}: not a regular file; left in place")
    return _Source(dir_fd, name, fd, info, real)
