"""Compound File Binary (OLE2) reader: header, DIFAT, FAT, miniFAT and directory tree, all bounded.

Hostile CFB files carry cyclic FAT chains, DIFAT loops, directory trees that point back at themselves
and sizes far beyond the file (CVE-2024-20290 was an over-read in exactly this code in ClamAV). Every
chain walk here keeps a visited set and stops at the number of sectors the file can hold, and a
stream's length is the smaller of its declared size and what its chain can actually supply, so output
is never larger than the input. Damage is collected in `CompoundFile.problems` so the unpacker can
yield what was readable first and report afterwards.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from vigil.errors import MalformedInput
from vigil.layer import ByteView

MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER = struct.Struct("<8s16xHHHHH6xIIIIIIIII")
_DIRENT = struct.Struct("<64sHBBIII36xIQ")
_SPECIAL = 0xFFFFFFFA  # MAXREGSECT + 1: anything at or above is a marker, not a sector
_STREAM, _STORAGE, _ROOT = 2, 1, 5
#: Storage nesting deeper than this is not something Office writes; stop instead of recursing.
MAX_TREE_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry, with the storage path that leads to it."""

    sid: int
    name: str
    kind: int
    start: int
    size: int
    path: tuple[str, ...]

    @property
    def is_stream(self) -> bool:
        return self.kind == _STREAM


@dataclass(slots=True)
class _Raw:
    name: str
    kind: int
    left: int
    right: int
    child: int
    start: int
    size: int


def _u32_array(raw: bytes) -> array[int]:
    table = array("I")
    table.frombytes(raw[: len(raw) - len(raw) % 4])
    return table


@dataclass(slots=True)
class CompoundFile:
    """A parsed CFB container over the caller's bytes; streams are read on demand."""

    data: ByteView
    sector_size: int = 512
    mini_size: int = 64
    mini_cutoff: int = 4096
    fat: array[int] = field(default_factory=lambda: array("I"))
    minifat: array[int] = field(default_factory=lambda: array("I"))
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _mini_stream: bytes = b""

    @classmethod
    def parse(cls, data: ByteView) -> CompoundFile:
        head = bytes(data[: _HEADER.size])
        if len(head) < _HEADER.size or head[:8] != MAGIC:
            raise MalformedInput("not an OLE2 compound file")
        (_, _minor, _major, order, sshift, mshift, _ndir, nfat, dir_start, _tx, cutoff, minifat_start,
         nminifat, difat_start, ndifat) = _HEADER.unpack(head)
        if order != 0xFFFE or not 7 <= sshift <= 16 or not 2 <= mshift < sshift:
            raise MalformedInput(f"OLE2 header: byte order {order:#x}, sector shift {sshift}/{mshift}")
        cf = cls(data, 1 << sshift, 1 << mshift, cutoff)
        cf.fat = cf._build_fat(bytes(data[76:512]), difat_start, ndifat, nfat)
        minifat = cf.chain_bytes(minifat_start, nminifat * cf.sector_size, "miniFAT", exact=False)
        cf.minifat = _u32_array(minifat)
        cf._read_directory(dir_start)
        return cf

    @property
    def sector_count(self) -> int:
        return max(0, (len(self.data) - self.sector_size) // self.sector_size + 1)

    def _sector(self, sid: int) -> bytes:
        start = (sid + 1) * self.sector_size
        return bytes(self.data[start : start + self.sector_size])

    def _build_fat(self, header_difat: bytes, difat_start: int, ndifat: int, nfat: int) -> array[int]:
        """FAT sector ids from the header's 109 slots, then the DIFAT chain (a loop ends the walk)."""
        ids = list(_u32_array(header_difat))
        per = self.sector_size // 4 - 1
        seen: set[int] = set()
        sid = difat_start
        while sid < _SPECIAL and len(seen) < min(ndifat, self.sector_count) + 1:
            if sid in seen or sid >= self.sector_count:
                self.problems.append(f"DIFAT chain broken at sector {sid}")
                break
            seen.add(sid)
            table = _u32_array(self._sector(sid))
            ids.extend(table[:per])
            sid = table[per] if len(table) > per else _SPECIAL
        wanted = [s for s in ids if s < _SPECIAL][: max(nfat, 0) or len(ids)]
        fat = array("I")
        for sid in dict.fromkeys(wanted):  # a sector listed twice is one FAT sector, not two
            if sid >= self.sector_count:
                self.problems.append(f"FAT sector {sid} beyond end of file")
                continue
            fat.extend(_u32_array(self._sector(sid)))
        return fat

    def _chain(self, start: int, table: array[int], limit: int, what: str) -> Iterator[int]:
        """Sector ids of a chain, stopping at its end, a repeat (cycle), a bad id, or `limit` sectors."""
        seen: set[int] = set()
        sid = start
        while sid < _SPECIAL and len(seen) < limit:
            if sid in seen:
                self.problems.append(f"{what}: cyclic chain at sector {sid}")
                return
            if sid >= len(table):
                self.problems.append(f"{what}: sector {sid} outside the allocation table")
                return
            seen.add(sid)
            yield sid
            sid = table[sid]

    def chain_bytes(self, start: int, size: int, what: str, exact: bool = True) -> bytes:
        """Up to `size` bytes from a regular-sector chain; never more than the file holds.

        `exact` says `size` is a declared length, so a shorter chain is damage worth reporting.
        """
        if size <= 0 or start >= _SPECIAL:
            return b""
        need = -(-size // self.sector_size)
        out = bytearray()
        for sid in self._chain(start, self.fat, min(need, self.sector_count), what):
            chunk = self._sector(sid)
            if len(chunk) < self.sector_size:
                self.problems.append(f"{what}: sector {sid} truncated")
                out += chunk
                break
            out += chunk
        if exact and len(out) < size:
            self.problems.append(f"{what}: {len(out)} of {size} bytes readable")
        return bytes(out[:size])

    def _mini_bytes(self, start: int, size: int, what: str) -> bytes:
        stream = self._mini_stream
        need = -(-size // self.mini_size)
        capacity = len(stream) // self.mini_size
        out = bytearray()
        for sid in self._chain(start, self.minifat, min(need, capacity + 1), what):
            chunk = stream[sid * self.mini_size : (sid + 1) * self.mini_size]
            if not chunk:
                self.problems.append(f"{what}: mini sector {sid} outside the mini stream")
                break
            out += chunk
        if len(out) < size:
            self.problems.append(f"{what}: {len(out)} of {size} bytes readable")
        return bytes(out[:size])

    def _read_directory(self, start: int) -> None:
        raw = self.chain_bytes(start, self.sector_count * self.sector_size, "directory", exact=False)
        dirents = [_parse_dirent(raw[i : i + 128]) for i in range(0, len(raw) - 127, 128)]
        if not dirents or dirents[0].kind != _ROOT:
            raise MalformedInput("OLE2: no root directory entry")
        root = dirents[0]
        self._mini_stream = self.chain_bytes(root.start, root.size, "mini stream")
        self.entries = list(self._walk(dirents))

    def _walk(self, dirents: list[_Raw]) -> Iterator[Entry]:
        """Every entry reachable from the root, each visited once (trees that loop are cut)."""
        seen = {0}
        stack: list[tuple[int, tuple[str, ...]]] = [(dirents[0].child, ())]
        while stack:
            sid, path = stack.pop()
            if sid >= len(dirents) or sid in seen:
                if sid < len(dirents):
                    self.problems.append(f"directory: entry {sid} reached twice")
                continue
            seen.add(sid)
            raw = dirents[sid]
            stack += [(raw.right, path), (raw.left, path)]
            if raw.kind == _STORAGE and len(path) < MAX_TREE_DEPTH:
                stack.append((raw.child, (*path, raw.name)))
            elif raw.kind == _STORAGE:
                self.problems.append("directory: storages nested too deep")
            if raw.kind in (_STREAM, _STORAGE):
                yield Entry(sid, raw.name, raw.kind, raw.start, raw.size, path)

    def read(self, entry: Entry, limit: int) -> bytes:
        """A stream's bytes, at most `limit` of them (the caller's budget)."""
        size = min(entry.size, limit)
        label = "/".join((*entry.path, entry.name))
        if entry.size < self.mini_cutoff:
            return self._mini_bytes(entry.start, size, label)
        return self.chain_bytes(entry.start, size, label)


def _parse_dirent(raw: bytes) -> _Raw:
    name, nlen, kind, _color, left, right, child, start, size = _DIRENT.unpack(raw)
    text = name[: min(max(nlen - 2, 0), 64)].decode("utf-16-le", "replace")
    return _Raw(text, kind, left, right, child, start, size & 0xFFFFFFFF)  # v3 leaves the high half undefined
