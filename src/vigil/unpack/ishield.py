"""InstallShield setup executables: the files appended to the setup stub.

Two layouts ride in the overlay of InstallShield's setup.exe:
- the "SFX" list (cabinet-based setups, `clam_IScab_*`): records of `name\\0 path\\0 version\\0 size\\0`
  (size in decimal ASCII) each followed by that many bytes: data1.cab/.hdr (`ISc(` cabinets), engine
  cabinets (MSCF), setup.ini, or plain files;
- the "InstallShield" stream (MSI-based setups, `clam_ISmsi_*`): `InstallShield\\0`, a u16 file count,
  then per file a 0x104-byte name, type/size fields (0x34 bytes) and the data. Data is obfuscated with
  a key made of the file name XOR 13 35 86 07: each byte is nibble-swapped, XORed with the key byte and
  inverted, the key index restarting every 1024 bytes; the result is usually a zlib stream.
Children are yielded as stored; an MSI (OLE2) child is then unpacked by the OLE2 unpacker.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.unpack import ishield_cab
from vigil.unpack.pe_format import PeView

_SFX_RECORD = re.compile(rb"([\x20-\xff]{1,260})\0([\x20-\xff]{1,260})\0([0-9.]{1,40})\0([0-9]{1,12})\0")
_MSI_MAGIC = b"InstallShield\0"
_MSI_FIRST = 0x2E  # from the magic to the first file record
_MSI_RECORD = 0x104 + 0x34
_KEY_SALT = b"\x13\x35\x86\x07"
_CHUNK = 1024
_NIBBLE_SWAP_NOT = bytes((~((b >> 4) | (b << 4) & 0xFF)) & 0xFF for b in range(256))
_MAX_RECORDS = 4096


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    start = view.overlay_start
    data = view.data
    if start >= len(data):
        return
    if _SFX_RECORD.match(data, start):
        yield from ishield_cab.with_cabinets(_sfx_records(data, start, ctx), ctx)
        return
    magic = data.find(_MSI_MAGIC, start, start + 0x1000)
    if magic >= 0:
        yield from _msi_records(data, magic, ctx)


def _sfx_records(data: bytes, pos: int, ctx: ScanContext) -> Iterator[Child]:
    for _ in range(_MAX_RECORDS):
        record = _SFX_RECORD.match(data, pos)
        if record is None:
            if pos < len(data):
                raise MalformedInput(f"InstallShield: unreadable record at {pos}")
            return
        size = int(record.group(4))
        begin = record.end()
        if size > len(data) - begin:
            raise MalformedInput(f"InstallShield: {size}-byte record at {begin} runs past the end")
        ctx.charge_file()
        ctx.charge_bytes(size)
        yield Child(name=_name(record.group(2)), data=memoryview(data)[begin : begin + size])
        pos = begin + size
    raise MalformedInput("InstallShield: too many records")


def _name(raw: bytes) -> str:
    return raw.decode("latin-1").replace("\\", "/")


def _msi_records(data: bytes, magic: int, ctx: ScanContext) -> Iterator[Child]:
    if magic + len(_MSI_MAGIC) + 2 > len(data):
        raise MalformedInput("InstallShield: truncated stream header")
    (count,) = struct.unpack_from("<H", data, magic + len(_MSI_MAGIC))
    pos = magic + _MSI_FIRST
    for _ in range(count):
        if pos + _MSI_RECORD > len(data):
            raise MalformedInput(f"InstallShield: file record at {pos} runs past the end")
        name = data[pos : pos + 0x104].split(b"\0", 1)[0]
        (size,) = struct.unpack_from("<Q", data, pos + 0x104 + 8)
        begin = pos + _MSI_RECORD
        if not name or size > len(data) - begin:
            raise MalformedInput(f"InstallShield: bad file record at {pos}")
        ctx.charge_file()
        ctx.charge_bytes(size)
        plain = deobfuscate(data[begin : begin + size], name)
        yield Child(name=_name(name), data=_inflate(plain, ctx))
        pos = begin + size


def deobfuscate(data: bytes, name: bytes) -> bytes:
    """Undo InstallShield's stream obfuscation (see the module docstring)."""
    key = bytes(c ^ _KEY_SALT[i % 4] for i, c in enumerate(name))
    stream = (key * (_CHUNK // len(key) + 1))[:_CHUNK]
    stream = (stream * (len(data) // _CHUNK + 1))[: len(data)]
    swapped = data.translate(_NIBBLE_SWAP_NOT)
    mixed = int.from_bytes(swapped, "little") ^ int.from_bytes(stream, "little")
    return mixed.to_bytes(len(data), "little")


def _inflate(plain: bytes, ctx: ScanContext) -> bytes:
    """The zlib stream inside, bounded by the budget; the plain bytes when they are not zlib."""
    if len(plain) < 2 or plain[0] != 0x78 or (plain[0] << 8 | plain[1]) % 31:
        return plain
    budget = ctx.remaining_bytes()
    decoder = zlib.decompressobj()
    try:
        out = decoder.decompress(plain, budget + 1)
    except zlib.error:
        return plain
    ctx.charge_bytes(len(out))
    return out
