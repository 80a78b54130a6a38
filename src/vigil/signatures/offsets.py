"""ClamAV body-signature offsets (`*`, `n`, `EOF-n`, `EP±n`, `Sx+n`, `SEx`, `SL+n`, `$n$`, `VI`, `,s`).

An offset is reduced to an inclusive window of allowed match *start* positions once the layer's size and
executable facts are known, so matchers only compare integers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from vigil.exeinfo import ExecInfo

#: Target types whose layers carry executable facts (PE, ELF, Mach-O); EP/S offsets need one of them.
EXEC_TARGETS = frozenset({1, 6, 9})


class OffsetError(ValueError):
    """An offset field clamscan would refuse to load."""


@dataclass(frozen=True, slots=True)
class Offset:
    kind: str
    value: int = 0
    shift: int = 0
    extra: int = 0

    @property
    def anywhere(self) -> bool:
        return self.kind == "any"

    @property
    def needs_exe(self) -> bool:
        """Whether the window depends on the layer's entry point or sections (parsing those is costly)."""
        return self.kind in _EXEC_KINDS

    def window(self, size: int, exe: ExecInfo | None) -> tuple[int, int] | None:
        if self.kind == "any":
            return (0, size)
        start = _STARTS[self.kind](self, size, exe)
        if start is None or start < 0 or start >= size:
            return None
        hi = start + self.shift
        if self.kind == "sec_any" and exe is not None:
            hi = start + exe.sections[self.value].raw_size
        return (start, min(hi, size))


def _abs(off: Offset, size: int, exe: ExecInfo | None) -> int | None:
    return off.value


def _eof(off: Offset, size: int, exe: ExecInfo | None) -> int | None:
    return size - off.value if 0 < off.value <= size else None


def _ep(off: Offset, size: int, exe: ExecInfo | None) -> int | None:
    if exe is None or exe.entry_offset is None:
        return None
    return exe.entry_offset + off.value


def _sec(off: Offset, size: int, exe: ExecInfo | None) -> int | None:
    if exe is None or off.value >= len(exe.sections):
        return None
    return exe.sections[off.value].raw_offset + off.extra


def _last_sec(off: Offset, size: int, exe: ExecInfo | None) -> int | None:
    if exe is None or not exe.sections:
        return None
    return exe.sections[-1].raw_offset + off.extra


def _never(off: Offset, size: int, exe: ExecInfo | None) -> int | None:
    """Macro offsets only match through an `.ldb` macro; VI needs PE version-info ranges we don't model."""
    return None


#: Offset kinds whose window needs the layer's executable facts.
_EXEC_KINDS = frozenset({"ep", "sec", "sec_any", "last_sec"})

_Start = Callable[[Offset, int, ExecInfo | None], int | None]
_STARTS: dict[str, _Start] = {
    "abs": _abs,
    "eof": _eof,
    "ep": _ep,
    "sec": _sec,
    "sec_any": _sec,
    "last_sec": _last_sec,
    "macro": _never,
    "vi": _never,
}

# (regex over the offset without its ",s" shift, kind, needs an executable target). Numbers may be empty
# (`EP+`, `EOF-`, `10,` load in clamscan and mean 0).
_FORMS: tuple[tuple[re.Pattern[str], str, bool], ...] = (
    (re.compile(r"(\d+)"), "abs", False),
    (re.compile(r"EOF-(\d*)"), "eof", False),
    (re.compile(r"EP([+-]\d*)"), "ep", True),
    (re.compile(r"S(\d+)\+(\d*)"), "sec", True),
    (re.compile(r"SE(\d+)"), "sec_any", True),
    (re.compile(r"SL\+(\d*)"), "last_sec", True),
)
_MACRO = re.compile(r"\$(\d+)\$?")


def _num(text: str) -> int:
    return int(text) if text not in ("", "+", "-") else 0


def parse_offset(text: str, target: int) -> Offset:
    """Parse an `.ndb` offset field; EP/Sx/SEx/SL/VI need an executable target type (1, 6 or 9)."""
    if text == "*":
        return Offset("any")
    if (macro := _MACRO.fullmatch(text)) is not None:
        return Offset("macro", int(macro.group(1)))
    if text == "VI":
        return _checked(Offset("vi"), target, True, text)
    base, comma, shift_text = text.partition(",")
    if comma and not (shift_text == "" or shift_text.isdigit()):
        raise OffsetError(f"bad offset shift in {text!r}")
    shift = _num(shift_text)
    for pattern, kind, needs_exec in _FORMS:
        if (found := pattern.fullmatch(base)) is not None:
            groups = [_num(g) for g in found.groups()]
            value, extra = (groups[0], groups[1]) if len(groups) == 2 else (groups[0], 0)
            if kind == "last_sec":
                value, extra = 0, value
            return _checked(Offset(kind, value, shift, extra), target, needs_exec, text)
    raise OffsetError(f"bad offset {text!r}")


def _checked(offset: Offset, target: int, needs_exec: bool, text: str) -> Offset:
    if needs_exec and target not in EXEC_TARGETS:
        raise OffsetError(f"offset {text!r} needs target type 1, 6 or 9 (got {target})")
    return offset
