"""What on-access protection watches, what it leaves alone, and what it does on a detection."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

MARK_KINDS = ("dir", "mount", "filesystem")


@dataclass(frozen=True, slots=True)
class WatchConfig:
    paths: tuple[str, ...]
    mark: str = "dir"  # dir: inode marks on every directory below `paths`; mount / filesystem: one mark
    block: bool = True  # permission events: deny opening and executing infected files
    notify: bool = False  # FAN_CLOSE_WRITE: scan files after they are written
    exclude_paths: tuple[str, ...] = ()
    exclude_uids: frozenset[int] = frozenset()
    exclude_pids: frozenset[int] = frozenset()
    exclude_names: frozenset[str] = frozenset()  # process names (comm or executable basename)
    exclude_pgids: frozenset[int] = frozenset()  # process groups (vigild: the daemon and all its workers)
    max_file_size: int = 0  # larger files are allowed without a scan (clamd's OnAccessMaxFileSize); 0: any
    recursive: bool = True  # dir marks: False marks only the given directories (clamd's OnAccessDisableDDD)
    budget: float = 5.0  # seconds an opener may be held while its file is scanned
    fallback_deny: bool = False  # when the budget runs out or the scan fails: allow (default) or deny
    action: str = "report"  # report | quarantine
    vault: str | None = None
    cache_size: int = 65536
    rescan_interval: float = 2.0  # dir marks: how often new subdirectories are looked for
    verbose: bool = False
    database: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.mark not in MARK_KINDS:
            raise ValueError(f"mark must be one of {', '.join(MARK_KINDS)}")
        if not (self.block or self.notify):
            raise ValueError("nothing to do: neither blocking nor notify mode")


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


@dataclass(frozen=True, slots=True)
class PathFilter:
    """Include and exclude by path prefix (whole components). Roots are resolved once at start."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]

    @classmethod
    def build(cls, include: tuple[str, ...], exclude: tuple[str, ...]) -> PathFilter:
        return cls(tuple(os.path.realpath(p) for p in include), tuple(os.path.realpath(p) for p in exclude))

    def wanted(self, path: str) -> bool:
        return _under(path, self.include) and not _under(path, self.exclude)


def process_uid(pid: int) -> int | None:
    """Effective uid of `pid` (the one access checks use), or None if it is already gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Uid:"):
                    return int(line.split()[2])
    except OSError:
        return None
    return None


def process_names(pid: int) -> set[str]:
    names: set[str] = set()
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as comm:
            names.add(comm.read().strip())
        names.add(os.path.basename(os.readlink(f"/proc/{pid}/exe")))
    except OSError:
        pass
    return names


def process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@dataclass(frozen=True, slots=True)
class ProcessFilter:
    """Exclusions by the accessing process: pid, process group, name, uid (/proc read only if configured).

    A process group covers processes that come and go (vigild's workers are replaced and reloaded): one
    getpgid() per event, and no process outside the group's session can join it."""

    pids: frozenset[int]
    names: frozenset[str]
    uids: frozenset[int]
    pgids: frozenset[int] = frozenset()

    def excluded(self, pid: int) -> bool:
        if pid in self.pids:
            return True
        if self.pgids and process_group(pid) in self.pgids:
            return True
        if self.names and process_names(pid) & self.names:
            return True
        return bool(self.uids) and process_uid(pid) in self.uids
