"""UPX: the packed sections of a PE (or the blocks of an ELF) decompressed into a rebuilt image.

PE: UPX's i386 stub starts `pushad; mov esi, SRC; lea edi, [esi+DELTA]` (60 BE imm32 8D BE disp32):
SRC is where the compressed stream lives, SRC+DELTA where the image is rebuilt. We read those two
numbers from the stub (never run it), try NRV2B, NRV2D and NRV2E in turn (as ClamAV does when the stub
is not recognised) and keep the first that ends at its end marker. The result is wrapped in a minimal
PE at the same RVA, with the original entry point taken from the stub's final `popad ... jmp OEP`.

ELF: after the loader comes `l_info` (checksum, "UPX!", ...) and `p_info` (12 bytes), then blocks of
`b_info` {uncompressed size, compressed size, method, filter, cto, 0} followed by the data; a zero
uncompressed size ends them. Methods 2/5/8 are NRV2B/NRV2D/NRV2E (LE32), 14 is LZMA. The decompressed
blocks, in order, are the original file's bytes.
"""

from __future__ import annotations

import lzma
import struct
from collections.abc import Iterator

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack import nrv2, packer_embedded
from vigil.unpack.pe_format import PeView, build_pe

_STUB = b"\x60\xbe"
_BINFO = struct.Struct("<IIBBBB")
_ELF_METHODS = {2: "nrv2b", 3: "nrv2b", 5: "nrv2d", 6: "nrv2d", 8: "nrv2e", 9: "nrv2e", 14: "lzma"}


def _stub_addresses(view: PeView) -> tuple[int, int] | None:
    """(rva of the compressed stream, rva of the rebuilt image) read from the stub's first moves."""
    code = view.entry_bytes[:0x80]
    at = code.find(_STUB)
    while at >= 0 and at + 12 <= len(code):
        if code[at + 6 : at + 8] == b"\x8d\xbe":
            src = struct.unpack_from("<I", code, at + 2)[0] - view.image_base
            delta = struct.unpack_from("<i", code, at + 8)[0]
            return src, src + delta
        at = code.find(_STUB, at + 1)
    return None


def _original_entry(view: PeView, lo: int, hi: int) -> int:
    """The target of the stub's last `jmp rel32` that lands inside the rebuilt image, else its start."""
    code = view.read_rva(view.entry_rva, 0x1000)
    best = lo
    at = code.find(b"\xe9")
    while at >= 0 and at + 5 <= len(code):
        target = view.entry_rva + at + 5 + struct.unpack_from("<i", code, at + 1)[0]
        if lo <= target < hi and b"\x61" in code[max(0, at - 16) : at]:
            best = target
        at = code.find(b"\xe9", at + 1)
    return best


def looks_packed(view: PeView) -> bool:
    return _stub_addresses(view) is not None


def _decode_any(data: bytes, start: int, budget: int, ctx: ScanContext) -> tuple[str, bytes]:
    failures = []
    over = False
    for method in nrv2.METHODS:
        try:
            out, _ = nrv2.decompress(method, data, budget, start, ctx.check_time)
        except nrv2.Truncated as exc:
            failures.append(str(exc))
            over = over or isinstance(exc, nrv2.OverBudget)
            continue
        return method, out
    if over:
        ctx.charge_bytes(budget + 1)  # a variant was still decoding at the budget: report the limit
    raise MalformedInput("UPX: no NRV variant decodes the stream (" + "; ".join(failures) + ")")


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    """The rebuilt image of a UPX-packed PE; nothing when the entry point is not a UPX stub."""
    found = _stub_addresses(view)
    if found is None:
        return
    src_rva, dst_rva = found
    start = view.rva_to_offset(src_rva)
    if start is None or dst_rva < 0:
        raise MalformedInput("UPX: the compressed stream is outside the file")
    ctx.charge_file()
    method, out = _decode_any(view.data, start, ctx.remaining_bytes(), ctx)
    entry = _original_entry(view, dst_rva, dst_rva + len(out))
    image = build_pe(view.image_base, [(b"UPX", dst_rva, out)], entry)
    ctx.charge_bytes(len(image))
    yield Child(name=f"upx-{method}.exe", data=image, type_hint=FileType.MSEXE)
    yield from packer_embedded.embedded_children(image, ctx)


def _elf_blocks(data: bytes, start: int, ctx: ScanContext) -> Iterator[bytes]:
    pos = start
    while pos + _BINFO.size <= len(data):
        ctx.check_time()
        usize, csize, method, _filter, _cto, _ = _BINFO.unpack_from(data, pos)
        pos += _BINFO.size
        if usize == 0:
            return
        if csize > len(data) - pos or csize > usize:
            raise MalformedInput(f"UPX ELF: block of {csize} bytes past the end of the file")
        ctx.charge_bytes(usize)
        yield _elf_block(data[pos : pos + csize], usize, method)
        pos += csize
    raise MalformedInput("UPX ELF: blocks end without the terminating b_info")


def _elf_block(packed: bytes, usize: int, method: int) -> bytes:
    if len(packed) == usize:
        return packed  # stored: UPX keeps blocks that do not shrink as they are
    name = _ELF_METHODS.get(method)
    try:
        if name == "lzma":
            return _lzma_block(packed, usize)
        if name is not None:
            out, _ = nrv2.decompress(name, packed, usize)
            return out
    except nrv2.Truncated as exc:
        raise MalformedInput(f"UPX ELF: {exc}") from None
    raise MalformedInput(f"UPX ELF: unknown method {method}")


def _lzma_block(packed: bytes, usize: int) -> bytes:
    """UPX's LZMA blocks: a properties byte (pb*5+lp)*9+lc, one more header byte, then raw LZMA.
    Taken from the format description, not yet checked against a UPX-LZMA sample (none is at hand)."""
    if len(packed) < 3:
        raise MalformedInput("UPX ELF: LZMA block too short")
    props = packed[0]
    lc, rest = props % 9, props // 9
    lp, pb = rest % 5, rest // 5
    filters = [{"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": 1 << 22}]
    decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
    try:
        return decoder.decompress(packed[2:], max_length=usize)
    except lzma.LZMAError as exc:
        raise MalformedInput(f"UPX ELF: LZMA: {exc}") from None


#: UPX puts its `l_info` header (magic `UPX!`) right after the stub's ELF and program headers, inside the
#: first page. Searching the whole file cost every unpacked ELF a pass over all its bytes, and took a
#: `UPX!` string deep inside an ordinary program (the upx tool itself) for a packed file.
_ELF_HEADER_PAGE = 0x1000


class UpxElfUnpacker:
    """ELF files packed by UPX (the PE side is dispatched by `pe.PeUnpacker`)."""

    name = "upx-elf"
    types = frozenset({FileType.ELF})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        at = bytes(layer.data[:_ELF_HEADER_PAGE]).find(b"UPX!", 0x40)
        if at < 4 or at + 8 + 12 > len(layer.data):
            return
        ctx.charge_file()
        out = b"".join(_elf_blocks(bytes(layer.data), at + 8 + 12, ctx))
        yield Child(name="upx-unpacked.elf", data=out)
