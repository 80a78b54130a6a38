"""yC (y0da's Cryptor 1.x): two layers of byte-wise polymorphic XOR/ADD/ROL ciphers around the sections.

The stub (entry point = last section + 0x60) carries two tiny "decryptors" of at most 0x30 bytes each,
drawn from a fixed instruction set that only ever transforms AL with immediates or CL (SUB/ADD/XOR/ROL/
ROR, DEC, short JMP, NOP/CLC/STC), with CL counting down from the length. Because no instruction reads
memory or branches on data, the sequence is the same for every byte: we *parse* it once into a list of
byte operations (a cipher description) and apply that list; nothing is run. Layer one (at yC+0x93)
decrypts the stub's body from yC+0xC6 for ECX bytes (ECX is read from the stub's `mov ecx, end;
sub ecx, start`); layer two (at yC+0x457, or yC+0x3EA in the "modified" variant) then decrypts every
section except resources, relocations, exports, imports, TLS and the yC section itself.

The rebuilt file, as ClamAV writes it, is the original file without the yC section, with the import
directory cleared and the entry point read from yC+0xA0F. The sample set wraps UPX inside yC; when the
stored entry point is not a UPX stub, the entry point is set to the UPX stub found in the decrypted
sections so the UPX unpacker can take the rebuilt image from there.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack.pe_format import PeView, parse_pe

_MARK = b"\xaa\xe2\xcc"
_DECRYPTOR_SPAN = 0x30
_SKIPPED_NAMES = (b"rsrc", b".rsr", b"relo", b".rel", b".eda", b".rda", b".ida", b".tls")
_UPX_STUB = b"\x60\xbe"

Op = tuple[str, int]


def _u32(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<I", data, at)[0])


def _variant_13(ep: bytes) -> tuple[int, int] | None:
    if not (ep.startswith(b"\x55\x8b\xec\x53\x56\x57\x60\xe8\0\0\0\0\x5d\x81\xed") and ep[0x13] == 0xB9):
        return None
    if (
        ep[0x26:0x33] != b"\x8d\x3a\x8b\xf7\x33\xc0\xeb\x04\x90\xeb\x01\xc2\xac"
        or ep[0x18:0x1A] != b"\x81\xe9"
    ):
        return None
    if ep[0x1E:0x22] != b"\x8b\xd5\x81\xc2" or (0x6C - _u32(ep, 0xF) + _u32(ep, 0x22)) & 0xFFFFFFFF != 0xC6:
        return None
    return (_u32(ep, 0x14) - _u32(ep, 0x1A)) & 0xFFFFFFFF, 0


def _variant_13b(ep: bytes) -> tuple[int, int] | None:
    if not ep.startswith(b"\x55\x8b\xec\x83\xec\x40\x53\x56\x57") or ep[0x23] != 0xB9:
        return None
    if (
        ep[0x17:0x1F] != b"\xe8\0\0\0\0\x5d\x81\xed"
        or (0x6C - _u32(ep, 0x1F) + _u32(ep, 0x32)) & 0xFFFFFFFF != 0xC6
    ):
        return None
    return (_u32(ep, 0x24) - _u32(ep, 0x2A)) & 0xFFFFFFFF, 0x10


def _variant_modified(ep: bytes) -> tuple[int, int] | None:
    if not ep.startswith(b"\x60\xe8\0\0\0\0\x5d\x81\xed") or ep[0xD] != 0xB9 or ep[0x12:0x14] != b"\x8d\xbd":
        return None
    if ep[0x18:0x1B] != b"\x8b\xf7\xac" or (0x66 - _u32(ep, 0x9) + _u32(ep, 0x14)) & 0xFFFFFFFF != 0xAE:
        return None
    return _u32(ep, 0xE), -0x18


_VARIANTS: tuple[Callable[[bytes], tuple[int, int] | None], ...] = (
    _variant_13,
    _variant_13b,
    _variant_modified,
)


def stub_layout(view: PeView) -> tuple[int, int] | None:
    """(ECX, offset) of a recognised yC stub, as ClamAV's pe.c checks it; None for anything else."""
    if len(view.sections) < 2 or view.entry_rva != view.sections[-1].rva + 0x60:
        return None
    ep = view.entry_bytes[:0x80]
    if len(ep) < 0x80:
        return None
    for variant in _VARIANTS:
        found = variant(ep)
        if found is not None and 0x800 < found[0] < 0x2000 and ep[0x63 + found[1] : 0x66 + found[1]] == _MARK:
            return found
    return None


def _rotate_left(value: int, count: int) -> int:
    count &= 7
    return ((value << count) | (value >> (8 - count))) & 0xFF


def parse_decryptor(code: bytes) -> list[Op]:
    """The byte operations a decryptor performs, in order; MalformedInput for anything outside its set."""
    ops: list[Op] = []
    seen: set[int] = set()
    j = 0
    while 0 <= j < _DECRYPTOR_SPAN:
        if j in seen:
            raise MalformedInput("yC: the decryptor loops")
        seen.add(j)
        if j + 3 > len(code):
            raise MalformedInput("yC: decryptor cut short")
        op, arg, arg2 = code[j], code[j + 1], code[j + 2]
        signed = arg - 256 if arg >= 0x80 else arg
        step = _STEPS.get(op)
        if op == 0xEB:
            j += 2 + signed
            continue
        if step is None:
            raise MalformedInput(f"yC: unhandled decryptor opcode {op:#04x}")
        name, width = step
        if op in (0xC0, 0xD2):
            name = ("rol" if arg == 0xC0 else "ror") + ("_imm" if op == 0xC0 else "_cl")
            width = 3  # D2 too: ClamAV steps over one byte after `ROL/ROR AL,CL`, and so do we
            arg = arg2
        if name != "nop":
            ops.append((name, arg))
        j += width
    return ops


#: opcode -> (operation, instruction length); C0/D2 are resolved by their ModRM byte.
_STEPS: dict[int, tuple[str, int]] = {
    0xFE: ("dec", 2), 0x2A: ("sub_cl", 2), 0x02: ("add_cl", 2), 0x32: ("xor_cl", 2), 0x04: ("add_imm", 2),
    0x34: ("xor_imm", 2), 0x2C: ("sub_imm", 2), 0xC0: ("rot", 3), 0xD2: ("rot", 3),
    0x90: ("nop", 1), 0xF8: ("nop", 1), 0xF9: ("nop", 1),
}  # fmt: skip


def _apply_op(name: str, arg: int, al: int, cl: int) -> int:
    if name == "dec":
        return (al - 1) & 0xFF
    if name.endswith("_cl"):
        arg = cl
    kind = name.split("_", 1)[0]
    if kind == "sub":
        return (al - arg) & 0xFF
    if kind == "add":
        return (al + arg) & 0xFF
    if kind == "xor":
        return al ^ arg
    if kind == "rol":
        return _rotate_left(al, arg)
    if kind == "ror":
        return _rotate_left(al, 8 - (arg & 7))
    return al


def decrypt(buf: bytearray, start: int, length: int, ops: list[Op], tick: Callable[[], None]) -> None:
    """Apply the cipher in place to buf[start:start+length]; CL starts at the length's low byte."""
    cl = length & 0xFF
    table_for_cl: dict[int, bytes] = {}
    for i in range(start, start + length):
        table = table_for_cl.get(cl)
        if table is None:  # one 256-entry table per CL value turns the cipher into a translate
            table = bytes(_run(ops, al, cl) for al in range(256))
            table_for_cl[cl] = table
        buf[i] = table[buf[i]]
        cl = (cl - 1) & 0xFF
        if i & 0xFFF == 0:
            tick()


def _run(ops: list[Op], al: int, cl: int) -> int:
    for name, arg in ops:
        al = _apply_op(name, arg, al, cl)
    return al


def _decrypted_file(view: PeView, ecx: int, offset: int, ctx: ScanContext) -> bytearray:
    buf = bytearray(view.data)
    yc = view.sections[-1]
    base = yc.raw + offset
    if base + 0xC6 + ecx > len(buf) or base + 0xA13 > len(buf):
        raise MalformedInput("yC: the stub runs past the end of the file")
    decrypt(buf, base + 0xC6, ecx, parse_decryptor(bytes(buf[base + 0x93 : base + 0xC6])), ctx.check_time)
    second = base + (0x3EA if offset == -0x18 else 0x457)
    ops = parse_decryptor(bytes(buf[second : second + _DECRYPTOR_SPAN + 2]))
    for section in view.sections[:-1]:
        if not section.raw or not section.rsize or section.name[:4] in _SKIPPED_NAMES:
            continue
        if section.name[:2] == b"yC":
            continue
        decrypt(buf, section.raw, section.rsize, ops, ctx.check_time)
    return buf


def _rebuild(view: PeView, buf: bytearray, base: int) -> bytes:
    """ClamAV's rebuilt yC file: one section fewer, no import directory, entry point from the stub."""
    pe_off = _u32(bytes(buf), 0x3C)
    opt = pe_off + 24
    yc = view.sections[-1]
    struct.pack_into("<H", buf, pe_off + 6, len(view.sections) - 1)
    buf[opt + 0x68 : opt + 0x70] = bytes(8)
    struct.pack_into("<I", buf, opt + 16, _u32(bytes(buf), base + 0xA0F))
    struct.pack_into("<I", buf, opt + 56, (_u32(bytes(buf), opt + 56) - yc.vsize) & 0xFFFFFFFF)
    out = bytes(buf[: len(buf) - yc.rsize])
    return _point_at_upx(out, opt)


def _point_at_upx(image: bytes, opt: int) -> bytes:
    """Set the entry point to a UPX stub in the decrypted sections when the stored one is not one."""
    view = parse_pe(image)
    if view is None or view.entry_bytes.startswith(_UPX_STUB):
        return image
    for section in view.sections:
        code = image[section.raw : section.raw + section.rsize]
        at = code.find(_UPX_STUB)
        while at >= 0:
            if code[at + 6 : at + 8] == b"\x8d\xbe":
                patched = bytearray(image)
                struct.pack_into("<I", patched, opt + 16, section.rva + at)
                return bytes(patched)
            at = code.find(_UPX_STUB, at + 1)
    return image


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    """The decrypted, rebuilt file of a yC-protected PE; nothing when the stub is not yC's."""
    found = stub_layout(view)
    if found is None:
        return
    ecx, offset = found
    ctx.charge_file()
    ctx.charge_bytes(len(view.data))
    buf = _decrypted_file(view, ecx, offset, ctx)
    yield Child(name="yc-decrypted.exe", data=_rebuild(view, buf, view.sections[-1].raw + offset),
                type_hint=FileType.MSEXE)  # fmt: skip
