"""YARA matching through yara-x.

All rule files are compiled by one `yara_x.Compiler`, each in its own namespace (its path), so two files
may reuse a rule name and a `global` rule only constrains the rules of its own file. The compiled rules are
kept as yara-x's serialised bytes: that is what the on-disk DB cache stores and what crosses process
boundaries (yara-x `Rules` objects do not pickle). Each process deserialises lazily on its first scan and
keeps one `Scanner` per thread, because a yara-x Scanner is reusable for sequential scans but not
shareable between concurrent ones.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yara_x

from vigil.errors import DatabaseError, LimitExceeded, MalformedInput, SignatureError
from vigil.signatures.records import YaraSource, reported_name
from vigil.types import Evidence, Origin

#: At most this many pattern matches are kept as evidence per rule hit, each sample at most this long.
MAX_EVIDENCE = 8
MAX_SAMPLE = 64
#: yara-x treats a zero timeout as "already expired", so "no timeout" is a very long one.
_NO_TIMEOUT_S = 10**9
_MAGIC = b"VIGIL-YARAX\x00v1"

_ERROR_LOCATION = re.compile(r"^\s*-->\s*(?P<origin>.*):(?P<line>\d+):(?P<col>\d+)\s*$", re.MULTILINE)
_RULE_DECL = re.compile(
    r"^[ \t]*(?:(?:private|global)\s+)*rule\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE
)

RuleKey = tuple[str, str]  # (namespace, rule identifier)


@dataclass(frozen=True, slots=True)
class YaraHit:
    """One matching (non-private) rule with where it was written and which pattern matches made it hit."""

    rule: str
    namespace: str
    reported: str
    origin: Origin
    evidence: tuple[Evidence, ...]


class YaraMatcher:
    """Compiled YARA rules plus the facts needed to name and locate a hit without the sources."""

    def __init__(self, blob: bytes, origins: Mapping[RuleKey, Origin], official: Mapping[str, bool]) -> None:
        self._blob = blob
        self._origins = dict(origins)
        self._official = dict(official)
        self._reset_process_state()

    def _reset_process_state(self) -> None:
        """Live yara-x objects belong to one process; they are rebuilt lazily after unpickling."""
        self._rules: Any = None
        self._local = threading.local()
        self._lock = threading.Lock()

    @classmethod
    def build(cls, sources: Sequence[YaraSource], skipped: list[str] | None = None) -> YaraMatcher:
        """Compile every source; a compile error becomes a SignatureError naming file and line.

        With a `skipped` list, a file that does not compile is left out and its error appended there
        instead: clamscan loads the rest of the database and says "failed to parse or load" (a warning).
        """
        compiler = yara_x.Compiler()
        origins: dict[RuleKey, Origin] = {}
        official: dict[str, bool] = {}
        for namespace, source in _namespaced(sources):
            compiler.new_namespace(namespace)
            try:
                _add_source(compiler, source)
            except SignatureError as exc:
                if skipped is None:
                    raise
                skipped.append(f"{exc} (YARA file skipped)")
                continue
            official[namespace] = source.official
            origins.update(_rule_origins(namespace, source))
        rules = compiler.build()
        return cls(_serialize_rules(rules), origins, official)

    @property
    def rule_count(self) -> int:
        """Rules declared across all sources (private and global ones included), for signature totals."""
        return len(self._origins)

    def serialize(self) -> bytes:
        """yara-x's serialised rules behind a JSON header of rule origins and official flags.

        JSON rather than pickle so a tampered cache file can at worst fail to load, never run code.
        """
        header = json.dumps(
            {
                "origins": [[ns, rule, o.file, o.line] for (ns, rule), o in self._origins.items()],
                "official": self._official,
            }
        ).encode("utf-8")
        return _MAGIC + struct.pack("<I", len(header)) + header + self._blob

    @classmethod
    def deserialize(cls, data: bytes) -> YaraMatcher:
        """The inverse of `serialize()`; a blob that is not ours is a DatabaseError."""
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 4:
            raise DatabaseError("compiled YARA cache: bad magic")
        (size,) = struct.unpack_from("<I", data, len(_MAGIC))
        start = len(_MAGIC) + 4
        try:
            header = json.loads(data[start : start + size])
            origins = {(ns, rule): Origin(file, line) for ns, rule, file, line in header["origins"]}
            official = {str(ns): bool(flag) for ns, flag in header["official"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise DatabaseError(f"compiled YARA cache: bad header: {exc}") from exc
        matcher = cls(data[start + size :], origins, official)
        matcher._compiled()  # fail now, at load time, rather than on the first scan
        return matcher

    def match(
        self, data: bytes | memoryview, *, timeout_s: float | None = None, path: str | None = None
    ) -> list[YaraHit]:
        """Non-private rules matching `data`.

        yara-x takes only `bytes`; for a mapped file pass its `path` too and yara-x maps the file itself
        instead of the whole file being copied into memory (a multi-GB file would be). A timeout raises
        LimitExceeded("MaxScanTime"); a yara-x scan failure raises MalformedInput.
        """
        scanner = self._scanner()
        scanner.set_timeout(_NO_TIMEOUT_S if timeout_s is None else max(1, math.ceil(timeout_s)))
        try:
            if path is not None and not isinstance(data, bytes):
                results = scanner.scan_file(path)
            else:
                results = scanner.scan(bytes(data))
        except OSError as exc:
            raise MalformedInput(f"YARA could not read {path}: {exc.strerror}") from exc
        except yara_x.TimeoutError as exc:
            raise LimitExceeded("MaxScanTime", "YARA scan timed out") from exc
        except yara_x.ScanError as exc:
            raise MalformedInput(f"YARA scan failed: {exc}") from exc
        # Unlike clamscan (whose YARA subset drops rules without strings and has no modules), every
        # matching rule is reported, as the yara tools do: see docs/compat.md.
        return [self._hit(rule, data) for rule in results.matching_rules]

    def __getstate__(self) -> dict[str, object]:
        return {"blob": self._blob, "origins": self._origins, "official": self._official}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._blob = state["blob"]
        self._origins = state["origins"]
        self._official = state["official"]
        self._reset_process_state()

    def _scanner(self) -> Any:
        scanner = getattr(self._local, "scanner", None)
        if scanner is None:
            scanner = yara_x.Scanner(self._compiled())
            self._local.scanner = scanner
        return scanner

    def _compiled(self) -> Any:
        with self._lock:
            if self._rules is None:
                try:
                    self._rules = yara_x.Rules.deserialize_from(io.BytesIO(self._blob))
                except (OSError, ValueError) as exc:
                    raise DatabaseError(f"compiled YARA rules do not load: {exc}") from exc
            return self._rules

    def _hit(self, rule: Any, data: bytes | memoryview) -> YaraHit:
        name, namespace = str(rule.identifier), str(rule.namespace)
        return YaraHit(
            rule=name,
            namespace=namespace,
            reported=reported_name(f"YARA.{name}", self._official.get(namespace, False)),
            origin=self._origins.get((namespace, name), Origin(namespace, 0)),
            evidence=tuple(_evidence(rule, data)),
        )


def _namespaced(sources: Sequence[YaraSource]) -> Iterator[tuple[str, YaraSource]]:
    """One namespace per file, named by its path (suffixed if the same path is given twice)."""
    seen: dict[str, int] = {}
    for source in sources:
        count = seen.get(source.path, 0)
        seen[source.path] = count + 1
        yield (source.path if count == 0 else f"{source.path}#{count + 1}"), source


def _add_source(compiler: Any, source: YaraSource) -> None:
    try:
        compiler.add_source(source.text, origin=source.path)
    except yara_x.CompileError as exc:
        text = str(exc)
        raise SignatureError(source.path, _error_line(text), _error_title(text)) from exc


def _error_line(text: str) -> int:
    """The line of the first `--> file:line:col` in yara-x's report (the primary label comes first)."""
    found = _ERROR_LOCATION.search(text)
    return int(found.group("line")) if found else 0


def _error_title(text: str) -> str:
    return text.splitlines()[0] if text else "YARA compile error"


def _rule_origins(namespace: str, source: YaraSource) -> dict[RuleKey, Origin]:
    """First declaration line of each rule, found by scanning the source for `rule <name>`."""
    origins: dict[RuleKey, Origin] = {}
    for found in _RULE_DECL.finditer(source.text):
        key = (namespace, found.group("name"))
        if key not in origins:
            line = source.text.count("\n", 0, found.start("name")) + 1
            origins[key] = Origin(source.path, line)
    return origins


def _serialize_rules(rules: Any) -> bytes:
    buffer = io.BytesIO()
    rules.serialize_into(buffer)
    return buffer.getvalue()


def _evidence(rule: Any, data: bytes | memoryview) -> Iterator[Evidence]:
    """Up to MAX_EVIDENCE pattern matches, in pattern order, each with a short sample of the bytes."""
    produced = 0
    for pattern in rule.patterns:
        for found in pattern.matches:
            if produced >= MAX_EVIDENCE:
                return
            offset, length = int(found.offset), int(found.length)
            sample = bytes(data[offset : offset + min(length, MAX_SAMPLE)])
            yield Evidence(offset=offset, length=length, sample=sample)
            produced += 1
