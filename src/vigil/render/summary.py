"""clamscan's SCAN SUMMARY block, byte for byte.

Standard library only: the replay of an unchanged scan (`cli.replay`) prints it too, in a run that must
take a few tens of milliseconds.
"""

from __future__ import annotations

import time

_MB = 1024 * 1024
BLOCK = 4096  # clamscan counts "Data scanned" and "Data read" in blocks of this size


class SummaryCounts:
    """The block's counters, filled while a run goes. A plain class: importing dataclasses would cost
    the replay a fifth of its time."""

    __slots__ = ("dirs", "end", "engine_version", "errors", "files", "infected", "known_viruses",
                 "read_blocks", "scanned_blocks", "start")

    def __init__(self, known_viruses: int = 0, engine_version: str = "", dirs: int = 0, files: int = 0,
                 infected: int = 0, errors: int = 0, scanned_blocks: int = 0, read_blocks: int = 0) -> None:
        self.known_viruses = known_viruses
        self.engine_version = engine_version
        self.dirs = dirs
        self.files = files
        self.infected = infected
        self.errors = errors
        self.scanned_blocks = scanned_blocks
        self.read_blocks = read_blocks
        self.start = 0.0
        self.end = 0.0


def _date(stamp: float) -> str:
    return time.strftime("%Y:%m:%d %H:%M:%S", time.localtime(stamp))


def _elapsed(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    whole, frac = divmod(millis, 1000)
    return f"{whole}.{frac:03d} sec ({whole // 60} m {whole % 60} s)"


def summary_lines(counts: SummaryCounts) -> list[str]:
    """`Total errors` appears only when there were errors, as in clamscan."""
    scanned_mb = counts.scanned_blocks * BLOCK / _MB
    read_mb = counts.read_blocks * BLOCK / _MB
    ratio = scanned_mb / read_mb if read_mb else 0.0
    lines = [
        "",
        "----------- SCAN SUMMARY -----------",
        f"Known viruses: {counts.known_viruses}",
        f"Engine version: {counts.engine_version}",
        f"Scanned directories: {counts.dirs}",
        f"Scanned files: {counts.files}",
        f"Infected files: {counts.infected}",
    ]
    if counts.errors:
        lines.append(f"Total errors: {counts.errors}")
    lines += [
        f"Data scanned: {scanned_mb:.2f} MB",
        f"Data read: {read_mb:.2f} MB (ratio {ratio:.2f}:1)",
        f"Time: {_elapsed(counts.end - counts.start)}",
        f"Start Date: {_date(counts.start)}",
        f"End Date:   {_date(counts.end)}",
    ]
    return lines
