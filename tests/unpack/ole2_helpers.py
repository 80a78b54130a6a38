"""Test-side writers for OLE2 inputs: a minimal CFB (v3, 512-byte sectors) and an MS-OVBA compressor.

Written from the specs (MS-CFB, MS-OVBA), independently of the reader under test. The CFB writer
returns sector positions too, so hostile tests can patch FAT entries into cycles.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SECTOR = 512
MINI = 64
CUTOFF = 4096
FREE, END, FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


@dataclass
class Image:
    data: bytearray
    starts: dict[str, int] = field(default_factory=dict)  # stream path -> first regular sector (big ones)
    fat_sectors: list[int] = field(default_factory=list)
    dir_start: int = 0

    def set_fat(self, sector: int, value: int) -> None:
        fs = self.fat_sectors[sector // 128]
        struct.pack_into("<I", self.data, (fs + 1) * SECTOR + (sector % 128) * 4, value)

    def set_dirent(self, sid: int, offset: int, fmt: str, *values: int) -> None:
        """Patch a directory entry field (directory assumed contiguous, as this writer lays it out)."""
        struct.pack_into(fmt, self.data, (self.dir_start + 1) * SECTOR + sid * 128 + offset, *values)


def _dirent(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
    encoded = name.encode("utf-16-le")
    return struct.pack(
        "<64sHBBIII16sI8s8sIQ",
        encoded,
        len(encoded) + 2,
        kind,
        1,
        FREE,
        right,
        child,
        bytes(16),
        0,
        bytes(8),
        bytes(8),
        start,
        size,
    )


def _tree(streams: dict[str, bytes]) -> list[tuple[str, str, int]]:
    """(path, name, kind) entries, root first, storages before their members."""
    entries: list[tuple[str, str, int]] = [("", "Root Entry", 5)]
    seen = {""}
    for path in streams:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            storage = "/".join(parts[:depth])
            if storage not in seen:
                seen.add(storage)
                entries.append((storage, parts[depth - 1], 1))
        entries.append((path, parts[-1], 2))
    return entries


def build_cfb(streams: dict[str, bytes]) -> Image:
    """A compound file holding `streams` (paths with `/` between storage names)."""
    entries = _tree(streams)
    fat: list[int] = []
    blob = bytearray()

    def place(data: bytes) -> int:
        if not data:
            return END
        first = len(fat)
        count = -(-len(data) // SECTOR)
        fat.extend(range(first + 1, first + count))
        fat.append(END)
        blob.extend(data.ljust(count * SECTOR, b"\0"))
        return first

    image = Image(bytearray())
    mini = bytearray()
    minifat: list[int] = []
    starts: dict[str, int] = {}
    for path, data in streams.items():
        if len(data) >= CUTOFF:
            starts[path] = image.starts[path] = place(data)
        elif data:
            first = len(minifat)
            count = -(-len(data) // MINI)
            minifat.extend(range(first + 1, first + count))
            minifat.append(END)
            mini.extend(data.ljust(count * MINI, b"\0"))
            starts[path] = first
        else:
            starts[path] = END
    mini_start = place(bytes(mini))
    minifat_start = place(struct.pack(f"<{len(minifat)}I", *minifat)) if minifat else END
    children: dict[str, list[int]] = {}
    for sid, (path, _name, _kind) in enumerate(entries[1:], 1):
        children.setdefault(path.rpartition("/")[0], []).append(sid)
    raw_dir = bytearray()
    for sid, (path, name, kind) in enumerate(entries):
        own = children.get(path, []) if kind != 2 else []
        siblings = children.get(path.rpartition("/")[0], []) if sid else []
        right = siblings[siblings.index(sid) + 1] if sid and siblings.index(sid) + 1 < len(siblings) else FREE
        if kind == 5:
            raw_dir += _dirent(name, kind, own[0] if own else FREE, FREE, mini_start, len(mini))
        else:
            size = len(streams[path]) if kind == 2 else 0
            start = starts[path] if kind == 2 else 0
            raw_dir += _dirent(name, kind, own[0] if own else FREE, right, start, size)
    image.dir_start = place(bytes(raw_dir))
    nfat = 1
    while len(fat) + nfat > nfat * 128:
        nfat += 1
    image.fat_sectors = list(range(len(fat), len(fat) + nfat))
    fat.extend([FATSECT] * nfat)
    fat.extend([FREE] * (nfat * 128 - len(fat)))
    difat = image.fat_sectors + [FREE] * (109 - nfat)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII109I",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        bytes(16),
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        bytes(6),
        0,
        nfat,
        image.dir_start,
        0,
        CUTOFF,
        minifat_start,
        -(-len(minifat) * 4 // SECTOR),
        END,
        0,
        *difat,
    )
    image.data = bytearray(header + blob + struct.pack(f"<{len(fat)}I", *fat))
    return image


def ovba_compress(data: bytes) -> bytes:
    """Greedy MS-OVBA compression (compressible input only: every chunk must shrink)."""
    out = bytearray(b"\x01")
    for cstart in range(0, len(data), 4096):
        chunk = data[cstart : cstart + 4096]
        body = bytearray()
        pos = 0
        while pos < len(chunk):
            flag_at = len(body)
            body.append(0)
            for bit in range(8):
                if pos >= len(chunk):
                    break
                bits = max(4, (pos - 1).bit_length())
                max_len, max_off = (0xFFFF >> bits) + 3, 1 << bits
                best_len, best_off = 0, 0
                for off in range(1, min(pos, max_off) + 1):
                    length = 0
                    while (
                        length < max_len
                        and pos + length < len(chunk)
                        and chunk[pos + length - off] == chunk[pos + length]
                    ):
                        length += 1
                    if length > best_len:
                        best_len, best_off = length, off
                if best_len >= 3:
                    body += (((best_off - 1) << (16 - bits)) | (best_len - 3)).to_bytes(2, "little")
                    body[flag_at] |= 1 << bit
                    pos += best_len
                else:
                    body.append(chunk[pos])
                    pos += 1
        assert len(body) <= 4096, "incompressible test input"
        out += (0xB000 | (len(body) + 2 - 3)).to_bytes(2, "little") + body
    return bytes(out)


def vba_dir(modules: list[tuple[str, int]]) -> bytes:
    """A decompressed `dir` stream naming modules (name, source offset), with the PROJECTVERSION quirk."""

    def rec(rid: int, payload: bytes) -> bytes:
        return struct.pack("<HI", rid, len(payload)) + payload

    out = rec(0x01, b"\x01\x00\x00\x00") + struct.pack("<HIIH", 0x09, 4, 0x6C, 0x0E)
    out += rec(0x0F, struct.pack("<H", len(modules))) + rec(0x13, b"\xff\xff")
    for name, offset in modules:
        out += rec(0x19, name.encode()) + rec(0x1A, name.encode()) + rec(0x32, name.encode("utf-16-le"))
        out += rec(0x31, struct.pack("<I", offset)) + rec(0x21, b"") + rec(0x2B, b"")
    return out + rec(0x10, b"")


def vba_project(prefix: str, sources: dict[str, bytes], pcode: bytes = b"\x00" * 37) -> dict[str, bytes]:
    """Streams of a VBA project under storage `prefix` (`Macros/VBA` in .doc, `VBA` in vbaProject.bin)."""
    streams = {
        f"{prefix}/_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",
        f"{prefix}/dir": ovba_compress(vba_dir([(name, len(pcode)) for name in sources])),
    }
    for name, source in sources.items():
        streams[f"{prefix}/{name}"] = pcode + ovba_compress(source)
    return streams
