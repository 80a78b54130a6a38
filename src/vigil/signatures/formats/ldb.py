"""`.ldb`/`.ldu` logical signatures: `NAME;TDB;LOGIC;SUB0;SUB1;…` (at most 64 subsignatures).

The order of checks follows what clamscan 1.4.6 reports when a line has several problems: the subsignature
count against the logic first, then the target description block key by key (an unknown key or type name
skips the signature silently the moment it is reached, a malformed value is a load error), then the
Engine/Target rules, then each subsignature. Whether `.ldu` loads at all (PUA) is the caller's decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from vigil.signatures.hexpattern import HexPattern, Modifiers, PatternError, parse_hex
from vigil.signatures.logic import LogicError, LogicExpr, indices, parse_logic
from vigil.signatures.offsets import Offset, OffsetError, parse_offset
from vigil.signatures.records import ParseContext, SigMeta
from vigil.types import FileType

__all__ = [
    "ByteCompareSub",
    "ContentSub",
    "LogicalSig",
    "MacroSub",
    "PcreSub",
    "SubSig",
    "TargetDescription",
    "parse_ldb",
]

MAX_SUBSIGS = 64
MAX_TARGET = 14
MAX_INTERMEDIATES = 16
#: Keys other than Target and Engine only load with `Engine:51-…` or higher.
_NEW_KEYS_FLEVEL = 51
_EXEC_TARGETS = frozenset({1, 6, 9})

Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TargetDescription:
    target: int
    engine: Range | None = None
    file_size: Range | None = None
    entry_point: Range | None = None
    number_of_sections: Range | None = None
    container: FileType | None = None
    intermediates: tuple[FileType, ...] | None = None  # FileType.ANY is a wildcard
    icon_group1: str | None = None
    icon_group2: str | None = None
    handler_type: FileType | None = None


@dataclass(frozen=True, slots=True)
class LogicalSig:
    meta: SigMeta
    tdb: TargetDescription
    logic: LogicExpr
    subsigs: tuple[SubSig, ...]


class _Skip(Exception):
    """The signature loads without error but must not be used (clamscan skips it silently)."""


# ------------------------------------------------------------------ target description block


def _digits(text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"invalid argument for {what}: {text!r}")
    return int(text)


def _range(text: str, what: str) -> Range:
    low, dash, high = text.partition("-")
    if not dash or not low.isdigit() or not (high.isdigit() or high == ""):
        raise ValueError(f"incorrect parameters in {what!r}: {text!r}")
    return int(low), int(high) if high else 0  # clamscan reads `51-` as 51-0, which never matches


def _file_type(text: str) -> FileType:
    found = FileType.from_clamav_name(text)
    if found is None:
        raise _Skip(f"unknown type {text!r}")
    return found


def _intermediates(text: str) -> tuple[FileType, ...]:
    names = text.split(">")
    if len(names) > MAX_INTERMEDIATES:
        raise ValueError(f"more than {MAX_INTERMEDIATES} intermediates")
    return tuple(_file_type(name) for name in names)


_Fields = dict[str, object]
_KEYS: dict[str, tuple[str, Callable[[str], object]]] = {
    "Target": ("target", lambda v: _digits(v, "Target")),
    "Engine": ("engine", lambda v: _range(v, "Engine")),
    "FileSize": ("file_size", lambda v: _range(v, "FileSize")),
    "EntryPoint": ("entry_point", lambda v: _range(v, "EntryPoint")),
    "NumberOfSections": ("number_of_sections", lambda v: _range(v, "NumberOfSections")),
    "Container": ("container", _file_type),
    "Intermediates": ("intermediates", _intermediates),
    "IconGroup1": ("icon_group1", str),
    "IconGroup2": ("icon_group2", str),
    "HandlerType": ("handler_type", _file_type),
}


def _tdb_fields(text: str) -> _Fields:
    fields: _Fields = {}
    for position, item in enumerate(text.split(",")):
        key, colon, value = item.partition(":")
        if not colon:
            raise ValueError(f"incorrect format of attribute {item!r}")
        if key not in _KEYS:
            raise _Skip(f"unknown TDB key {key!r}")
        if key == "Engine" and position != 0:
            raise ValueError("the Engine attribute must come first")
        attr, convert = _KEYS[key]
        fields[attr] = convert(value)
    return fields


def _check_tdb(fields: _Fields) -> TargetDescription:
    if "target" not in fields:
        raise ValueError("no target specified in TDB")
    engine = fields.get("engine")
    newer = set(fields) - {"target", "engine"}
    if newer and (not isinstance(engine, tuple) or engine[0] < _NEW_KEYS_FLEVEL):
        raise ValueError(f"TDB keys {sorted(newer)} need Engine with min level >= {_NEW_KEYS_FLEVEL}")
    tdb = TargetDescription(**fields)  # type: ignore[arg-type]
    exec_only = tdb.entry_point is not None or tdb.number_of_sections is not None
    if exec_only and tdb.target not in _EXEC_TARGETS:
        raise ValueError("EntryPoint/NumberOfSections need target type 1, 6 or 9")
    if (tdb.icon_group1 is not None or tdb.icon_group2 is not None) and tdb.target != 1:
        raise ValueError("IconGroup needs target type 1")
    return tdb


def parse_tdb(text: str, ctx: ParseContext) -> TargetDescription:
    """Parse a TDB; raises ValueError (load error) or _Skip (signature silently ignored)."""
    tdb = _check_tdb(_tdb_fields(text))
    if tdb.target > MAX_TARGET:
        raise _Skip(f"target type {tdb.target}")
    if tdb.engine is not None and not ctx.flevel_ok(*tdb.engine):
        raise _Skip("engine level out of range")
    return tdb


# ------------------------------------------------------------------ subsignatures


@dataclass(frozen=True, slots=True)
class ContentSub:
    offset: Offset
    pattern: HexPattern


@dataclass(frozen=True, slots=True)
class PcreSub:
    """`[OFFSET:]TRIGGER/REGEX/FLAGS`; `regex` is already translated to Python `re` syntax for `flags`."""

    trigger: LogicExpr | None
    regex: bytes
    flags: str
    offset: Offset | None


@dataclass(frozen=True, slots=True)
class ByteCompareSub:
    """`TRIGGER(>>OFF#OPTS#CMP[,CMP])`: read `length` bytes at the trigger's last match start ± offset."""

    trigger: int
    backwards: bool  # `<<`
    offset: int
    base: str  # h (hex text) | d (decimal text) | a (auto) | i (raw binary)
    endian: str | None  # l | b; clamscan loads h/a/i without one but never matches them
    exact: bool
    length: int
    comparisons: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class MacroSub:
    """`${min-max}GROUP$`: loads in clamscan 1.4.6 but was never seen to fire, so it never matches here."""

    min_gap: int
    max_gap: int
    group: int


SubSig = ContentSub | PcreSub | ByteCompareSub | MacroSub

_MODIFIERS = {"i": "nocase", "w": "wide", "a": "ascii", "f": "fullword"}


def _content(text: str, target: int) -> ContentSub:
    body, _, mods = text.partition("::")
    off_text, colon, hex_text = body.partition(":")
    if not colon:
        off_text, hex_text = "*", body
    unknown = set(mods) - set(_MODIFIERS)
    if unknown:
        raise ValueError(f"unknown subsignature modifier(s) {''.join(sorted(unknown))!r}")
    modifiers = Modifiers(**{_MODIFIERS[m]: True for m in mods})
    return ContentSub(parse_offset(off_text, target), parse_hex(hex_text, strict=False, modifiers=modifiers))


_MACRO = re.compile(r"\$\{(\d+)-(\d+)\}(\d+)\$")


def _macro(text: str) -> MacroSub:
    found = _MACRO.fullmatch(text)
    if found is None:
        raise ValueError(f"malformed macro subsignature {text!r}")
    low, high, group = (int(g) for g in found.groups())
    return MacroSub(low, high, group)


# -- PCRE

_PCRE_FLAGS = {"i": re.IGNORECASE, "s": re.DOTALL, "m": re.MULTILINE, "x": re.VERBOSE}
_PCRE_KNOWN = frozenset("ismxAEUgre")
_QUANTIFIER = re.compile(r"[*+?]|\{\d+(?:,\d*)?\}")


class _Translator:
    """PCRE → Python `re`: named groups, `E` (dollar at the very end only) and `U` (swap greediness)."""

    def __init__(self, regex: str, flags: str) -> None:
        self.src = regex
        self.ungreedy = "U" in flags
        self.dollar_end = "E" in flags and "m" not in flags
        self.out: list[str] = []
        self.pos = 0

    def run(self) -> str:
        after_paren = False
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if ch == "[":
                self.char_class()
            elif ch == "\\":
                self.take(2)
            elif self.src.startswith("(?<", self.pos) and self.src[self.pos + 3 : self.pos + 4] not in "=!":
                self.out.append("(?P<")
                self.pos += 3
            elif ch == "$" and self.dollar_end:
                self.out.append(r"\Z")
                self.pos += 1
            elif not after_paren and (quant := _QUANTIFIER.match(self.src, self.pos)) is not None:
                self.quantifier(quant.group())
            else:
                self.take(1)
            after_paren = ch == "(" and self.out[-1] == "("
        return "".join(self.out)

    def take(self, n: int) -> None:
        self.out.append(self.src[self.pos : self.pos + n])
        self.pos += n

    def char_class(self) -> None:
        start = self.pos
        self.pos += 1
        if self.src[self.pos : self.pos + 1] == "^":
            self.pos += 1
        if self.src[self.pos : self.pos + 1] == "]":
            self.pos += 1
        while self.pos < len(self.src) and self.src[self.pos] != "]":
            self.pos += 2 if self.src[self.pos] == "\\" else 1
        self.pos = min(self.pos + 1, len(self.src))
        self.out.append(self.src[start : self.pos])

    def quantifier(self, text: str) -> None:
        self.out.append(text)
        self.pos += len(text)
        follow = self.src[self.pos : self.pos + 1]
        if follow == "+":  # possessive: greediness does not apply
            self.take(1)
            return
        lazy = follow == "?"
        self.pos += lazy
        if lazy != self.ungreedy:
            self.out.append("?")


def pcre_flags(flags: str) -> int:
    """The Python `re` flags for a PCRE subsignature's flag letters."""
    value = 0
    for letter in flags:
        value |= _PCRE_FLAGS.get(letter, 0)
    return value


def _pcre(text: str, index: int, target: int) -> PcreSub:
    first, last = text.index("/"), text.rindex("/")
    if first == last:
        raise ValueError("PCRE subsignature has mismatched '/' delimiters")
    prefix, regex, flags = text[:first], text[first + 1 : last], text[last + 1 :]
    off_text, colon, trigger_text = prefix.rpartition(":")
    if not trigger_text:
        raise ValueError("PCRE subsignature must contain a logical trigger")
    trigger = parse_logic(trigger_text)
    if max(indices(trigger)) >= index:
        raise ValueError(f"PCRE subsignature {index} trigger refers to itself or a later subsignature")
    if unknown := set(flags) - _PCRE_KNOWN:
        raise ValueError(f"unknown PCRE flag(s) {''.join(sorted(unknown))!r}")
    translated = _Translator(regex, flags).run().encode("utf-8", "surrogateescape")
    try:
        re.compile(translated, pcre_flags(flags))
    except re.error as exc:
        raise ValueError(f"cannot compile PCRE {regex!r}: {exc}") from exc
    offset = parse_offset(off_text, target) if colon else None
    return PcreSub(trigger, translated, flags, offset)


# -- byte compare

_BCOMP = re.compile(r"(\d+)\((.*)\)", re.DOTALL)
_BCOMP_OPTS = re.compile(r"([a-z]*)(\d+)")
_BASES = frozenset("hdai")
_BINARY_LENGTHS = frozenset({1, 2, 4, 8})
_HEX_MAX_LENGTH = 18
_C_INT = re.compile(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def c_int(text: str) -> int:
    """An integer as C's strtol(…, 0) reads it (`0x` hex, leading-0 octal), with nothing left over."""
    found = _C_INT.fullmatch(text)
    if found is None:
        raise ValueError(f"invalid number {text!r}")
    sign, digits = found.groups()
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    else:
        value = int(digits, 8 if digits.startswith("0") else 10)
    return -value if sign == "-" else value


def _bcomp_opts(text: str) -> tuple[str, str | None, bool, int]:
    found = _BCOMP_OPTS.fullmatch(text)
    if found is None or int(found.group(2)) == 0:
        raise ValueError(f"invalid byte-compare options {text!r}")
    letters, length = found.group(1), int(found.group(2))
    bases = [c for c in letters if c in _BASES]
    endians = [c for c in letters if c in "lb"]
    if len(bases) != 1 or len(endians) > 1 or set(letters) - _BASES - set("lbe"):
        raise ValueError(f"invalid byte-compare options {text!r}")
    base, endian = bases[0], endians[0] if endians else None
    if base == "d" and endian == "l":
        raise ValueError("decimal byte-compare cannot be little-endian")
    if (base == "i" and length not in _BINARY_LENGTHS) or (base in "ha" and length > _HEX_MAX_LENGTH):
        raise ValueError(f"invalid byte-compare length {length}")
    return base, endian, "e" in letters, length


def _comparison(text: str) -> tuple[str, int]:
    if not text or text[0] not in "<>=":
        raise ValueError(f"invalid byte-compare comparison {text!r}")
    return text[0], c_int(text[1:])


def _byte_compare(text: str) -> ByteCompareSub:
    found = _BCOMP.fullmatch(text)
    inner = found.group(2) if found is not None else ""
    parts = inner[2:].split("#")
    if found is None or inner[:2] not in ("<<", ">>") or len(parts) != 3:
        raise ValueError(f"malformed byte-compare subsignature {text!r}")
    cmp_texts = parts[2].split(",")
    if len(cmp_texts) > 2:
        raise ValueError("too many byte-compare comparisons")
    base, endian, exact, length = _bcomp_opts(parts[1])
    comparisons = tuple(_comparison(c) for c in cmp_texts)
    return ByteCompareSub(
        int(found.group(1)), inner[:2] == "<<", c_int(parts[0]), base, endian, exact, length, comparisons
    )


def parse_subsig(text: str, index: int, target: int) -> SubSig:
    """Dispatch on the subsignature's shape: macro, PCRE (has `/`), byte compare (`N(…#…)`), hex."""
    if text.startswith("${"):
        return _macro(text)
    if "/" in text:
        return _pcre(text, index, target)
    if "#" in text and _BCOMP.fullmatch(text):
        return _byte_compare(text)
    return _content(text, target)


# ------------------------------------------------------------------ the line


def _logic(text: str, subsig_count: int) -> LogicExpr:
    logic = parse_logic(text)
    highest = max(indices(logic))
    if subsig_count != highest + 1:
        raise ValueError(
            f"the number of subsignatures ({subsig_count}) does not match the logic's highest index + 1"
            f" ({highest + 1})"
        )
    return logic


_SPLIT = re.compile(";")


def _parse_line(lineno: int, text: str, ctx: ParseContext) -> LogicalSig | None:
    fields = _SPLIT.split(text)
    if len(fields) < 4:
        raise ValueError("expected NAME;TDB;LOGIC;SUBSIG…")
    name, tdb_text, logic_text, *sub_texts = fields
    if len(sub_texts) > MAX_SUBSIGS:
        raise ValueError(f"too many subsignatures ({len(sub_texts)} > {MAX_SUBSIGS})")
    if not name:
        raise ValueError("empty signature name")
    logic = _logic(logic_text, len(sub_texts))
    try:
        tdb = parse_tdb(tdb_text, ctx)
    except _Skip:
        return None
    subsigs = tuple(parse_subsig(sub, index, tdb.target) for index, sub in enumerate(sub_texts))
    meta = ctx.meta(name, lineno, text)
    return None if meta is None else LogicalSig(meta, tdb, logic, subsigs)


def parse_ldb(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[LogicalSig]:
    """Yield one LogicalSig per loadable line; a malformed line raises `ctx.error` (the whole load fails)."""
    for lineno, text in lines:
        try:
            sig = _parse_line(lineno, text, ctx)
        except (PatternError, OffsetError, LogicError, ValueError) as exc:
            raise ctx.error(lineno, str(exc)) from exc
        if sig is not None:
            yield sig
