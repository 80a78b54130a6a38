"""PDF: every stream decoded (`obj 12 0`), and JavaScript in `/JS` strings (`obj 12 0/JS`).

Objects are found by a forward scan for `n g obj`, as ClamAV does, not by following the xref table: a
cross-reference chain (`/Prev` loops, offsets into other objects, many incremental updates) is never
walked, so it cannot loop, and objects a broken xref does not list are still seen. The scan resumes
after each stream's end, so the bytes of a stream are never parsed as objects. A stream's /Length is
believed only when `endstream` follows it; otherwise the stream runs to the next `endstream`, so a
huge /Length costs nothing. Decoding is bounded per stream by `pdf_filters` and the scan budget.
Object streams (/Type /ObjStm) are opened one level deep for the JavaScript they hide.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack.pdf_filters import Params, decode_chain
from vigil.unpack.pdf_syntax import Parser, PdfValue, Ref

ENCRYPTED_ALERT = "Heuristics.Encrypted.PDF"
_OBJ = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj\b")
_STREAM = re.compile(rb"[\x00\t\n\x0c\r ]*stream(?:\r\n|\n|\r)?")
_ENDSTREAM = b"endstream"
_TRAILER = re.compile(rb"\btrailer\b")
#: Nodes visited per object while looking for /JS (hostile files nest arrays of dictionaries).
_MAX_NODES = 10_000


@dataclass(slots=True)
class PdfObject:
    num: int
    gen: int
    value: PdfValue
    start: int = 0  # first byte of stream data, if the object has a stream
    end: int = 0

    @property
    def label(self) -> str:
        return f"obj {self.num} {self.gen}"

    @property
    def header(self) -> dict[str, object]:
        return self.value if isinstance(self.value, dict) else {}


def _stream_end(data: bytes, start: int, length: object) -> int | None:
    """End of the stream's bytes: after /Length bytes if `endstream` follows, else before `endstream`."""
    if isinstance(length, int) and 0 <= length <= len(data) - start:
        after = data[start + length : start + length + 32].lstrip()
        if after.startswith(_ENDSTREAM):
            return start + length
    found = data.find(_ENDSTREAM, start)
    if found < 0:
        return None
    for eol in (b"\r\n", b"\n", b"\r"):
        if data.endswith(eol, start, found):
            return found - len(eol)
    return found


def _scan(data: bytes, problems: list[str]) -> list[PdfObject]:
    """Objects in file order, with stream ranges; a value that does not parse is noted and skipped."""
    objects: list[PdfObject] = []
    pos = 0
    while (found := _OBJ.search(data, pos)) is not None:
        parser = Parser(data, found.end())
        label = f"obj {int(found.group(1))} {int(found.group(2))}"
        try:
            value = parser.value()
        except MalformedInput as exc:
            problems.append(f"{label}: {exc}")
            pos = found.end()
            continue
        obj = PdfObject(int(found.group(1)), int(found.group(2)), value)
        objects.append(obj)
        pos = parser.pos
        stream = _STREAM.match(data, pos) if isinstance(value, dict) else None
        if stream is None:
            continue
        end = _stream_end(data, stream.end(), value.get("Length") if isinstance(value, dict) else None)
        if end is None:
            problems.append(f"{label}: stream has no endstream")
            end = len(data)
        obj.start, obj.end = stream.end(), end
        pos = end
    return objects


def _fix_indirect_lengths(data: bytes, objects: list[PdfObject]) -> None:
    """Re-cut streams whose /Length is `n g R` once the integer objects are known (no chains followed)."""
    integers = {(o.num, o.gen): o.value for o in objects if type(o.value) is int}
    for obj in objects:
        length = obj.header.get("Length")
        if obj.end and isinstance(length, Ref):
            resolved = integers.get((length.num, length.gen))
            if isinstance(resolved, int):
                obj.end = _stream_end(data, obj.start, resolved) or obj.end


def _names(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _params(value: object) -> list[Params]:
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, dict) else {} for item in items]


def _javascript(value: object) -> Iterator[bytes]:
    """/JS strings anywhere inside one object's value (iterative, with a node budget)."""
    stack, visited = [value], 0
    while stack and visited < _MAX_NODES:
        node = stack.pop()
        visited += 1
        if isinstance(node, dict):
            script = node.get("JS")
            if isinstance(script, bytes) and script:
                yield script
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _object_stream(decoded: bytes, header: dict[str, object]) -> Iterator[tuple[int, PdfValue]]:
    """(object number, value) pairs inside a decoded /Type /ObjStm; offsets outside it are skipped."""
    first, count = header.get("First"), header.get("N")
    if not isinstance(first, int) or not isinstance(count, int) or not 0 <= first <= len(decoded):
        return
    numbers = [int(n) for n in re.findall(rb"\d+", decoded[:first])]
    for num, offset in zip(numbers[0 : 2 * count : 2], numbers[1 : 2 * count : 2], strict=False):
        if first + offset < len(decoded):
            try:
                yield num, Parser(decoded, first + offset).value()
            except MalformedInput:
                continue


def _is_encrypted(data: bytes, objects: list[PdfObject]) -> bool:
    """A trailer (classic or xref stream) naming an /Encrypt dictionary."""
    if any("Encrypt" in o.header and o.header.get("Type") == "XRef" for o in objects):
        return True
    for found in _TRAILER.finditer(data):
        try:
            trailer = Parser(data, found.end()).value()
        except MalformedInput:
            continue
        if isinstance(trailer, dict) and "Encrypt" in trailer:
            return True
    return False


class PdfUnpacker:
    name = "pdf"
    types = frozenset({FileType.PDF})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        data = bytes(layer.data)
        problems: list[str] = []
        objects = _scan(data, problems)
        if not objects:
            raise MalformedInput(f"{layer.name}: no PDF objects")
        _fix_indirect_lengths(data, objects)
        if _is_encrypted(data, objects):
            ctx.note_alert(ENCRYPTED_ALERT)
        for obj in objects:
            ctx.check_time()
            decoded = self._stream(data, obj, ctx, problems) if obj.end else None
            if decoded:
                yield Child(obj.label, decoded)
            yield from self._scripts(obj.label, obj.value, ctx)
            if decoded and obj.header.get("Type") == "ObjStm":
                for num, value in _object_stream(decoded, obj.header):
                    yield from self._scripts(f"obj {num} 0", value, ctx)
        if problems:
            raise MalformedInput(f"{layer.name}: {'; '.join(problems)[:500]}")

    @staticmethod
    def _stream(data: bytes, obj: PdfObject, ctx: ScanContext, problems: list[str]) -> bytes:
        ctx.charge_file()
        header = obj.header
        result = decode_chain(
            data[obj.start : obj.end], _names(header.get("Filter")), _params(header.get("DecodeParms")), ctx
        )
        if result.problem:
            problems.append(f"{obj.label}: {result.problem}")
        ctx.charge_bytes(len(result.data))
        return result.data

    @staticmethod
    def _scripts(label: str, value: object, ctx: ScanContext) -> Iterator[Child]:
        for script in _javascript(value):
            ctx.charge_file()
            ctx.charge_bytes(len(script))
            yield Child(f"{label}/JS", script)
