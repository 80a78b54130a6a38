"""clamd's path-scan walk (SCAN, CONTSCAN, MULTISCAN, ALLMATCHSCAN), run inside a worker process.

Paths stay bytes so the reply echoes the client's path exactly. Inside a directory clamd skips
symlinks (unless FollowFileSymlinks/FollowDirectorySymlinks), special files, excluded paths, other
filesystems and directories deeper than MaxDirectoryRecursion, without a line; Vigil does the same.
Two deliberate differences (docs/compat.md): a symlink given as the argument and not followed is an
ERROR, not `OK`; a special file given as the argument gets only its ERROR line, not a second `OK`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from vigil.daemon.protocol import error_line, found_line, ok_line
from vigil.scheduler import Scanner, scan_one
from vigil.sources import WalkPolicy
from vigil.types import ScanReport, ScanTarget, Verdict

SYMLINK_NOT_FOLLOWED = "Symbolic link not followed, not scanned."
NOT_SUPPORTED = "Not supported file type"


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: bytes
    top: bool = False  # the argument itself: its own result is the whole reply


@dataclass(frozen=True, slots=True)
class LineEntry:
    """A reply line decided without scanning; `final` marks the argument itself (no trailing OK)."""

    line: bytes
    final: bool = False


Entry = FileEntry | LineEntry


def _excluded(path: bytes, policy: WalkPolicy) -> bool:
    text = os.fsdecode(path)
    return any(re.search(pattern, text) for pattern in policy.exclude)


def _join(directory: bytes, name: bytes) -> bytes:
    return (directory.rstrip(b"/") or b"") + b"/" + name


def walk_argument(path: bytes, policy: WalkPolicy) -> Iterator[Entry]:
    """The argument itself: clamd's checks, then the files beneath it."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        yield LineEntry(error_line(path, f"File path check failure: {exc.strerror}."), final=True)
        return
    if stat.S_ISLNK(info.st_mode):
        followed = _followed(path, policy)
        if followed is None:
            yield LineEntry(error_line(path, SYMLINK_NOT_FOLLOWED), final=True)
            return
        info = followed
    if _excluded(path, policy):
        yield LineEntry(path + b": Excluded", final=True)
    elif stat.S_ISREG(info.st_mode):
        yield FileEntry(path, top=True)
    elif stat.S_ISDIR(info.st_mode):
        yield from _directory(path, policy, 1, info.st_dev)
    else:
        yield LineEntry(error_line(path, NOT_SUPPORTED), final=True)


def _followed(path: bytes, policy: WalkPolicy) -> os.stat_result | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    if stat.S_ISREG(info.st_mode) and policy.follow_file_symlinks:
        return info
    if stat.S_ISDIR(info.st_mode) and policy.follow_dir_symlinks:
        return info
    return None


def _directory(path: bytes, policy: WalkPolicy, depth: int, device: int) -> Iterator[Entry]:
    """clamd's order: the files of a directory first, then its subdirectories, each by inode number."""
    try:
        with os.scandir(path) as listing:
            entries = sorted(listing, key=lambda entry: entry.inode())
    except OSError:
        yield LineEntry(error_line(path, "Access denied."))
        return
    subdirs: list[bytes] = []
    for entry in entries:
        child = _join(path, entry.name)
        if _excluded(child, policy):
            continue
        kind = _kind(child, entry, policy)
        if kind == "file":
            yield FileEntry(child)
        elif kind == "dir" and depth < policy.max_dir_recursion and (
                policy.cross_fs or _device(child) == device):
            subdirs.append(child)
    for child in subdirs:
        yield from _directory(child, policy, depth + 1, device)


def _device(path: bytes) -> int:
    try:
        return os.stat(path).st_dev
    except OSError:
        return -1


def _kind(child: bytes, entry: os.DirEntry[bytes], policy: WalkPolicy) -> str:
    """"file", "dir" or "" (skipped: special files, links the policy does not follow, vanished)."""
    try:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            followed = _followed(child, policy)
            if followed is None:
                return ""
            info = followed
    except OSError:
        return ""
    if stat.S_ISREG(info.st_mode):
        return "file"
    return "dir" if stat.S_ISDIR(info.st_mode) else ""


def report_lines(path: bytes, report: ScanReport, *, allmatch: bool) -> list[bytes]:
    """A scanned file's reply: every detection with ALLMATCHSCAN, else the first; an error; or OK."""
    if report.verdict is Verdict.INFECTED:
        names = [d.name for d in report.detections] if allmatch else [report.name or ""]
        return [found_line(path, name) for name in names]
    if report.verdict is Verdict.ERROR:
        return [error_line(path, report.errors[0] if report.errors else "Can't scan")]
    return [ok_line(path)]


def scan_file(scanner: Scanner, path: bytes, *, allmatch: bool) -> list[bytes]:
    report = scan_one(scanner, ScanTarget(display=os.fsdecode(path), path=os.fsdecode(path)))
    return report_lines(path, report, allmatch=allmatch)


def run_path_scan(scanner: Scanner, path: bytes, policy: WalkPolicy, *, stop_at_first: bool,
                  allmatch: bool) -> list[bytes]:
    """SCAN/ALLMATCHSCAN stop at the first infected file, CONTSCAN goes on; a clean tree is one OK."""
    lines: list[bytes] = []
    infected = False
    for entry in walk_argument(path, policy):
        if isinstance(entry, LineEntry):
            lines.append(entry.line)
            if entry.final:
                return lines
            continue
        result = scan_file(scanner, entry.path, allmatch=allmatch)
        if entry.top:
            return result
        if result[0].endswith(b" FOUND"):
            lines.extend(result)
            infected = True
            if stop_at_first:
                return lines
        elif result[0].endswith(b" ERROR"):
            lines.extend(result)
    if not infected:
        lines.append(ok_line(dir_display(path)))
    return lines


def dir_display(path: bytes) -> bytes:
    """clamd names a clean directory without its trailing slashes."""
    return path.rstrip(b"/") or b"/"


def list_files(path: bytes, policy: WalkPolicy) -> list[Entry]:
    """MULTISCAN: the walk only; the daemon spreads the files over its workers."""
    return list(walk_argument(path, policy))
