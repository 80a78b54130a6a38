"""Turn command-line paths into an ordered stream of scan work and notices, the way clamscan walks.

clamscan is sequential, so its output order is the walk order (readdir order, files and subdirectories
interleaved). The walk therefore yields one ordered stream mixing `FileItem` (to scan) with `Notice`
(a result line decided without scanning: Excluded, Symbolic link, Empty file, Access denied) and
`Problem` (a warning on stderr). The scheduler scans the FileItems and the renderer prints everything
in stream order, whatever the degree of parallelism.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from vigil.freshness import WalkTrace
from vigil.types import ScanTarget

BLOCK = 4096  # clamscan counts "Data read" in blocks of this size (CL_COUNT_PRECISION)


@dataclass(frozen=True, slots=True)
class FileItem:
    """A regular file (or stdin's bytes) to hand to the engine."""

    target: ScanTarget
    size: int


@dataclass(frozen=True, slots=True)
class Notice:
    """A `path: status` line that needs no scan. `error` marks the ones clamscan counts as errors."""

    path: str
    status: str
    error: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """A warning for stderr; `perror` is the bare `path: strerror` line clamscan prints first."""

    message: str
    perror: str | None = None
    path: str | None = None  # the command-line path it concerns, for the JSON output


WalkItem = FileItem | Notice | Problem
#: a directory's entries not walked yet, and its depth
_Listing = tuple[Iterator[os.DirEntry[str]], int]


@dataclass(frozen=True, slots=True)
class WalkPolicy:
    """The walk options of clamscan, with its defaults."""

    recursive: bool = False
    exclude: tuple[str, ...] = ()
    exclude_dir: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    include_dir: tuple[str, ...] = ()
    max_dir_recursion: int = 15
    follow_dir_symlinks: int = 1  # 0 never, 1 only on the command line, 2 always
    follow_file_symlinks: int = 1
    cross_fs: bool = True


@dataclass(slots=True)
class WalkStats:
    """Counters the summary needs; filled while the stream is consumed."""

    dirs: int = 0
    read_blocks: int = 0
    errors: int = 0
    failed_args: int = 0  # command-line paths clamscan rejects (exit code 2, not counted as errors)
    warnings: list[str] = field(default_factory=list)


def match_regex(path: str, pattern: str) -> bool:
    """clamscan's rule: a pattern ending in `/` is matched against the path plus a trailing `/`."""
    subject = path + "/" if pattern.endswith("/") else path
    return re.search(pattern, subject) is not None


def _matches_any(path: str, patterns: Sequence[str]) -> bool:
    return any(match_regex(path, pattern) for pattern in patterns)


def _strip_trailing_slashes(path: str) -> str:
    stripped = path.rstrip("/")
    return stripped or "/"


class Walker:
    """Walks paths in clamscan's order and applies its exclusion and symlink rules."""

    def __init__(self, policy: WalkPolicy, stats: WalkStats, stdin: BinaryIO | None = None,
                 trace: WalkTrace | None = None) -> None:
        self.policy = policy
        self.stats = stats
        self.stdin = stdin
        self.trace = trace
        self._check_access = hasattr(os, "geteuid") and os.geteuid() != 0

    def walk(self, paths: Sequence[str]) -> Iterator[WalkItem]:
        for raw in paths:
            if raw == "-":
                yield self._stdin_item()
            else:
                yield from self._argument(_strip_trailing_slashes(raw))

    def _stdin_item(self) -> FileItem:
        if self.trace is not None:
            self.trace.discard()  # what stdin holds next time is anyone's guess
        source = self.stdin if self.stdin is not None else sys.stdin.buffer
        data = source.read()
        self.stats.read_blocks += len(data) // BLOCK
        return FileItem(ScanTarget(display="stdin", data=data), len(data))

    def _argument(self, path: str) -> Iterator[WalkItem]:
        try:
            info = os.lstat(path)
        except OSError as exc:
            self._missed()
            self.stats.failed_args += 1
            yield Problem(f"{path}: Can't access file", perror=f"{path}: {exc.strerror}", path=path)
            return
        self._saw(path, info, followed=False)
        if stat.S_ISLNK(info.st_mode):
            yield from self._argument_link(path)
        elif stat.S_ISREG(info.st_mode):
            yield self._file_item(path, info)
        elif stat.S_ISDIR(info.st_mode):
            yield from self._directory(path, 1, info.st_dev)
        else:
            self.stats.failed_args += 1
            yield Problem(f"{path}: Not supported file type", path=path)

    def _argument_link(self, path: str) -> Iterator[WalkItem]:
        policy = self.policy
        if policy.follow_dir_symlinks == 0 and policy.follow_file_symlinks == 0:
            yield Notice(path, "Symbolic link")
            return
        try:
            info = os.stat(path)
        except OSError:
            self._missed()
            return  # clamscan stays silent on a dangling link given on the command line
        self._saw(path, info, followed=True)
        if stat.S_ISREG(info.st_mode) and policy.follow_file_symlinks:
            yield self._file_item(path, info)
        elif stat.S_ISDIR(info.st_mode) and policy.follow_dir_symlinks:
            yield from self._directory(path, 1, info.st_dev)
        else:
            yield Notice(path, "Symbolic link")

    def _file_item(self, path: str, info: os.stat_result) -> WalkItem:
        """One item per regular file; a plain function, since a rescan walks thousands per second."""
        policy = self.policy
        if (policy.exclude and _matches_any(path, policy.exclude)) or (
            policy.include and not _matches_any(path, policy.include)
        ):
            return Notice(path, "Excluded")
        if info.st_size == 0:
            return Notice(path, "Empty file")
        self.stats.read_blocks += info.st_size // BLOCK
        if self._check_access and not os.access(path, os.R_OK):
            self.stats.errors += 1
            return Notice(path, "Access denied", error=True)
        return FileItem(ScanTarget(display=path, path=path, seen=info), info.st_size)

    def _directory(self, path: str, depth: int, dev: int) -> Iterator[WalkItem]:
        """Depth first in readdir order, as clamscan walks. Iterative, with a stack of open listings:
        nested generators would cost every file one resume per directory level above it."""
        policy = self.policy
        same_fs_only = not policy.cross_fs
        trace = self.trace
        stack: list[_Listing] = []
        yield from self._enter(path, depth, stack)
        while stack:
            entries, depth = stack[-1]
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)  # lstat, as clamscan's walk does
                except OSError:
                    self._missed()
                    continue
                if trace is not None:
                    trace.saw(entry.path, info, False)
                if same_fs_only and info.st_dev != dev:
                    yield Notice(entry.path, "Excluded")
                elif stat.S_ISREG(info.st_mode):
                    yield self._file_item(entry.path, info)
                elif stat.S_ISDIR(info.st_mode):
                    if policy.recursive:
                        yield from self._enter(entry.path, depth + 1, stack)
                        break  # continue inside it; this listing resumes where it stopped
                elif stat.S_ISLNK(info.st_mode):
                    yield from self._entry_link(entry.path, depth + 1, dev)
            else:
                stack.pop()

    def _enter(self, path: str, depth: int, stack: list[_Listing]) -> Iterator[WalkItem]:
        """Push a directory's listing (read whole) unless it is excluded, too deep or unreadable."""
        policy = self.policy
        if _matches_any(path, policy.exclude_dir) or (
            policy.include_dir and not _matches_any(path, policy.include_dir)
        ):
            yield Notice(path, "Excluded")
            return
        if depth > policy.max_dir_recursion:
            return
        try:
            entries = list(os.scandir(path))
        except OSError as exc:
            self._missed()
            self.stats.errors += 1
            yield Problem(f"Can't open directory {path}: {exc.strerror}")
            return
        self.stats.dirs += 1
        stack.append((iter(entries), depth))

    def _saw(self, path: str, info: os.stat_result, *, followed: bool) -> None:
        if self.trace is not None:
            self.trace.saw(path, info, followed)

    def _missed(self) -> None:
        if self.trace is not None:
            self.trace.discard()

    def _entry_link(self, path: str, depth: int, dev: int) -> Iterator[WalkItem]:
        policy = self.policy
        if policy.follow_dir_symlinks != 2 and policy.follow_file_symlinks != 2:
            yield Notice(path, "Symbolic link")
            return
        try:
            info = os.stat(path)
        except OSError:
            self._missed()
            return
        self._saw(path, info, followed=True)
        if stat.S_ISREG(info.st_mode) and policy.follow_file_symlinks == 2:
            yield self._file_item(path, info)
        elif stat.S_ISDIR(info.st_mode) and policy.follow_dir_symlinks == 2:
            if policy.recursive:
                yield from self._directory(path, depth, dev)
        else:
            yield Notice(path, "Symbolic link")


def read_file_list(list_path: str) -> list[str]:
    """`-f FILE`: one path per line; blank lines are skipped as clamscan does."""
    with open(list_path, encoding="utf-8", errors="surrogateescape") as handle:
        return [line.rstrip("\r\n") for line in handle if line.strip()]
