"""Zip: central directory plus a walk of local headers, members inflated in memory against the budget.

Like ClamAV we index the central directory *and* local headers it does not mention (truncated files,
stripped directories, smuggled members), then sort by offset. Records that overlap their neighbour are
the non-recursive bomb of Fifield (WOOT '19): past ClamAV's threshold of five the archive is flagged
with `Heuristics.Zip.OverlappingFiles` via `ctx.note_alert` and no member is produced, as clamscan
does (identical offsets are plain duplicates of one record). CRCs are not checked: a member with a
wrong CRC is still scanned. Names are labels only; nothing is ever written to disk.
"""

from __future__ import annotations

import bisect
import bz2
import itertools
import lzma
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vigil.errors import MalformedInput
from vigil.layer import ByteView, Child, Layer, MemberInfo, ScanContext
from vigil.types import FileType
from vigil.unpack import inflate
from vigil.unpack.compressed import DecoderFactory, decode_bounded
from vigil.unpack.zip_methods import DECODERS

OVERLAP_DETECTION = "Heuristics.Zip.OverlappingFiles"
ENCRYPTED_DETECTION = "Heuristics.Encrypted.Zip"
#: ClamAV alerts only when more than this many records overlap (JARs in the wild overlap by accident).
MAX_OVERLAPPING = 5
#: ...and tolerates overlaps of up to this many bytes for the same reason.
OVERLAP_FUDGE = 2

_LOCAL, _CENTRAL, _EOCD = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_Z64_LOCATOR, _Z64_END = b"PK\x06\x07", b"PK\x06\x06"
_NEXT_SIGS = (_LOCAL, _CENTRAL, _EOCD)
_CENTRAL_FMT = struct.Struct("<4s4xH6xIIIHHH8xI")  # sig flags crc csize usize nlen elen clen offset
_LOCAL_FMT = struct.Struct("<4s2xHH8xIIHH")  # sig flags method csize usize nlen elen
_EOCD_FMT = struct.Struct("<4s6xHII")  # sig entries cd_size cd_offset
_ENCRYPTED, _DATA_DESCRIPTOR, _UTF8 = 0x1, 0x8, 0x800
_MAX_EOCD_SEARCH = 22 + 0xFFFF
_U32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Record:
    """A member resolved against its local header: where its compressed bytes are."""

    name: str
    offset: int  # local header
    data_start: int
    csize: int
    usize: int
    method: int
    flags: int

    @property
    def end(self) -> int:
        return self.data_start + self.csize


def _u16(data: ByteView, pos: int) -> int:
    return int.from_bytes(bytes(data[pos : pos + 2]), "little")


def _name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8" if flags & _UTF8 else "cp437", "replace")


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF fields from the zip64 extra block, in the order the spec lists them."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            values = [v for (v,) in struct.iter_unpack("<Q", extra[pos + 4 : pos + 4 + size - size % 8])]
            fields = [usize, csize, offset]
            for i, current in enumerate(fields):
                if current == _U32 and values:
                    fields[i] = values.pop(0)
            return fields[0], fields[1], fields[2]
        pos += 4 + size
    return usize, csize, offset


def _local_record(
    data: ByteView, offset: int, name: str | None, sizes: tuple[int, int] | None
) -> Record | None:
    """Resolve the local header at `offset`; sizes come from the central entry when there is one.

    Method and flags are the local header's, as that is what an extractor acts on.
    """
    head = bytes(data[offset : offset + _LOCAL_FMT.size])
    if len(head) < _LOCAL_FMT.size or head[:4] != _LOCAL:
        return None
    _, flags, method, csize, usize, nlen, elen = _LOCAL_FMT.unpack(head)
    start = offset + _LOCAL_FMT.size
    local_name = _name(bytes(data[start : start + nlen]), flags)
    data_start = start + nlen + elen
    if sizes is None:
        extra = bytes(data[start + nlen : data_start])
        usize, csize, _ = _zip64_sizes(extra, usize, csize, 0)
        if flags & _DATA_DESCRIPTOR and csize == 0:
            csize = _next_signature(data, data_start) - data_start
    else:
        csize, usize = sizes
    return Record(name if name is not None else local_name, offset, data_start, csize, usize, method, flags)


def _next_signature(data: ByteView, start: int) -> int:
    """Where a streamed member ends when nothing records its size: at the next zip structure."""
    view = memoryview(data).cast("B")
    hits = [pos for sig in _NEXT_SIGS if (pos := _find(view, sig, start)) >= 0]
    return min(hits) if hits else len(view)


def _find(view: memoryview, needle: bytes, start: int) -> int:
    """bytes.find over a buffer without copying the rest of the file each time."""
    step = 1 << 20
    for chunk_start in range(start, len(view), step):
        chunk = bytes(view[chunk_start : chunk_start + step + len(needle) - 1])
        hit = chunk.find(needle)
        if hit >= 0:
            return chunk_start + hit
    return -1


def _find_eocd(data: ByteView) -> int | None:
    tail_start = max(0, len(data) - _MAX_EOCD_SEARCH)
    pos = bytes(data[tail_start:]).rfind(_EOCD)
    if pos < 0 or tail_start + pos + _EOCD_FMT.size > len(data):
        return None
    return tail_start + pos


def _directory_bounds(data: ByteView, eocd: int) -> tuple[int, int, int]:
    """(entries, cd_start, shift): `shift` corrects offsets in archives with bytes prepended (SFX, cat)."""
    _, entries, cd_size, cd_offset = _EOCD_FMT.unpack(bytes(data[eocd : eocd + _EOCD_FMT.size]))
    locator = eocd - 20
    if locator >= 0 and bytes(data[locator : locator + 4]) == _Z64_LOCATOR:
        z64 = int.from_bytes(bytes(data[locator + 8 : locator + 16]), "little")
        record = bytes(data[z64 : z64 + 56])
        if len(record) == 56 and record[:4] == _Z64_END:
            entries, cd_size, cd_offset = struct.unpack_from("<QQQ", record, 32)
    expected = eocd - cd_size
    if 0 <= expected < len(data) and bytes(data[expected : expected + 4]) == _CENTRAL:
        return entries, expected, expected - cd_offset
    return entries, cd_offset, 0


def _central_records(data: ByteView, eocd: int, ctx: ScanContext) -> tuple[list[Record], int]:
    """Records named by the central directory, and where the directory starts."""
    entries, pos, shift = _directory_bounds(data, eocd)
    cd_start = pos
    records: list[Record] = []
    for _ in range(min(entries, len(data) // _CENTRAL_FMT.size)):
        ctx.check_time()
        head = bytes(data[pos : pos + _CENTRAL_FMT.size])
        if len(head) < _CENTRAL_FMT.size or head[:4] != _CENTRAL:
            break
        _, flags, _crc, csize, usize, nlen, elen, clen, offset = _CENTRAL_FMT.unpack(head)
        start = pos + _CENTRAL_FMT.size
        name = _name(bytes(data[start : start + nlen]), flags)
        extra = bytes(data[start + nlen : start + nlen + elen])
        usize, csize, offset = _zip64_sizes(extra, usize, csize, offset)
        record = _local_record(data, offset + shift, name, (csize, usize))
        if record is not None:
            records.append(record)
        pos = start + nlen + elen + clen
    return records, cd_start


def _coverage(records: list[Record]) -> tuple[list[int], list[int]]:
    """Starts and running-maximum ends of known records, for a bisect lookup (hostile zips have 64k)."""
    spans = sorted((r.offset, r.end) for r in records)
    ends = list(itertools.accumulate((end for _, end in spans), max))
    return [start for start, _ in spans], ends


def _covering_end(covered: tuple[list[int], list[int]], pos: int) -> int | None:
    """End of the known records covering `pos`, or None when `pos` lies in a gap."""
    starts, ends = covered
    i = bisect.bisect_right(starts, pos) - 1
    return ends[i] if i >= 0 and pos < ends[i] else None


def _local_records(data: ByteView, known: list[Record], stop: int, ctx: ScanContext) -> list[Record]:
    """Local headers the central directory does not mention, found by walking the gaps between records."""
    covered = _coverage(known)
    found: list[Record] = []
    window = bytes(data[:stop])
    pos = window.find(_LOCAL)
    while pos >= 0:
        ctx.check_time()
        inside = _covering_end(covered, pos)
        record = _local_record(data, pos, None, None) if inside is None else None
        if record is not None:
            found.append(record)
        resume = inside if inside is not None else (record.end if record is not None else 0)
        pos = window.find(_LOCAL, max(resume, pos + 1))
    return found


def _select(records: list[Record], ctx: ScanContext) -> list[Record]:
    """Records to scan, in offset order, or none at all when too many overlap (a Fifield bomb).

    Matches clamscan 1.4.6, checked with quoted-header zips: identical offsets are one record; five
    overlapping neighbours are scanned as usual; six or more flag the archive and nothing is scanned.
    """
    unique = sorted({r.offset: r for r in reversed(records)}.values(), key=lambda r: r.offset)
    overlapping = sum(1 for prev, cur in itertools.pairwise(unique) if cur.offset + OVERLAP_FUDGE < prev.end)
    if overlapping > MAX_OVERLAPPING:
        ctx.note_alert(OVERLAP_DETECTION)
        return []
    return unique


def _lzma_factory(raw: bytes) -> tuple[DecoderFactory, bytes]:
    """Zip's LZMA: a 4-byte header (version, properties size), 5 property bytes, then raw LZMA1."""
    if len(raw) < 9:
        raise MalformedInput("zip: truncated lzma properties")
    props_size = int.from_bytes(raw[2:4], "little")
    props = raw[4 : 4 + props_size]
    lc_lp_pb = props[0]
    lzma1 = {
        "id": lzma.FILTER_LZMA1,
        "lc": lc_lp_pb % 9,
        "lp": (lc_lp_pb // 9) % 5,
        "pb": lc_lp_pb // 45,
        "dict_size": int.from_bytes(props[1:5], "little"),
    }
    return (lambda: lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1])), raw[4 + props_size :]


#: Compression method -> (decoder factory, the stream it reads) for a member's raw bytes.
_METHODS: dict[int, Callable[[bytes], tuple[DecoderFactory, bytes]]] = {
    8: lambda raw: ((lambda: inflate.decompressobj(-inflate.MAX_WBITS)), raw),
    12: lambda raw: (bz2.BZ2Decompressor, raw),
    14: _lzma_factory,
}


def _member_bytes(data: ByteView, record: Record, ctx: ScanContext) -> tuple[bytes, bool]:
    """(member bytes, complete?) within budget; a stream ending early still yields what it produced."""
    raw = bytes(data[record.data_start : record.end])
    if record.method == 0:
        return raw, len(raw) == record.csize
    if record.method in DECODERS:
        return DECODERS[record.method](raw, record.flags, record.usize, ctx)
    factory, stream = _METHODS[record.method](raw)
    decoded = decode_bounded(stream, factory, ctx)
    complete = decoded.complete or (record.usize > 0 and len(decoded.data) == record.usize)
    return decoded.data, complete


class ZipUnpacker:
    name = "zip"
    types = frozenset({FileType.ZIP})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        data = layer.data
        eocd = _find_eocd(data)
        records, stop = _central_records(data, eocd, ctx) if eocd is not None else ([], len(data))
        records += _local_records(data, records, stop, ctx)
        if not records:
            raise MalformedInput(f"{layer.name}: no zip records")
        damaged: list[str] = []
        selected = _select(records, ctx)
        # clamscan checks every record's metadata (directories included, all counted in FILEPOS) for
        # `.cdb` before it extracts any member: a hit on the last record beats a body match on the first
        for position, record in enumerate(selected, start=1):
            ctx.check_time()  # a hostile zip lists a million records, each checked against every .cdb line
            info = MemberInfo(record.csize, record.usize, bool(record.flags & _ENCRYPTED), position)
            yield Child(record.name, b"", info=info, listed_only=True)
        for record in selected:
            child = self._child(data, record, ctx, damaged)
            if child is not None:
                yield child
        if damaged or eocd is None:
            why = ", ".join(damaged) or "no central directory"
            raise MalformedInput(f"{layer.name}: damaged zip ({why})")

    @staticmethod
    def _child(data: ByteView, record: Record, ctx: ScanContext, damaged: list[str]) -> Child | None:
        if record.flags & _ENCRYPTED:
            ctx.note_alert(ENCRYPTED_DETECTION)
            return None
        if record.method != 0 and record.method not in _METHODS and record.method not in DECODERS:
            ctx.note_issue(f"zip: unsupported compression method {record.method} for {record.name!r}")
            return None
        if record.name.endswith("/") and record.usize == 0:
            return None  # a directory entry
        ctx.charge_file()
        if record.usize > ctx.remaining_bytes():
            ctx.charge_bytes(record.usize)  # declared size over budget: raises the binding limit
        body, complete = _member_bytes(data, record, ctx)
        ctx.charge_bytes(len(body))
        if not complete:
            damaged.append(record.name)
        return Child(name=record.name, data=body)
