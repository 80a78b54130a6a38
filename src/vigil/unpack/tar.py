"""Tar (v7, ustar, GNU, pax): members sliced straight out of the buffer, headers parsed here.

We parse headers ourselves instead of using `tarfile`: this interpreter (3.11.7) predates the fix for
the pax-header ReDoS (CVE-2024-6232), and we need exact control over truncation and exceptions.
Links, directories and devices carry no data and are skipped, never followed; unknown type flags are
read as data, as tar itself does. Names are labels only (`../../etc/passwd` is just a string here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from vigil.errors import MalformedInput
from vigil.layer import ByteView, Child, Layer, MemberInfo, ScanContext
from vigil.types import FileType

BLOCK = 512
_CHKSUM = slice(148, 156)
_NO_DATA = frozenset(b"123456")  # hard/sym link, char/block device, directory, fifo
_MAX_META = 1 << 20  # a long name or pax header larger than this is hostile, not a name


@dataclass(slots=True)
class _Header:
    name: str
    size: int
    typeflag: int


@dataclass(slots=True)
class _Pending:
    """Metadata that applies to the next real header (GNU 'L' long name, pax 'x' records)."""

    overrides: dict[str, str] = field(default_factory=dict)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _number(field_bytes: bytes) -> int:
    """Octal with NUL/space padding, or GNU base-256 when the high bit of the first byte is set."""
    if field_bytes and field_bytes[0] & 0x80:
        value = int.from_bytes(field_bytes[1:], "big")
        if field_bytes[0] == 0xFF:
            raise MalformedInput("tar: negative base-256 number")
        return value
    digits = field_bytes.split(b"\0", 1)[0].strip(b" ")
    if not digits:
        return 0
    try:
        return int(digits, 8)
    except ValueError as exc:
        raise MalformedInput(f"tar: bad number {digits[:12]!r}") from exc


def _checksum_ok(block: bytes) -> bool:
    """ustar says unsigned, some old tars summed signed bytes; accept either, as tar does."""
    stored = _number(block[_CHKSUM])
    blanked = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(blanked)
    signed = unsigned - 256 * sum(1 for b in blanked if b > 127)
    return stored in (unsigned, signed)


def _parse_header(block: bytes) -> _Header:
    if not _checksum_ok(block):
        raise MalformedInput("tar: header checksum mismatch")
    name = _text(block[0:100])
    if block[257:263] == b"ustar\0":  # POSIX ustar: a prefix field extends the name
        prefix = _text(block[345:500])
        if prefix:
            name = f"{prefix}/{name}"
    return _Header(name=name, size=_number(block[124:136]), typeflag=block[156])


def _pax_records(data: bytes) -> dict[str, str]:
    """`LEN key=value\\n` records, parsed linearly (no regex, so no backtracking)."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 20)
        if space < 0 or not data[pos:space].isdigit():
            raise MalformedInput("tar: bad pax record length")
        length = int(data[pos:space])
        record = data[space + 1 : pos + length]
        if length <= space - pos or not record.endswith(b"\n") or b"=" not in record:
            raise MalformedInput("tar: bad pax record")
        key, _, value = record[:-1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


def _long_name(pending: _Pending, data: bytes) -> None:
    pending.overrides["path"] = _text(data)


def _pax_local(pending: _Pending, data: bytes) -> None:
    pending.overrides.update(_pax_records(data))


def _ignore(pending: _Pending, data: bytes) -> None:
    """Global pax headers and GNU long link names change nothing we scan."""


#: Type flags whose data is metadata about the next header, not a member.
_META: dict[int, Callable[[_Pending, bytes], None]] = {
    ord("L"): _long_name,
    ord("K"): _ignore,
    ord("x"): _pax_local,
    ord("X"): _pax_local,  # Solaris pre-POSIX extended header
    ord("g"): _ignore,
}


class TarUnpacker:
    name = "tar"
    types = frozenset({FileType.POSIX_TAR, FileType.OLD_TAR})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        data = layer.data
        if len(data) < BLOCK:
            raise MalformedInput(f"{layer.name}: {len(data)} bytes is too short for a tar header")
        pos = 0
        pending = _Pending()
        files = 0
        while pos + BLOCK <= len(data):
            ctx.check_time()
            block = bytes(data[pos : pos + BLOCK])
            if not block.strip(b"\0"):
                return  # end-of-archive marker
            header = _parse_header(block)
            pos += BLOCK
            child, pos = self._member(data, pos, header, pending, ctx, files + 1)
            if child is not None:
                files += 1
                yield child
        if pos > len(data):
            raise MalformedInput(f"{layer.name}: tar member data truncated")
        if pos < len(data) and bytes(data[pos:]).strip(b"\0"):
            raise MalformedInput(f"{layer.name}: truncated tar header at {pos}")

    @staticmethod
    def _member(
        data: ByteView, pos: int, header: _Header, pending: _Pending, ctx: ScanContext, position: int
    ) -> tuple[Child | None, int]:
        """Consume one header's data; returns the child (None for metadata and links) and the next offset.

        For `.cdb`, clamscan lists only members with data, counts only them in FILEPOS, and gives their
        size as both the size in the container and the real size."""
        meta = _META.get(header.typeflag)
        if meta is not None:
            if header.size > _MAX_META:
                raise MalformedInput(f"tar: {header.size}-byte metadata header")
            meta(pending, bytes(data[pos : pos + header.size]))
            return None, pos + _padded(header.size)
        overrides, pending.overrides = pending.overrides, {}
        if header.typeflag in _NO_DATA:
            return None, pos
        size = _pax_size(overrides, header.size)
        ctx.charge_file()
        ctx.charge_bytes(size)
        body = bytes(data[pos : pos + size])  # shorter than size when truncated: caller raises after it
        info = MemberInfo(size, size, False, position)
        return Child(name=overrides.get("path", header.name), data=body, info=info), pos + _padded(size)


def _pax_size(overrides: dict[str, str], fallback: int) -> int:
    raw = overrides.get("size")
    if raw is None:
        return fallback
    if not raw.isdigit():
        raise MalformedInput(f"tar: bad pax size {raw[:20]!r}")
    return int(raw)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK
