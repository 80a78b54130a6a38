"""Symbian installation packages (SIS, EPOC release 5 and 6; not the unrelated 9.x format): the files
the package would install, each a zlib stream unless the package says it is uncompressed.

The 16-byte UID header is followed by counts (languages, files, ...), option flags and pointers; file
records start at `pfiles`. A record is a u32 type and a body: 0 (one file) and 1 (one file per language)
carry source and destination names and per-language (length, pointer) pairs (release 6 adds the original
lengths and a MIME type); 2 is an options list; 3 and 4 are conditions with a sized expression; 5 and 6
have no body. Everything is little-endian and every pointer is an absolute offset, so each is checked
against the file before it is read.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from vigil.errors import MalformedInput
from vigil.layer import ByteView, Child, Layer, ScanContext
from vigil.types import FileType

UID3 = 0x10000419
UID2_ER5 = 0x1000006D
UID2_ER6 = 0x10003A12
_HEADER = struct.Struct("<4I8HI4H6I")  # UIDs, counts, installer version, flags/type/version, pointers
_UNICODE = 0x0001
_NO_COMPRESS = 0x0008
_FILE_NULL = 4  # created at install time: no data in the package
_SIMPLE, _PER_LANGUAGE, _OPTIONS, _IF, _ELSEIF, _ELSE, _ENDIF = range(7)


@dataclass(frozen=True, slots=True)
class Package:
    nlangs: int
    nfiles: int
    options: int
    pfiles: int
    release6: bool


@dataclass(frozen=True, slots=True)
class FileRecord:
    file_type: int
    name: str
    parts: tuple[tuple[int, int, int | None], ...]  # (length, pointer, original length or None)


class _Reader:
    """Little-endian u32s at a cursor; running off the end is malformed input."""

    def __init__(self, data: ByteView, pos: int) -> None:
        self.data = data
        self.pos = pos

    def u32s(self, count: int) -> list[int]:
        end = self.pos + 4 * count
        if count < 0 or end > len(self.data):
            raise MalformedInput("sis: record runs past the end")
        values = list(struct.unpack_from(f"<{count}I", self.data, self.pos))
        self.pos = end
        return values

    def u32(self) -> int:
        return self.u32s(1)[0]

    def skip(self, size: int) -> None:
        if size < 0 or self.pos + size > len(self.data):
            raise MalformedInput("sis: record runs past the end")
        self.pos += size


def read_package(data: ByteView) -> Package:
    if len(data) < _HEADER.size:
        raise MalformedInput("sis: header truncated")
    fields = _HEADER.unpack_from(data, 0)
    uid2, uid3 = fields[1], fields[2]
    if uid3 != UID3 or uid2 not in (UID2_ER5, UID2_ER6):
        raise MalformedInput(f"sis: unsupported UIDs {uid2:#x} {uid3:#x}")
    return Package(nlangs=fields[5], nfiles=fields[6], options=fields[13], pfiles=fields[19],
                   release6=uid2 == UID2_ER6)


def _text(data: ByteView, length: int, pointer: int, unicode: bool) -> str:
    if pointer + length > len(data):
        raise MalformedInput("sis: name points past the end")
    raw = bytes(data[pointer : pointer + length])
    return raw.decode("utf-16-le", errors="replace") if unicode else raw.decode("latin-1")


def _file_record(reader: _Reader, package: Package, per_language: bool) -> FileRecord:
    file_type, _details, src_len, src_ptr, _dst_len, _dst_ptr = reader.u32s(6)
    count = package.nlangs if per_language else 1
    lengths = reader.u32s(count)
    pointers = reader.u32s(count)
    originals: list[int | None] = [None] * count
    if package.release6:
        originals = list(reader.u32s(count))
        reader.u32s(2)  # MIME type length and pointer
    name = _text(reader.data, src_len, src_ptr, bool(package.options & _UNICODE))
    return FileRecord(file_type, name, tuple(zip(lengths, pointers, originals, strict=True)))


def file_records(data: ByteView, package: Package) -> Iterator[FileRecord]:
    """The file records in order; conditions and options are stepped over (every branch is scanned)."""
    reader = _Reader(data, package.pfiles)
    for _ in range(package.nfiles):
        kind = reader.u32()
        if kind in (_SIMPLE, _PER_LANGUAGE):
            yield _file_record(reader, package, kind == _PER_LANGUAGE)
        elif kind == _OPTIONS:
            reader.skip(reader.u32() * 8 * package.nlangs + 16)
        elif kind in (_IF, _ELSEIF):
            reader.skip(reader.u32())
        elif kind not in (_ELSE, _ENDIF):
            raise MalformedInput(f"sis: unknown record type {kind}")


def _inflate(raw: bytes, budget: int) -> tuple[bytes, str | None]:
    """(output, problem): at most budget + 1 bytes, so the caller can tell when the budget ran out."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw, budget + 1)
    except zlib.error as exc:
        return b"", f"sis: bad zlib stream ({exc})"
    if len(out) <= budget and not inflater.eof:
        return out, "sis: zlib stream ends early"
    return out, None


class SisUnpacker:
    name = "sis"
    types = frozenset({FileType.SIS})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        data = layer.data
        package = read_package(data)
        problems: list[str] = []
        for record in file_records(data, package):
            if record.file_type == _FILE_NULL:
                continue
            for index, (length, pointer, original) in enumerate(record.parts):
                name = record.name if len(record.parts) == 1 else f"{record.name}#{index}"
                child, problem = self._part(data, package, (length, pointer, original), ctx)
                if child is not None:
                    yield Child(name=name, data=child)
                if problem is not None:
                    problems.append(f"{name}: {problem}")
        if problems:
            raise MalformedInput(f"{layer.name}: " + "; ".join(problems))

    @staticmethod
    def _part(
        data: ByteView, package: Package, part: tuple[int, int, int | None], ctx: ScanContext
    ) -> tuple[bytes | None, str | None]:
        length, pointer, original = part
        ctx.charge_file()
        raw = bytes(data[pointer : pointer + length])
        problem = "sis: file data runs past the end" if pointer + length > len(data) else None
        budget = ctx.remaining_bytes()
        if original is not None and original > budget:
            ctx.charge_bytes(original)  # raises the binding limit
        if package.options & _NO_COMPRESS:
            out = raw[: budget + 1]
        else:
            out, problem = _inflate(raw, budget)
            if not out and problem is not None:
                return None, problem
        ctx.charge_bytes(len(out))  # over the budget: raises
        return out, problem
