"""Per-scan state: the layer being scanned and the budgets every unpacker charges before it works.

A `ScanContext` lives for one target. Unpackers call `charge_*` *before* inflating anything, so a bomb is
stopped by arithmetic, not by running out of memory. A charge that does not fit raises LimitExceeded,
which the engine records as `Heuristics.Limits.Exceeded.<Limit>` (or silently, with
alert-exceeds-max off, as clamscan does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from vigil.errors import LimitExceeded
from vigil.types import FileType, ScanLimits

#: Anything that supports the buffer protocol and slicing: bytes for members, mmap for large files.
ByteView = bytes | memoryview


@dataclass(frozen=True, slots=True)
class Layer:
    """One scanned object: the root file or something an unpacker produced from its parent."""

    data: ByteView
    name: str
    file_type: FileType
    depth: int
    parent: Layer | None = None
    source_path: str | None = None  # the file a mapped root layer came from (for scanners that map it)

    @property
    def path(self) -> str:
        """Printable layer path, root first: `mail.eml>invoice.zip>doc.docm>word/vbaProject.bin`."""
        names: list[str] = []
        layer: Layer | None = self
        while layer is not None:
            names.append(layer.name)
            layer = layer.parent
        return ">".join(reversed(names))

    @property
    def ancestry(self) -> tuple[FileType, ...]:
        """Types of the enclosing layers, outermost first, ending with the immediate parent."""
        types: list[FileType] = []
        layer = self.parent
        while layer is not None:
            types.append(layer.file_type)
            layer = layer.parent
        return tuple(reversed(types))


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """What a container's own directory says about a member, for `.cdb` signatures.

    Each format fills in what clamscan gives its metadata check, as observed per format (`unpack/zip.py`,
    `tar.py`, `libarchive_formats.py`); None means the format cannot tell, and a `.cdb` field that
    constrains it does not match.
    """

    packed_size: int | None  # size inside the container (compressed)
    real_size: int | None
    encrypted: bool
    position: int | None  # 1-based; 0 for formats where clamscan passes none


@dataclass(frozen=True, slots=True)
class Child:
    """What an unpacker yields: a member's bytes and the name it had inside its container.

    A member that cannot be read (encrypted, a directory entry, an unsupported method) is still yielded
    with `listed_only` when its container's metadata should be checked: `.cdb` signatures name
    encrypted members precisely because nobody can scan their bytes.
    """

    name: str
    data: ByteView
    type_hint: FileType | None = None  # set when the container knows better than magic (e.g. gz -> tar)
    info: MemberInfo | None = None
    listed_only: bool = False


@dataclass(slots=True)
class ScanContext:
    """Budgets and findings for one target; not shared between threads or processes."""

    limits: ScanLimits
    started: float = field(default_factory=time.monotonic)
    files: int = 0
    scanned_bytes: int = 0
    limits_hit: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    @property
    def deadline(self) -> float | None:
        ms = self.limits.max_scantime_ms
        return self.started + ms / 1000.0 if ms > 0 else None

    def check_time(self) -> None:
        deadline = self.deadline
        if deadline is not None and time.monotonic() > deadline:
            raise LimitExceeded("MaxScanTime", f"{self.limits.max_scantime_ms} ms")

    def check_depth(self, depth: int) -> None:
        if self.limits.max_recursion > 0 and depth > self.limits.max_recursion:
            raise LimitExceeded("MaxRecursion", f"depth {depth}")

    def charge_file(self) -> None:
        """Count one more embedded file; called before the member is read."""
        if self.limits.max_files > 0 and self.files >= self.limits.max_files:
            raise LimitExceeded("MaxFiles", f"{self.limits.max_files} files")
        self.files += 1

    def charge_bytes(self, size: int) -> None:
        """Charge `size` bytes of member data before producing them."""
        self.check_time()
        max_file = self.limits.max_filesize
        if max_file > 0 and size > max_file:
            raise LimitExceeded("MaxFileSize", f"{size} bytes")
        max_scan = self.limits.max_scansize
        if max_scan > 0 and self.scanned_bytes + size > max_scan:
            raise LimitExceeded("MaxScanSize", f"{self.scanned_bytes + size} bytes")
        self.scanned_bytes += size

    def remaining_bytes(self) -> int:
        """How many more bytes may be produced (for decoders that stream and stop at the budget)."""
        budget = [self.limits.max_scansize - self.scanned_bytes] if self.limits.max_scansize > 0 else []
        if self.limits.max_filesize > 0:
            budget.append(self.limits.max_filesize)
        return max(0, min(budget)) if budget else 1 << 62

    def note_limit(self, limit: str) -> None:
        if limit not in self.limits_hit:
            self.limits_hit.append(limit)

    def note_issue(self, message: str) -> None:
        self.issues.append(message)

    def note_alert(self, name: str) -> None:
        """A heuristic finding such as `Heuristics.Zip.OverlappingFiles` or `Heuristics.Encrypted.Zip`;
        the engine decides from the settings whether it is reported."""
        if name not in self.alerts:
            self.alerts.append(name)
