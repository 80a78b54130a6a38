"""Facts about executables that signatures refer to: entry point, sections, section and import hashes.

Parsing is done by pefile/pyelftools; this module only reduces their output to the few numbers ClamAV's
offset forms (`EP+n`, `Sx+n`, `SEx`, `SL+n`) and `.mdb/.msb/.imp` signatures need. Calibrated against
`sigtool --mdb`, `sigtool --imp` and `EP+0` body signatures under clamscan 1.4.6.

pefile and pyelftools are imported where a PE or ELF layer is parsed, not with this module: together
they take 45 ms to import, half of what a one-file scan's start-up spends on imports, and most scans
of a text file or a document never need them.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.types import FileType

if TYPE_CHECKING:
    import pefile


@dataclass(frozen=True, slots=True)
class Section:
    raw_offset: int  # file offset of the section's raw data (aligned as ClamAV's PE parser aligns it)
    raw_size: int
    rva: int = 0
    virtual_size: int = 0


@dataclass(frozen=True, slots=True)
class ExecInfo:
    entry_offset: int | None  # file offset of the entry point, None when it maps outside the file
    sections: tuple[Section, ...] = ()
    is_pe32plus: bool = False
    entry_rva: int = 0  # the header's entry point address (RVA for PE, virtual address for ELF)


#: What pefile raises on malformed input besides its own PEFormatError.
_PE_VALUE_ERRORS = (ValueError, IndexError, KeyError, AttributeError, TypeError, OverflowError)
#: OPTIONAL_HEADER.Magic of a PE32+ image (pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS).
_PE32_PLUS = 0x20B


def _parse_pe(data: bytes) -> pefile.PE | None:
    import pefile

    try:
        return pefile.PE(data=data, fast_load=True)
    except (pefile.PEFormatError, *_PE_VALUE_ERRORS):
        return None


def _align_down(value: int, alignment: int) -> int:
    return value // alignment * alignment if alignment else value


def _align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment if alignment else value


def _pe_sections(pe: pefile.PE, size: int) -> tuple[Section, ...]:
    """ClamAV rounds PointerToRawData down and SizeOfRawData up to FileAlignment, then clips the size at
    the end of the file (clam.exe's pointer 1 reads from 0; upack's 0x1f0 bytes hash as 512)."""
    falign = int(pe.OPTIONAL_HEADER.FileAlignment)
    falign = falign if falign and falign % 0x200 == 0 else 0
    sections = []
    for header in pe.sections:
        raw = _align_down(int(header.PointerToRawData), falign)
        raw_size = _align_up(int(header.SizeOfRawData), falign)
        if raw + raw_size > size:
            raw_size = max(0, size - raw)
        sections.append(Section(raw, raw_size, int(header.VirtualAddress), int(header.Misc_VirtualSize)))
    return tuple(sections)


def _rva_to_offset(rva: int, sections: tuple[Section, ...], size: int) -> int | None:
    for section in sections:
        span = max(section.virtual_size, section.raw_size)
        if section.rva <= rva < section.rva + span:
            offset = rva - section.rva + section.raw_offset
            return offset if offset < size and rva - section.rva < section.raw_size else None
    return rva if rva < size else None


def _pe_info(data: bytes) -> ExecInfo | None:
    pe = _parse_pe(data)
    if pe is None:
        return None
    sections = _pe_sections(pe, len(data))
    entry = int(pe.OPTIONAL_HEADER.AddressOfEntryPoint)
    plus = pe.OPTIONAL_HEADER.Magic == _PE32_PLUS
    return ExecInfo(_rva_to_offset(entry, sections, len(data)), sections, plus, entry)


_ELF_SHDR_SIZE = {32: 40, 64: 64}


def _elf_info(data: bytes) -> ExecInfo | None:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        if int(elf.header["e_shentsize"]) != _ELF_SHDR_SIZE[elf.elfclass]:
            return None  # clamscan rejects such a header, and with it EP and section offsets
        entry = int(elf.header["e_entry"])
        sections = tuple(
            Section(int(s["sh_offset"]), int(s["sh_size"]), int(s["sh_addr"]), int(s["sh_size"]))
            for s in elf.iter_sections()
            if s["sh_type"] != "SHT_NOBITS" and s["sh_type"] != "SHT_NULL"
        )
        segments = [seg.header for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
    except (ELFError, ValueError, KeyError, IndexError, TypeError, OverflowError, AssertionError):
        return None
    offset = None
    for seg in segments:
        if seg["p_vaddr"] <= entry < seg["p_vaddr"] + seg["p_filesz"]:
            offset = entry - seg["p_vaddr"] + seg["p_offset"]
            break
    return ExecInfo(offset if offset is not None and offset < len(data) else None, sections, False, entry)


_PARSERS: dict[FileType, Callable[[bytes], ExecInfo | None]] = {
    FileType.MSEXE: _pe_info,
    FileType.ELF: _elf_info,
}


def exec_info(data: bytes, ftype: FileType) -> ExecInfo | None:
    """Entry point and sections of a PE or ELF layer; None for other types or when parsing fails."""
    parser = _PARSERS.get(ftype)
    return parser(data) if parser else None


def pe_section_hashes(data: bytes) -> list[tuple[int, bytes]]:
    """(raw size, raw bytes) per PE section as `.mdb/.msb` hash them; PE32+ files get none (per the
    manual) and neither do sections with no raw data."""
    pe = _parse_pe(data)
    if pe is None or pe.OPTIONAL_HEADER.Magic == _PE32_PLUS:
        return []
    return [
        (s.raw_size, data[s.raw_offset : s.raw_offset + s.raw_size])
        for s in _pe_sections(pe, len(data))
        if s.raw_size > 0
    ]


_STRIPPED_SUFFIXES = (".dll", ".ocx", ".sys")


def _import_names(pe: pefile.PE) -> list[str]:
    from pefile import ordlookup

    names = []
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
        dll = entry.dll.decode("latin-1").lower()
        if dll.endswith(_STRIPPED_SUFFIXES):
            dll = dll[:-4]
        for imp in entry.imports:
            if imp.name:
                func = imp.name.decode("latin-1")
            else:
                func = ordlookup.ordLookup(entry.dll.lower(), imp.ordinal, make_name=True).decode()
            names.append(f"{dll}.{func.lower()}")
    return names


def pe_import_hash(data: bytes) -> tuple[str, int] | None:
    """ClamAV's imphash as `sigtool --imp` prints it: MD5 hex of `dll.func,dll.func...` and its length."""
    import pefile

    pe = _parse_pe(data)
    if pe is None or pe.OPTIONAL_HEADER.Magic == _PE32_PLUS:
        return None
    try:
        pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]])
    except (pefile.PEFormatError, *_PE_VALUE_ERRORS):
        return None
    names = _import_names(pe)
    if not names:
        return None
    text = ",".join(names).encode("latin-1")
    return hashlib.md5(text, usedforsecurity=False).hexdigest(), len(text)
