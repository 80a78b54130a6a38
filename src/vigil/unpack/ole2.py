"""OLE2 (Word/Excel/PowerPoint 97-2003, MSI, vbaProject.bin): every stream, macro source, embedded files.

Children, named by their stream path (`Macros/VBA/Module1`, `ObjectPool/_1279313719/\\x01Ole10Native`):
- each stream's bytes, reassembled from the FAT or miniFAT by the bounded reader in `cfb`;
- for VBA module streams, the decompressed macro source instead of the raw stream, so signatures match
  the text; a project with modules raises `Heuristics.OLE2.ContainsMacros` (reported with
  `--alert-macros` only);
- the file inside an `\\x01Ole10Native` stream (Packager objects, `<stream path>/<file name>`);
- PowerPoint's zlib-compressed embedded objects (ExOleObjStg records), `<stream path>/ExOleObjStg@<offset>`.
Damage found on the way (cycles, short chains) is raised as MalformedInput after the readable streams.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack import inflate, ole1, ovba
from vigil.unpack.cfb import CompoundFile, Entry
from vigil.unpack.compressed import decode_bounded

MACRO_ALERT = "Heuristics.OLE2.ContainsMacros"
_PPT_STREAM = "PowerPoint Document"
_EX_OLE_OBJ_STG = 0x1011
_MSI_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"


def _msi_char(code: int) -> str:
    """MSI packs two name characters into one code point in U+3800..U+47FF (and one into U+4800..)."""
    if 0x3800 <= code < 0x4800:
        low = code - 0x3800
        return _MSI_ALPHABET[low & 0x3F] + _MSI_ALPHABET[low >> 6]
    if 0x4800 <= code < 0x4840:
        return _MSI_ALPHABET[code - 0x4800]
    if code == 0x4840:
        return "!"
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    return chr(code)


def display(name: str) -> str:
    """A directory entry name made printable (control bytes escaped, MSI names decoded)."""
    return "".join(_msi_char(ord(c)) for c in name)


def _path(entry: Entry) -> str:
    return "/".join(display(part) for part in (*entry.path, entry.name))


def _read(cf: CompoundFile, entry: Entry, ctx: ScanContext) -> bytes:
    """A stream within budget: one byte over the budget is read so that the charge raises the limit."""
    ctx.charge_file()
    data = cf.read(entry, ctx.remaining_bytes() + 1)
    ctx.charge_bytes(len(data))
    return data


def _vba_sources(cf: CompoundFile, ctx: ScanContext) -> dict[int, bytes]:
    """Decompressed source per module stream (by directory id) for every VBA storage in the file."""
    streams = {(e.path, e.name.lower()): e for e in cf.entries if e.is_stream}
    sources: dict[int, bytes] = {}
    for (path, name), entry in streams.items():
        if name != "dir" or (path, "_vba_project") not in streams:
            continue
        try:
            listing = ovba.modules(ovba.decompress(cf.read(entry, ctx.remaining_bytes()), ctx))
        except MalformedInput as exc:
            ctx.note_issue(f"{_path(entry)}: {exc}")
            continue
        for module in listing:
            stream = streams.get((path, module.stream.lower()))
            if stream is None:
                ctx.note_issue(f"VBA module {module.name!r} has no stream")
                continue
            try:
                raw = cf.read(stream, ctx.remaining_bytes())
                sources[stream.sid] = ovba.decompress(raw[module.offset :], ctx)
            except MalformedInput as exc:
                ctx.note_issue(f"{_path(stream)}: {exc}")
    if sources:
        ctx.note_alert(MACRO_ALERT)
    return sources


def _ole10native(path: str, data: bytes, ctx: ScanContext) -> Iterator[Child]:
    try:
        package = ole1.parse_ole10native(data)
    except MalformedInput as exc:
        ctx.note_issue(f"{path}: {exc}")
        return
    ctx.charge_file()
    ctx.charge_bytes(len(package.data))
    yield Child(f"{path}/{package.name}", package.data)


def _ppt_objects(path: str, data: bytes, ctx: ScanContext) -> Iterator[Child]:
    """Walk PowerPoint records (containers are entered, atoms skipped) for embedded OLE storages."""
    pos = 0
    while pos + 8 <= len(data):
        ctx.check_time()
        ver_inst, rtype, size = struct.unpack_from("<HHI", data, pos)
        body_start = pos + 8
        if ver_inst & 0xF == 0xF:
            pos = body_start  # a container: its records follow directly
            continue
        pos = body_start + size
        if rtype != _EX_OLE_OBJ_STG:
            continue
        body = data[body_start : min(pos, len(data))]
        yield from _ppt_object(f"{path}/ExOleObjStg@{body_start - 8}", body, ver_inst >> 4 == 1, ctx)


def _ppt_object(name: str, body: bytes, compressed: bool, ctx: ScanContext) -> Iterator[Child]:
    ctx.charge_file()
    if compressed:  # a 4-byte decompressed size we do not trust, then a zlib stream
        decoded = decode_bounded(body[4:], inflate.decompressobj, ctx)
        if not decoded.complete:
            ctx.note_issue(f"{name}: {decoded.error}")
        body = decoded.data
    ctx.charge_bytes(len(body))
    yield Child(name, body)


#: Streams whose contents hold further files, by lower-cased entry name.
_EMBEDDERS: dict[str, Callable[[str, bytes, ScanContext], Iterator[Child]]] = {
    "\x01ole10native": _ole10native,
    _PPT_STREAM.lower(): _ppt_objects,
}


class Ole2Unpacker:
    name = "ole2"
    types = frozenset({FileType.MSOLE2})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        cf = CompoundFile.parse(layer.data)
        sources = _vba_sources(cf, ctx)
        for entry in cf.entries:
            if not entry.is_stream:
                continue
            ctx.check_time()
            path = _path(entry)
            source = sources.get(entry.sid)
            if source is not None:
                ctx.charge_file()
                ctx.charge_bytes(len(source))
                yield Child(path, source)
                continue
            data = _read(cf, entry, ctx)
            yield Child(path, data)
            embedder = _EMBEDDERS.get(entry.name.lower())
            if embedder is not None:
                yield from embedder(path, data, ctx)
        if cf.problems:
            shown = "; ".join(dict.fromkeys(cf.problems))
            raise MalformedInput(f"{layer.name}: damaged OLE2 ({shown[:500]})")
