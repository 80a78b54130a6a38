"""ClamAV-compatible file typing: the 1.4.6 built-in magic table plus its text heuristic.

ClamAV decides a layer's type from its first 1024 bytes in three steps, and the order is observable in
which target types apply, so it is reproduced step by step rather than approximated:

1. fixed magic at a fixed offset (`.ftm` type 0); the table is a linked list built by prepending, so the
   *last* line of the table is tried first;
2. if nothing matched: the text heuristic (ASCII / UTF-8 / UTF-16 / binary), then the tar checksum test;
3. for text and binary results only: the body-syntax magic (`.ftm` type 1, e.g. HTML markers, mail headers,
   embedded PE/SFX markers) folded by ClamAV's "bigger type number wins" rule, then an HTML check on a
   UTF-16 view.

A user `.ftm` with any type-0 line replaces the whole built-in table (verified with clamscan 1.4.6: a zip is
then "binary data"); a user file with only type-1 lines adds to it.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Protocol

from vigil.engine.magic_syntax import NeedleIndex, hex_regex, required_literal
from vigil.engine.magic_table import BUILTIN_LINES
from vigil.types import FileType

FLEVEL = 216  # clamscan 1.4.6's functionality level; table lines outside their range are skipped
MAGIC_BUFFER_SIZE = 1024  # ClamAV types a file from this many leading bytes

# libclamav's cli_file_t order: in body-magic typing a bigger number wins, and every type from SFX on wins
# regardless (so the last embedded SFX marker decides).
_ORDER = (
    "TEXT_ASCII TEXT_UTF8 TEXT_UTF16LE TEXT_UTF16BE BINARY_DATA ERROR MSEXE ELF MACHO MACHO_UNIBIN POSIX_TAR "
    "OLD_TAR CPIO_OLD CPIO_ODC CPIO_NEWC CPIO_CRC GZ ZIP BZ RAR ARJ MSSZDD MSOLE2 MSCAB MSCHM SIS SCRENC "
    "GRAPHICS GIF PNG JPEG TIFF RIFF BINHEX TNEF CRYPTFF PDF UUENCODED SCRIPT HTML_UTF16 RTF 7Z SWF JAVA "
    "XAR XZ OOXML_WORD OOXML_PPT OOXML_XL INTERNAL HWP3 OOXML_HWP PS EGG PART_ANY PART_HFSPLUS MBR "
    "HTML MAIL SFX ZIPSFX RARSFX 7ZSFX CABSFX ARJSFX EGGSFX NULSFT AUTOIT ISHIELD_MSI ISO9660 DMG GPT "
    "APM XDP XML_WORD "
    "XML_XL XML_HWP HWPOLE2 MHTML LNK UDF ONENOTE PYTHON_COMPILED LHA_LZH ALZ OTHER IGNORED"
)
_RANK = {f"CL_TYPE_{name}": rank for rank, name in enumerate(_ORDER.split())}
_RANK_SFX = _RANK["CL_TYPE_SFX"]
_ANY = "CL_TYPE_ANY"

_TEXT = frozenset({FileType.TEXT_ASCII, FileType.TEXT_UTF8, FileType.TEXT_UTF16LE, FileType.TEXT_UTF16BE})
_TEXTISH = _TEXT | {FileType.BINARY_DATA}
_HTML = frozenset({FileType.HTML, FileType.HTML_UTF16})


class MagicRuleLike(Protocol):
    """What `identify` needs of a user `.ftm` line (the ftm parser's `MagicRule` fits)."""

    @property
    def magictype(self) -> int: ...
    @property
    def offset(self) -> object: ...  # int or the offset text ("*", "n", "n,m", "EOF-n")
    @property
    def magic(self) -> object: ...  # hex text (body syntax for type 1) or raw bytes
    @property
    def rtype(self) -> object: ...  # FileType or CL_TYPE_ name
    @property
    def ftype(self) -> object: ...  # FileType or CL_TYPE_ name


@dataclass(frozen=True, slots=True)
class _Fixed:
    offset: int
    magic: bytes
    ftype: FileType


@dataclass(frozen=True, slots=True)
class _Body:
    lo: int | None  # None: anywhere
    span: int
    from_eof: bool
    regex: re.Pattern[bytes]
    rtype: str
    ftype: FileType
    needle: bytes  # every match contains it: rules whose needle is absent are skipped without a regex


@dataclass(frozen=True, slots=True)
class _Table:
    fixed: tuple[_Fixed, ...]  # already in lookup order (last line first)
    body: tuple[_Body, ...]
    #: (offset, first magic byte) -> (lookup order, rule), ascending: typing costs one dict probe per
    #: distinct offset instead of a comparison per rule
    fixed_index: dict[tuple[int, int], tuple[tuple[int, _Fixed], ...]] = field(
        default_factory=dict, compare=False, hash=False
    )
    fixed_offsets: tuple[int, ...] = ()
    needles: NeedleIndex = field(default_factory=lambda: NeedleIndex(()), compare=False, hash=False)
    #: required literal -> indexes of the body rules that need it, and the rules that need none: a
    #: layer tries only the rules whose literal it contains, not all of them
    body_by_needle: dict[bytes, tuple[int, ...]] = field(default_factory=dict, compare=False, hash=False)
    body_always: tuple[int, ...] = ()


def _fixed_index(fixed: Sequence[_Fixed]) -> dict[tuple[int, int], tuple[tuple[int, _Fixed], ...]]:
    index: dict[tuple[int, int], list[tuple[int, _Fixed]]] = {}
    for order, rule in enumerate(fixed):
        if rule.magic:
            index.setdefault((rule.offset, rule.magic[0]), []).append((order, rule))
    return {key: tuple(rules) for key, rules in index.items()}


def _table(fixed: tuple[_Fixed, ...], body: tuple[_Body, ...]) -> _Table:
    offsets = tuple(sorted({rule.offset for rule in fixed}))
    by_needle: dict[bytes, list[int]] = {}
    for index, rule in enumerate(body):
        if rule.needle:
            by_needle.setdefault(rule.needle, []).append(index)
    always = tuple(index for index, rule in enumerate(body) if not rule.needle)
    return _Table(fixed, body, _fixed_index(fixed), offsets, NeedleIndex([rule.needle for rule in body]),
                  {needle: tuple(ids) for needle, ids in by_needle.items()}, always)


# --- table construction ----------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return value.value if isinstance(value, FileType) else str(value)


def _in_level(fields: Sequence[str]) -> bool:
    low = int(fields[0]) if len(fields) > 0 and fields[0] else 0
    high = int(fields[1]) if len(fields) > 1 and fields[1] else 10**9
    return low <= FLEVEL <= high


def _offset_spec(text: str) -> tuple[int | None, int, bool]:
    if text == "*":
        return None, 0, False
    from_eof = text.startswith("EOF-")
    base, _, span = text.removeprefix("EOF-").partition(",")
    return int(base), int(span or 0), from_eof


@cache
def _compile(magictype: int, offset: str, magic: str, rtype: str, ftype: str) -> _Fixed | _Body | None:
    target = FileType.from_clamav_name(ftype)
    if target is None or magictype not in (0, 1):
        return None
    if magictype == 0:
        return _Fixed(int(offset), bytes.fromhex(magic), target)
    lo, span, from_eof = _offset_spec(offset)
    regex = re.compile(hex_regex(magic.lower()), re.DOTALL)
    return _Body(lo, span, from_eof, regex, rtype, target, required_literal(magic.lower()))


def _compile_line(line: str) -> _Fixed | _Body | None:
    fields = line.split(":")
    if not _in_level(fields[6:]):
        return None
    return _compile(int(fields[0]), fields[1], fields[2], fields[4], fields[5])


def _compile_rule(rule: MagicRuleLike) -> _Fixed | _Body | None:
    magic = rule.magic.hex() if isinstance(rule.magic, bytes) else str(rule.magic)
    rtype, ftype = _type_name(rule.rtype), _type_name(rule.ftype)
    return _compile(int(rule.magictype), str(rule.offset), magic, rtype, ftype)


def _assemble(compiled: Iterable[_Fixed | _Body | None]) -> _Table:
    rules = [rule for rule in compiled if rule is not None]
    fixed = tuple(reversed([rule for rule in rules if isinstance(rule, _Fixed)]))
    return _table(fixed, tuple(rule for rule in rules if isinstance(rule, _Body)))


@cache
def _builtin_table() -> _Table:
    return _assemble(_compile_line(line) for line in BUILTIN_LINES)


def _table_for(extra_rules: Sequence[MagicRuleLike]) -> _Table:
    if not extra_rules:
        return _builtin_table()
    return _user_table(tuple(extra_rules))


@lru_cache(maxsize=8)
def _user_table(extra_rules: tuple[MagicRuleLike, ...]) -> _Table:
    """User type-0 lines replace the built-in table wholesale; user type-1 lines are added to it.

    Built once per rule set, not per layer: a table's literal index compiles a hyperscan database."""
    user = _assemble(_compile_rule(rule) for rule in extra_rules)
    if user.fixed:
        return user
    builtin = _builtin_table()
    return _table(builtin.fixed, user.body + builtin.body)


# --- the three typing steps ------------------------------------------------------------------------------


def _fixed_type(table: _Table, buf: bytes) -> FileType | None:
    """The first rule in lookup order whose magic is at its offset."""
    best: tuple[int, _Fixed] | None = None
    for offset, first in _probes(table, buf):
        for order, rule in table.fixed_index.get((offset, first), ()):
            if best is not None and order > best[0]:
                break
            if buf[offset : offset + len(rule.magic)] == rule.magic:
                best = (order, rule)
                break
    return best[1].ftype if best is not None else None


def _probes(table: _Table, buf: bytes) -> Iterator[tuple[int, int]]:
    for offset in table.fixed_offsets:
        if offset < len(buf):
            yield offset, buf[offset]


# Bytes that never occur in text (file(1)'s table as ClamAV uses it); everything else counts as "ASCII".
_NOT_TEXT = bytes([*range(0x00, 0x07), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_NOT_TEXT_SET = frozenset(_NOT_TEXT)


_TEXT_BYTES = bytes(sorted(set(range(256)) - _NOT_TEXT_SET))


def _is_ascii(buf: bytes) -> bool:
    return not buf.translate(None, delete=_TEXT_BYTES)


def _utf8_trail(buf: bytes, pos: int) -> int:
    lead = buf[pos]
    for following, mask in ((1, 0x20), (2, 0x10), (3, 0x08), (4, 0x04), (5, 0x02)):
        if not lead & mask:
            return following
    return -1


def _is_utf8(buf: bytes) -> bool:
    """ClamAV's td_isutf8: valid sequences, no control bytes, at least one multi-byte character."""
    pos, gotone = 0, False
    while pos < len(buf):
        byte = buf[pos]
        if byte < 0x80:
            if byte in _NOT_TEXT_SET:
                return False
        elif not byte & 0x40:
            return False
        else:
            following = _utf8_trail(buf, pos)
            if following < 0:
                return False
            for _ in range(following):
                pos += 1
                if pos >= len(buf):
                    return gotone
                if buf[pos] & 0xC0 != 0x80:
                    return False
            gotone = True
        pos += 1
    return gotone


def _utf16_kind(buf: bytes) -> FileType | None:
    """ClamAV's td_isutf16: without a BOM the data is read big-endian from byte 2 on, which is why
    `00 01 02 03` is "UTF-16BE text"."""
    if len(buf) < 2:
        return None
    big = buf[:2] != b"\xff\xfe"
    bom = buf[:2] in (b"\xff\xfe", b"\xfe\xff")
    bad = 0
    for pos in range(2, len(buf) - 1, 2):
        pair = buf[pos : pos + 2]
        unit = int.from_bytes(pair, "big" if big else "little")
        if unit == 0xFFFE:
            return None
        if unit < 128 and unit in _NOT_TEXT_SET:
            if not bom:
                return None
            bad += 1
    if bom and bad >= len(buf) // 2:
        return None
    return FileType.TEXT_UTF16BE if big else FileType.TEXT_UTF16LE


def text_type(buf: bytes) -> FileType:
    """The fallback when no fixed magic matched (libclamav's cli_texttype)."""
    if _is_ascii(buf):
        return FileType.TEXT_ASCII
    if _is_utf8(buf):
        return FileType.TEXT_UTF8
    return _utf16_kind(buf) or FileType.BINARY_DATA


def _from_octal(field: bytes) -> int:
    text = field.decode("latin-1")
    stripped = text.lstrip(" \t\n\v\f\r")
    if not stripped or len(text) - len(stripped) >= len(field):
        return -1
    digits = re.match(r"[0-7]*", stripped)
    value_text = digits.group(0) if digits else ""
    rest = stripped[len(value_text) :]
    if rest and rest[0] not in "\0 \t\n\v\f\r":
        return -1
    return int(value_text or "0", 8)


def _tar_kind(buf: bytes) -> FileType | None:
    """file(1)'s is_tar, as ClamAV runs it on data it would otherwise call binary."""
    if len(buf) < 512:
        return None
    total = sum(buf[:512]) - sum(buf[148:156]) + ord(" ") * 8
    if total != _from_octal(buf[148:156]):
        return None
    return FileType.POSIX_TAR if buf[257:265] == b"ustar  \0" else FileType.OLD_TAR


_OOXML_PREFIXES = (
    (b"xl/", FileType.OOXML_XL),
    (b"ppt/", FileType.OOXML_PPT),
    (b"word/", FileType.OOXML_WORD),
    (b"Contents/content.hpf", FileType.OOXML_HWP),
)


def _zip_kind(buf: bytes) -> FileType:
    """OOXML documents are zips whose first three local headers name `word/`, `xl/`, `ppt/` entries."""
    pos, seen = 0, 0
    while seen < 3 and len(buf) > 70:
        pos = buf.find(b"PK\x03\x04", pos)
        if pos < 0 or len(buf) - (pos + 30) <= 22:
            break
        name = buf[pos + 30 : pos + 30 + 22]
        for prefix, ftype in _OOXML_PREFIXES:
            if name.startswith(prefix):
                return ftype
        pos, seen = pos + 30, seen + 1
    return FileType.ZIP


def _first_end(rule: _Body, buf: bytes, size: int) -> int | None:
    if rule.lo is None:
        found = rule.regex.search(buf)
        return found.end() if found else None
    low = size - rule.lo if rule.from_eof else rule.lo
    if low < 0:
        return None
    found = rule.regex.search(buf, low)
    if found is None or found.start() > low + rule.span:
        return None
    return found.end()


def _body_type(table: _Table, buf: bytes, size: int, base: str) -> FileType | None:
    """Fold type-1 hits in match order: a bigger type number wins, SFX-and-up and MSEXE always win."""
    hits = []
    candidates = [*table.body_always]
    for needle in table.needles.present(buf):
        candidates += table.body_by_needle[needle]
    for index in candidates:
        rule = table.body[index]
        if rule.rtype not in (_ANY, base):
            continue
        end = _first_end(rule, buf, size)
        if end is not None:
            hits.append((end, index, rule.ftype))
    best, best_rank = None, -1
    for _end, _index, ftype in sorted(hits):
        if ftype is FileType.IGNORED:
            return ftype
        rank = _RANK.get(ftype.value, 0)
        if rank > best_rank or rank >= _RANK_SFX or ftype is FileType.MSEXE:
            best, best_rank = ftype, rank
    return best


def _utf16_squash(buf: bytes) -> bytes:
    """cli_utf16toascii's lossy view ((high << 4) + low per pair): only UTF-16LE ASCII survives it."""
    pairs = len(buf) // 2
    low, high = bytearray(2 * pairs), bytearray(2 * pairs)
    low[0::2], high[0::2] = buf[0 : 2 * pairs : 2], buf[1 : 2 * pairs : 2]
    # one 16-bit lane per pair, so the whole sum is a few big-integer operations instead of a byte loop
    lanes = int.from_bytes(low, "little") + (int.from_bytes(high, "little") << 4)
    return lanes.to_bytes(2 * pairs, "little")[0::2]


_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF8, "utf-8"),
)


def _bom_ascii(buf: bytes) -> bytes | None:
    if len(buf) < 4:
        return None
    for bom, codec in _BOMS:
        if buf.startswith(bom):
            text = buf[len(bom) :].decode(codec, errors="ignore")
            return text.encode("ascii", errors="replace")
    return None


def _retype_textish(table: _Table, buf: bytes, size: int, base: FileType) -> FileType:
    found = _body_type(table, buf, size, base.value)
    if found is not None:
        return found
    squashed = _utf16_squash(buf)
    if squashed and _body_type(table, squashed, size, FileType.TEXT_ASCII.value) is FileType.HTML:
        return FileType.HTML_UTF16
    decoded = _bom_ascii(buf)
    if decoded and _body_type(table, decoded, size, _ANY) is FileType.HTML:
        return FileType.HTML
    return base


# ISO 9660: the primary volume descriptor (type 1, "CD001") at 32768 and the next descriptor 2048 bytes on,
# as in the ISO9660 body magic; the window is the magic's longest reach from 32768.
_ISO_AT = 32768
_ISO_MAGIC = re.compile(rb"\x01CD001.{2043,2443}CD001", re.DOTALL)


def _is_iso(data: bytes) -> bool:
    """clamscan types an ISO image as binary data, then its raw scan hits the ISO9660 body magic at 32768
    and it scans the image as ISO. That offset is past the 1024 typing bytes, so it gets its own look."""
    return _ISO_MAGIC.match(bytes(data[_ISO_AT : _ISO_AT + 6 + 2443 + 5])) is not None


def identify(data: bytes, extra_rules: Sequence[MagicRuleLike] = ()) -> FileType:
    """Type `data` the way clamscan 1.4.6 types a layer (its "Recognized ..." debug line), except that an
    ISO 9660 image is ISO9660 where clamscan says binary data and finds the ISO in its raw scan."""
    table = _table_for(extra_rules)
    buf = bytes(data[:MAGIC_BUFFER_SIZE])
    ftype = _fixed_type(table, buf)
    if ftype is FileType.ZIP and len(buf) > 70:
        return _zip_kind(buf)
    if ftype is None:
        ftype = text_type(buf)
        if ftype is FileType.BINARY_DATA:
            ftype = _tar_kind(buf) or ftype
    if ftype not in _TEXTISH:
        return ftype
    ftype = _retype_textish(table, buf, len(data), ftype)
    if ftype is FileType.BINARY_DATA and _is_iso(data):
        return FileType.ISO9660
    return ftype


# --- what the matcher needs to know about a type ---------------------------------------------------------

_TARGET_OF: dict[FileType, int] = {
    FileType.MSEXE: 1,
    FileType.MSOLE2: 2,
    FileType.HTML: 3,
    FileType.HTML_UTF16: 3,
    FileType.MAIL: 4,
    **dict.fromkeys((FileType.GRAPHICS, FileType.GIF, FileType.PNG, FileType.JPEG, FileType.TIFF), 5),
    FileType.ELF: 6,
    **dict.fromkeys(_TEXT, 7),
    FileType.MACHO: 9,
    FileType.MACHO_UNIBIN: 9,
    FileType.PDF: 10,
    FileType.SWF: 11,
    FileType.JAVA: 12,
    FileType.INTERNAL: 13,
    FileType.BINARY_DATA: 14,  # clamscan 1.4.6: a target-14 ("other") signature hits unknown binary data
}


def target_type_of(ftype: FileType) -> int:
    """The `.ndb` target type (besides 0) whose signatures apply to a layer of this type; 0 if none."""
    return _TARGET_OF.get(ftype, 0)


def is_text(ftype: FileType) -> bool:
    """Text layers also get the normalised-text pass (clamscan's cli_scanscript)."""
    return ftype in _TEXT


def is_html(ftype: FileType) -> bool:
    """HTML layers are matched on the normalised HTML view only, never on their raw bytes."""
    return ftype in _HTML
