"""Atomic activation of database versions: versioned directories and the rename of a `current` link.

    ROOT/versions/000007-vigil-42/   one complete database per activation, never modified once named
    ROOT/current -> versions/000007-vigil-42
    ROOT/history                     activated version ids, oldest first; the last one is current

A new version is built in a hidden staging directory (unchanged files hard-linked from the current one,
so a small update costs little disk), test-loaded, renamed into `versions/`, and only then made current
by renaming a fresh symlink over `current` (rename is atomic, so a reader sees the old or the new
database, never a mix). Rollback is the same link swap back to the previous history entry.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from vigil.errors import DatabaseError

STATE_FILE = "VIGIL-STATE.json"
_VERSIONS = "versions"
_CURRENT = "current"
_HISTORY = "history"
_STAGING_PREFIX = ".staging-"


def current_dir(root: str) -> str | None:
    link = os.path.join(root, _CURRENT)
    return os.path.realpath(link) if os.path.isdir(link) else None


@dataclass(slots=True)
class State:
    """What each source installed in a database directory: its version and its file names."""

    versions: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)

    def owner(self, name: str) -> str | None:
        return next((source for source, names in self.files.items() if name in names), None)


def read_state(directory: str | None) -> State:
    """The state of a database directory (empty for none); used for downgrade refusal and file ownership."""
    if directory is None:
        return State()
    try:
        with open(os.path.join(directory, STATE_FILE), encoding="utf-8") as fh:
            doc = json.load(fh)
        versions = {str(name): int(version) for name, version in doc["versions"].items()}
        files = {str(name): [str(f) for f in names] for name, names in doc["files"].items()}
    except FileNotFoundError:
        return State()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DatabaseError(f"{directory}: unreadable {STATE_FILE}: {exc}") from exc
    return State(versions, files)


def history(root: str) -> list[str]:
    try:
        with open(os.path.join(root, _HISTORY), encoding="utf-8") as fh:
            return [line.strip() for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def stage(root: str) -> str:
    """A fresh staging directory holding hard links to the current database's files."""
    versions = os.path.join(root, _VERSIONS)
    os.makedirs(versions, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=versions)
    current = current_dir(root)
    if current is not None:
        for name in os.listdir(current):
            _link_or_copy(os.path.join(current, name), os.path.join(staging, name))
    return staging


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_file(directory: str, name: str, data: bytes) -> None:
    """Replace one file in a staging directory (unlink first: it may be a hard link to a live version).
    Not synced here: `commit` makes the whole version durable before it becomes current."""
    path = os.path.join(directory, name)
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "wb") as fh:
        fh.write(data)


def remove_file(directory: str, name: str) -> None:
    path = os.path.join(directory, name)
    if os.path.lexists(path):
        os.unlink(path)


def write_state(directory: str, state: State) -> None:
    doc = {"versions": state.versions, "files": {k: sorted(v) for k, v in state.files.items()}}
    write_file(directory, STATE_FILE, (json.dumps(doc, sort_keys=True) + "\n").encode())


def discard(staging: str) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def commit(root: str, staging: str, label: str, test_load: Callable[[str], object], keep: int) -> str:
    """Test-load the new version, then make it current; if the load or making its files durable fails,
    it is discarded and nothing changes.

    The version is moved to its final directory *before* the test load (it is not current yet, so no
    scanner sees it): the compiled-database cache entry the test load writes is then keyed by the
    paths a reloading vigild will read through the `current` link, which maps it in a fraction of a
    second instead of compiling the database a second time, and signature origins name files that exist.
    """
    past = history(root)
    sequence = 1 + max((int(v.split("-", 1)[0]) for v in past if v.split("-", 1)[0].isdigit()), default=0)
    version_id = f"{sequence:06d}-{label}"
    final = os.path.join(root, _VERSIONS, version_id)
    os.rename(staging, final)
    # fsync waits on the disk with the GIL released: the files reach it while the test load runs
    with ThreadPoolExecutor(max_workers=1) as syncer:
        synced = syncer.submit(_fsync_files, final)
        try:
            test_load(final)
            synced.result()
        except BaseException:
            synced.exception()  # let it finish before removing the files
            discard(final)
            raise
    _fsync_dir(os.path.join(root, _VERSIONS))
    _point_current(root, version_id)
    _write_history(root, [*past, version_id])
    prune(root, keep)
    return final


def rollback(root: str) -> str:
    """Make the previous version current again and drop the one that was current."""
    past = history(root)
    if len(past) < 2:
        raise DatabaseError(f"{root}: no previous database version to roll back to")
    previous = past[-2]
    if not os.path.isdir(os.path.join(root, _VERSIONS, previous)):
        raise DatabaseError(f"{root}: previous version {previous} is gone")
    _point_current(root, previous)
    _write_history(root, past[:-1])
    shutil.rmtree(os.path.join(root, _VERSIONS, past[-1]), ignore_errors=True)
    return os.path.join(root, _VERSIONS, previous)


def prune(root: str, keep: int) -> None:
    """Keep the last `keep` versions (at least the current one); remove the rest and stale staging dirs."""
    past = history(root)
    kept = past[-max(keep, 1) :]
    if kept != past:
        _write_history(root, kept)
    versions = os.path.join(root, _VERSIONS)
    for name in os.listdir(versions):
        if name not in kept and not name.startswith(_STAGING_PREFIX):
            shutil.rmtree(os.path.join(versions, name), ignore_errors=True)


def _point_current(root: str, version_id: str) -> None:
    tmp = os.path.join(root, f".current-{os.getpid()}")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join(_VERSIONS, version_id), tmp)
    os.replace(tmp, os.path.join(root, _CURRENT))
    _fsync_dir(root)


def _write_history(root: str, versions: list[str]) -> None:
    tmp = os.path.join(root, f".history-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("".join(f"{v}\n" for v in versions))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, os.path.join(root, _HISTORY))


def _fsync_files(directory: str) -> None:
    for name in os.listdir(directory):
        fd = os.open(os.path.join(directory, name), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
