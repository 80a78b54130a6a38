"""sigtool's everyday jobs: hash lines for files, hex dumps, readable signatures, database lint.

Lint rules (what makes ClamAV slow or wrong, found without loading the whole engine):
- `invalid`: a body pattern that Vigil's hex parser rejects;
- `short`: a body pattern whose longest fixed run is under 4 bytes (the matcher has no good anchor);
- `slow`: a pattern with more than 4 unbounded gaps (`*`, `{n-}`), each one a backtracking point;
- `duplicate`: the same hash or body twice (in one file or across files);
- `name-collision`: one signature name for different contents (reports would be ambiguous).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from vigil.signatures.hexpattern import PatternError, parse_hex
from vigil.signatures.loader import suffix_of

_HASHES = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256}
_TOKEN = re.compile(r"[0-9a-fA-F]{2}|\?\?|[0-9a-fA-F]\?|\?[0-9a-fA-F]|\*|\{[^}]*\}|\[[^\]]*\]|!?\(|\)|\||.")
_MIN_ANCHOR = 4
_MAX_OPEN_GAPS = 4
_HASH_SUFFIXES = frozenset({".hdb", ".hsb", ".hdu", ".hsu", ".mdb", ".msb", ".mdu", ".msu"})


@dataclass(frozen=True, slots=True)
class Finding:
    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.message}"


def hash_lines(paths: Sequence[str], algorithm: str = "md5") -> Iterator[str]:
    """`.hdb` (md5) / `.hsb` (sha1, sha256) lines `HASH:SIZE:NAME`, named after each file."""
    for path in paths:
        digest = _HASHES[algorithm]()
        size = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        yield f"{digest.hexdigest()}:{size}:{os.path.basename(path)}"


def hexdump(data: bytes) -> str:
    return data.hex()


def describe_pattern(text: str) -> str:
    """A readable form of a hex pattern: printable runs quoted, wildcards spelled out."""
    out: list[str] = []
    run = bytearray()
    for match in _TOKEN.finditer(text):
        token = match.group()
        if len(token) == 2 and all(c in "0123456789abcdefABCDEF" for c in token):
            run.append(int(token, 16))
            continue
        if run:
            out.append(_quote(bytes(run)))
            run.clear()
        out.append(_WILDCARDS.get(token, token))
    if run:
        out.append(_quote(bytes(run)))
    return " ".join(out)


_WILDCARDS = {"??": "<any byte>", "*": "<any bytes>", "(": "(", "!(": "not(", ")": ")", "|": "|"}


def _quote(data: bytes) -> str:
    if all(32 <= b < 127 for b in data):
        return '"' + data.decode("ascii").replace('"', '\\"') + '"'
    return repr(data)[1:]


def decode_line(line: str, suffix: str = "") -> str:
    """Explain one signature line; the format comes from `suffix` or is guessed from the field count."""
    fields = line.split(":")
    if suffix in _HASH_SUFFIXES or (not suffix and len(fields) == 3 and ";" not in line):
        return f"hash signature {fields[-1]!r}: hash {fields[0]} size {fields[1]}"
    if suffix == ".ldb" or ";" in line:
        return _decode_ldb(line)
    if len(fields) >= 4:
        _check(fields[3])
        return (
            f"body signature {fields[0]!r}: target {fields[1]}, offset {fields[2]}\n"
            f"  pattern: {describe_pattern(fields[3])}"
        )
    raise ValueError("unrecognised signature line")


def _check(pattern: str) -> None:
    try:
        parse_hex(pattern, strict=False)
    except PatternError as exc:
        raise ValueError(f"invalid pattern: {exc}") from exc


def _decode_ldb(line: str) -> str:
    parts = line.split(";")
    if len(parts) < 4:
        raise ValueError("logical signature needs NAME;TDB;LOGIC;SUBSIG")
    out = [f"logical signature {parts[0]!r}: {parts[1]}", f"  logic: {parts[2]}"]
    for index, subsig in enumerate(parts[3:]):
        body = subsig.split("::", 1)[0]
        offset, sep, pattern = body.rpartition(":")
        shown = describe_pattern(pattern) if _is_hexlike(pattern) else subsig
        out.append(f"  {index}: {'at ' + offset + ' ' if sep else ''}{shown}")
    return "\n".join(out)


def _is_hexlike(pattern: str) -> bool:
    try:
        parse_hex(pattern, strict=False)
    except PatternError:
        return False
    return True


# --- lint ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Seen:
    bodies: dict[str, tuple[str, int]]
    names: dict[str, str]


def lint_paths(paths: Sequence[str]) -> list[Finding]:
    seen = _Seen({}, {})
    findings: list[Finding] = []
    for path in _files(paths):
        suffix = suffix_of(path)
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, raw in enumerate(fh, 1):
                line = raw.rstrip("\r\n")
                if line and not line.startswith("#"):
                    findings.extend(_lint_line(path, number, line, suffix, seen))
    return findings


def _files(paths: Sequence[str]) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            yield from (os.path.join(path, n) for n in sorted(os.listdir(path)) if suffix_of(n) in _LINTED)
        else:
            yield path


def _lint_line(path: str, number: int, line: str, suffix: str, seen: _Seen) -> Iterator[Finding]:
    key_name = _key_and_name(line, suffix)
    if key_name is None:
        return
    key, name, patterns = key_name
    previous = seen.bodies.get(key)
    if previous is not None:
        yield Finding(path, number, "duplicate", f"same as {previous[0]}:{previous[1]}")
    else:
        seen.bodies[key] = (path, number)
    if name in seen.names and seen.names[name] != key:
        yield Finding(path, number, "name-collision", f"{name!r} is used for different signatures")
    seen.names.setdefault(name, key)
    for pattern in patterns:
        yield from _lint_pattern(path, number, pattern)


def _key_and_name(line: str, suffix: str) -> tuple[str, str, list[str]] | None:
    if suffix in _HASH_SUFFIXES:
        fields = line.split(":")
        return (f"hash:{fields[0].lower()}:{fields[1] if len(fields) > 1 else ''}", fields[-1], [])
    if suffix == ".ndb":
        fields = line.split(":")
        if len(fields) < 4:
            return None
        return (f"ndb:{':'.join(fields[1:])}", fields[0], [fields[3]])
    if suffix == ".ldb":
        parts = line.split(";")
        subsigs = [s.split("::", 1)[0].rpartition(":")[2] for s in parts[3:]]
        return (f"ldb:{';'.join(parts[1:])}", parts[0], [s for s in subsigs if "/" not in s and "#" not in s])
    return None


def longest_fixed_run(pattern: str) -> int:
    """The longest run of fully specified bytes outside alternatives: the matcher's best anchor."""
    best = current = depth = 0
    for match in _TOKEN.finditer(pattern):
        piece = match.group()
        depth += piece.endswith("(") - (piece == ")")
        if depth == 0 and len(piece) == 2 and all(c in "0123456789abcdefABCDEF" for c in piece):
            current += 1
            best = max(best, current)
        else:
            current = 0
    return best


def _lint_pattern(path: str, number: int, pattern: str) -> Iterator[Finding]:
    try:
        parse_hex(pattern, strict=False)
    except PatternError as exc:
        yield Finding(path, number, "invalid", str(exc))
        return
    run = longest_fixed_run(pattern)
    if run < _MIN_ANCHOR:
        yield Finding(path, number, "short", f"longest fixed run is {run} bytes")
    open_gaps = pattern.count("*") + len(re.findall(r"\{\d*-\}", pattern))
    if open_gaps > _MAX_OPEN_GAPS:
        yield Finding(path, number, "slow", f"{open_gaps} unbounded gaps")


_LINTED = _HASH_SUFFIXES | {".ndb", ".ldb"}
