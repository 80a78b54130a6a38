"""Database files and directories → signature records, with clamscan's load rules.

Two passes: ignore lists (`.ign`, `.ign2`) from every source first, then everything else, so an ignore
entry applies whatever the file order. Any malformed line fails the whole load (clamscan exits 2).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from vigil.errors import DatabaseError, SignatureError
from vigil.signatures.formats import (
    CONTAINER_SUFFIXES,
    FORMATS,
    IGNORE_SUFFIXES,
    PUA_SUFFIXES,
    SKIPPED_SUFFIXES,
    YARA_SUFFIXES,
)
from vigil.signatures.formats.cvd import read_container
from vigil.signatures.formats.ignore import IgnoreList
from vigil.signatures.formats.yara import read_yara_source
from vigil.signatures.records import ParseContext, YaraSource

_KNOWN = frozenset(FORMATS) | IGNORE_SUFFIXES | CONTAINER_SUFFIXES | YARA_SUFFIXES | SKIPPED_SUFFIXES
#: Empty files are a load error in clamscan except for these.
_MAY_BE_EMPTY = frozenset({".ign2", ".ign"}) | YARA_SUFFIXES | SKIPPED_SUFFIXES


@dataclass(frozen=True, slots=True)
class Source:
    """One database file's bytes, wherever they came from (a path or a container member)."""

    name: str
    suffix: str
    data: bytes
    official: bool


@dataclass(slots=True)
class LoadedSignatures:
    records: list[object] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    digest: str = ""  # SHA-256 over every source's name and bytes: the database version and cache key
    warnings: list[str] = field(default_factory=list)
    official_version: int = 0
    official_time: int = 0


def suffix_of(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def load_paths(paths: Sequence[str], *, detect_pua: bool = False, official: bool = False) -> LoadedSignatures:
    """Load files and directories given with `-d` (non-recursive, sorted by name, like clamscan)."""
    loaded = LoadedSignatures()
    sources = list(_sources(paths, official, loaded))
    ignores = IgnoreList()
    for source in sources:
        if source.suffix in IGNORE_SUFFIXES:
            lines = list(_lines(source))
            (ignores.add_ign2 if source.suffix == ".ign2" else ignores.add_ign)(lines)
    for source in sources:
        if source.suffix in PUA_SUFFIXES and not detect_pua:
            continue
        loaded.records.extend(_parse(source, ignores, detect_pua))
    sha = hashlib.sha256()
    for source in sources:
        sha.update(
            source.name.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(source.data).digest()
        )
        loaded.files.append(source.name)
    loaded.digest = sha.hexdigest()
    return loaded


def _parse(source: Source, ignores: IgnoreList, detect_pua: bool) -> Iterator[object]:
    if source.suffix in YARA_SUFFIXES:
        yield _yara(source)
        return
    parser = FORMATS.get(source.suffix)
    if parser is None:
        return
    ctx = ParseContext(source.name, official=source.official, detect_pua=detect_pua)
    if ignores:
        ctx.is_ignored = ignores.is_ignored
    yield from parser(_lines(source), ctx)


def _yara(source: Source) -> YaraSource:
    if os.path.isfile(source.name):
        return read_yara_source(source.name, source.official)
    return YaraSource(source.name, source.data.decode("utf-8", "surrogateescape"), source.official)


def _lines(source: Source) -> Iterator[tuple[int, str]]:
    """Numbered lines without endings; comments dropped; a blank line or an empty file is an error."""
    text = source.data.decode("utf-8", "surrogateescape")
    if not text and source.suffix not in _MAY_BE_EMPTY:
        raise DatabaseError(f"{source.name}: Malformed database (empty file)")
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    for lineno, line in enumerate(pieces, start=1):
        line = line.removesuffix("\r")
        if not line:
            raise SignatureError(source.name, lineno, "Malformed database (blank line)")
        if not line.startswith("#"):
            yield lineno, line


def _sources(paths: Sequence[str], official: bool, loaded: LoadedSignatures) -> Iterator[Source]:
    for path in paths:
        if os.path.isdir(path):
            yield from _dir_sources(path, official, loaded)
        elif os.path.exists(path):
            if suffix_of(path) not in _KNOWN:
                loaded.warnings.append(f"{path}: unknown extension - skipping")
                continue
            yield from _file_sources(path, official, loaded)
        else:
            raise DatabaseError(f"{path}: No such file or directory")


def _dir_sources(path: str, official: bool, loaded: LoadedSignatures) -> Iterator[Source]:
    names = sorted(n for n in os.listdir(path) if suffix_of(n) in _KNOWN)
    files = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
    if not files:
        raise DatabaseError(f"{path}: No supported database files found")
    for file in files:
        yield from _file_sources(file, official, loaded)


def _file_sources(path: str, official: bool, loaded: LoadedSignatures) -> Iterator[Source]:
    suffix = suffix_of(path)
    if suffix in CONTAINER_SUFFIXES:
        container = read_container(path)
        loaded.official_version = max(loaded.official_version, container.header.version)
        loaded.official_time = max(loaded.official_time, container.header.stime)
        for name, data in container.members:
            yield Source(f"{path}:{name}", suffix_of(name), data, container.official)
        return
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise DatabaseError(f"{path}: {exc.strerror}") from exc
    yield Source(path, suffix, data, official)
