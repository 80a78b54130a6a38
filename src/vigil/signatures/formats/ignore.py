"""`.ign2` (`NAME` or `NAME:MD5`) and legacy `.ign` (`DBFILE:LINE:NAME`) ignore lists.

Both suffixes share one loader in clamscan 1.4.6, so either form works in either file. Observed rules:
- a name matches exactly (case-sensitive, no substrings); names shorter than 3 characters are padded
  with spaces on both sides of the comparison;
- the signature's name is first normalised: a trailing `.UNOFFICIAL` written in the database, or a
  trailing `.{...}` clause, is stripped; so the `.UNOFFICIAL` clamscan appends never plays a part;
- `NAME:MD5` drops the signature only while the MD5 of its whole database line matches;
- in the legacy form only NAME counts: DBFILE and LINE are not compared at all;
- when a name is listed twice, the entry loaded last decides;
- the MD5 of a `NAME:MD5` line stays attached to the following `NAME` and `DBFILE:LINE:NAME` lines of
  the same file: clamscan keeps a pointer into its line buffer, so those entries read as their MD5
  whatever bytes that buffer holds at the old position (`_LineBuffer` reproduces it);
- an empty file is fine; an empty name, a malformed MD5 or more than three fields is a load error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vigil.errors import SignatureError
from vigil.signatures.records import line_md5

_MIN_LEN = 3
_UNOFFICIAL = ".UNOFFICIAL"
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_MD5_HEX_LEN = 32
_MAX_FIELDS = 3
_NAME_MD5_FIELDS = 2


def _pad(name: str) -> str:
    return name + " " * (_MIN_LEN - len(name)) if len(name) < _MIN_LEN else name


def normalise_name(name: str) -> str:
    """The name clamscan looks up in its ignore table for a signature called `name`."""
    if len(name) > _MIN_LEN and name.endswith("}"):
        cut = name.find(".{")
        return _pad(name[:cut]) if cut >= 0 else name
    if len(name) > len(_UNOFFICIAL):
        return _pad(name.removesuffix(_UNOFFICIAL)) if name.endswith(_UNOFFICIAL) else name
    return _pad(name)


class _LineBuffer:
    """clamscan's fixed line buffer, so a stale MD5 pointer reads what clamscan would read."""

    def __init__(self) -> None:
        self._data = bytearray()

    def load(self, raw: bytes) -> None:
        """Copy one line as `fgets` then `cli_chomp` leave it: text, NULs where `\\r\\n` were."""
        text = raw.rstrip(b"\r")
        chunk = text + b"\0" * (len(raw) - len(text) + 2)  # the '\n' and fgets' terminator, NULed
        if len(self._data) < len(chunk):
            self._data.extend(b"\0" * (len(chunk) - len(self._data)))
        self._data[: len(chunk)] = chunk

    def cut(self, offset: int) -> None:
        """`cli_strtokenize` writes a NUL over each separator it splits at."""
        self._data[offset] = 0

    def write_padded(self, name: bytes) -> None:
        """clamscan pads a short name in place, NUL-terminated at 3 (clobbering a `AB:MD5` MD5)."""
        self._data[: _MIN_LEN + 1] = name.ljust(_MIN_LEN, b" ") + b"\0"

    def string_at(self, offset: int) -> bytes:
        end = self._data.find(b"\0", offset)
        return bytes(self._data[offset : end if end >= 0 else len(self._data)])


@dataclass(slots=True)
class IgnoreList:
    """Names (as clamscan normalises them) → the MD5 the line must have, or None for any line."""

    entries: dict[str, str | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def is_ignored(self, name: str, line: str) -> bool:
        key = normalise_name(name)
        if key not in self.entries:
            return False
        digest = self.entries[key]
        return digest is None or line_md5(line) == digest

    def add(self, name: str, digest: str | None) -> None:
        self.entries.pop(_pad(name), None)  # the entry loaded last decides: move it to the end too
        self.entries[_pad(name)] = digest.lower() if digest is not None else None

    def load(self, file: str, lines: Iterable[tuple[int, str]]) -> None:
        """Add one file's entries. `lines` must include comment lines (they refill clamscan's buffer)."""
        buffer = _LineBuffer()
        md5_at: int | None = None  # offset of the last NAME:MD5 line's MD5 in the buffer
        for lineno, text in lines:
            raw = text.encode("utf-8", "surrogateescape")
            buffer.load(raw)
            if raw.startswith(b"#"):
                continue
            fields, offsets = _split(raw.rstrip(b"\r"))
            if len(fields) > _MAX_FIELDS:
                raise SignatureError(file, lineno, "Malformed database (too many fields)")
            for offset in offsets:
                buffer.cut(offset)
            if len(fields) == _NAME_MD5_FIELDS:
                md5_at = offsets[0] + 1
            name = fields[0] if len(fields) < _MAX_FIELDS else fields[2]
            if not name:
                raise SignatureError(file, lineno, "No signature name provided")
            if len(name) < _MIN_LEN:
                buffer.write_padded(name)
            digest = None if md5_at is None else _md5_text(buffer.string_at(md5_at), file, lineno)
            self.add(name.decode("utf-8", "surrogateescape"), digest)


def _split(raw: bytes) -> tuple[list[bytes], list[int]]:
    """Fields and the offsets of the separators clamscan NULs (it stops after four fields)."""
    offsets: list[int] = []
    start = 0
    while len(offsets) < _MAX_FIELDS:
        found = raw.find(b":", start)
        if found < 0:
            break
        offsets.append(found)
        start = found + 1
    bounds = [-1, *offsets, len(raw)]
    fields = [raw[bounds[i] + 1 : bounds[i + 1]] for i in range(len(bounds) - 1)]
    return fields, offsets


def _md5_text(raw: bytes, file: str, lineno: int) -> str:
    text = raw.decode("latin-1")
    if len(text) != _MD5_HEX_LEN or not set(text) <= _HEXDIGITS:
        raise SignatureError(file, lineno, "Malformed MD5 string")
    return text.lower()


def parse_ignore(file: str, lines: Iterable[tuple[int, str]], into: IgnoreList | None = None) -> IgnoreList:
    """Read one `.ign`/`.ign2` file (comment lines included) into `into` or a new list."""
    ignores = into if into is not None else IgnoreList()
    ignores.load(file, lines)
    return ignores
