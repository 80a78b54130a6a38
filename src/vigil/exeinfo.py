"""Facts about executables that signatures refer to: entry point, sections, section and import hashes.

Parsing is done by pefile/pyelftools; this module only reduces their output to the few numbers ClamAV's
offset forms (`EP+n`, `Sx+n`, `SEx`, `SL+n`) and `.mdb/.msb/.imp` signatures need.
"""

from __future__ import annotations

from dataclasses import dataclass


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
