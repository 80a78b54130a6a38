"""All signature matching for one layer: hashes, body and logical signatures, YARA.

The result is a list of Match objects with a `rank`, so the verdict fold can pick the name clamscan would
report: within a layer a body match beats a hash match, which beats a logical match; between body matches
the earliest offset wins; between hash matches the later database line wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from vigil.engine import filetype, normalise
from vigil.engine.hashing import Digests
from vigil.exeinfo import ExecInfo, exec_info, pe_import_hash, pe_section_hashes
from vigil.layer import Layer
from vigil.signatures.database import SignatureDB
from vigil.signatures.formats.ldb import ContentSub, LogicalSig
from vigil.signatures.match import logical
from vigil.signatures.match.hashes import ALGO_ORDER, HashIndex
from vigil.signatures.records import SigMeta
from vigil.types import Evidence, FileType, HashAlgo, Match

# Rank classes, smallest wins (clamscan 1.4.6, observed on one file).
RANK_BODY, RANK_HASH, RANK_LOGICAL, RANK_YARA, RANK_CONTAINER = 0, 1, 2, 3, 4
_SAMPLE = 64


@dataclass(frozen=True, slots=True)
class View:
    """A buffer to match body signatures against, and the target types allowed on it."""

    name: str
    data: bytes | memoryview
    targets: frozenset[int]


def views_of(layer: Layer, normalize: bool) -> list[View]:
    """The raw bytes and/or normalised text that clamscan matches for this file type."""
    ftype = layer.file_type
    own = filetype.target_type_of(ftype)
    if filetype.is_html(ftype) and normalize:
        raw = bytes(layer.data)
        page = normalise.normalise_html(raw)
        html = frozenset({0, 3})
        return [
            View("html", page, html),
            View("notags", normalise.html_notags(page), html),
            View("javascript", normalise.html_javascript(raw), frozenset({3, 7})),
        ]
    if filetype.is_text(ftype) and normalize:
        raw_targets = frozenset({0} | ({own} if own not in (0, 7) else set()))
        return [
            View("raw", layer.data, raw_targets),
            View("normalised", normalise.normalise_text(bytes(layer.data)), frozenset({0, 7})),
        ]
    return [View("raw", layer.data, frozenset({0, own}))]


@dataclass(slots=True)
class LayerMatcher:
    """Matches one layer; `exe` is parsed on first need and shared by every signature kind."""

    db: SignatureDB
    layer: Layer
    digests: Digests
    normalize: bool = True
    _exe: ExecInfo | None = None
    _exe_done: bool = False
    matches: list[Match] = field(default_factory=list)
    #: `HandlerType:` logical signatures that hit ask for the layer to be rescanned as that type.
    rescan_as: list[FileType] = field(default_factory=list)

    @property
    def exe(self) -> ExecInfo | None:
        if not self._exe_done:
            self._exe_done = True
            if self.layer.file_type in _EXEC_TYPES:
                self._exe = exec_info(bytes(self.layer.data), self.layer.file_type)
        return self._exe

    def exe_facts(self) -> ExecInfo | None:
        """`exe` as a call, for matchers that parse the executable only when an offset needs it."""
        return self.exe

    def run(self) -> list[Match]:
        for view_index, view in enumerate(views_of(self.layer, self.normalize)):
            self._match_view(view_index, view)
        self._match_hashes()
        self._match_yara()
        return self.matches

    # -- hashes ---------------------------------------------------------------------------------
    def _match_hashes(self) -> None:
        index = self.db.hashes.file
        size = self.digests.size
        for order, algo in enumerate(ALGO_ORDER):
            if algo in index.columns:
                for exactness, meta in enumerate(index.lookup(algo, self.digests.get(algo), size)):
                    self._add(meta, "hash", (RANK_HASH, 0, order, exactness), ())
        if self.layer.file_type is FileType.MSEXE and (self.db.hashes.section or self.db.hashes.imports):
            self._match_pe_hashes()

    def _match_pe_hashes(self) -> None:
        data = bytes(self.layer.data)
        for raw_size, section in pe_section_hashes(data):
            self._lookup_digests(self.db.hashes.section, section, raw_size, "section-hash", 1)
        imphash = pe_import_hash(data)
        if imphash is not None and self.db.hashes.imports:
            digest_hex, size = imphash
            for meta in self.db.hashes.imports.lookup(HashAlgo.MD5, bytes.fromhex(digest_hex), size):
                self._add(meta, "import-hash", (RANK_HASH, 2), ())

    def _lookup_digests(self, index: HashIndex, data: bytes, size: int, kind: str, scope: int) -> None:
        digest_of: dict[HashAlgo, Callable[[], bytes]] = {
            HashAlgo.MD5: lambda: hashlib.md5(data, usedforsecurity=False).digest(),
            HashAlgo.SHA1: lambda: hashlib.sha1(data, usedforsecurity=False).digest(),
            HashAlgo.SHA256: lambda: hashlib.sha256(data).digest(),
        }
        for order, algo in enumerate(ALGO_ORDER):
            if algo in index.columns:
                for exactness, meta in enumerate(index.lookup(algo, digest_of[algo](), size)):
                    self._add(meta, kind, (RANK_HASH, scope, order, exactness), ())

    # -- body and logical -----------------------------------------------------------------------
    def _match_view(self, view_index: int, view: View) -> None:
        content = self.db.content
        candidates = content.candidates(view.targets, view.data)
        logical_ids: set[int] = set()
        for target in view.targets:
            logical_ids.update(self.db.logical_unconditional.get(target, ()))
        for entry_id in dict.fromkeys(candidates):
            sig_index, sub_index = content.owner(entry_id)
            if sub_index >= 0:
                logical_ids.add(sig_index)
                continue
            hit = content.first(entry_id, view.data, self.exe_facts)
            if hit is not None:
                evidence = self._evidence(view, hit)
                body = self.db.bodies[sig_index]
                # ClamAV runs the type-specific matcher before the generic one, and in each the
                # Boyer-Moore pass (wildcard-free patterns) before Aho-Corasick; first hit wins.
                generic = 1 if body.target in _GENERIC_TARGETS else 0
                wildcard = 0 if _is_static(body.pattern.source) else 1
                rank = (RANK_BODY, view_index, generic, wildcard, hit[0], sig_index)
                self._add(body.meta, "body", rank, evidence)
        for sig_index in sorted(logical_ids):
            self._match_logical(view_index, view, sig_index)

    def _match_logical(self, view_index: int, view: View, sig_index: int) -> None:
        sig: LogicalSig = self.db.logicals[sig_index]
        ancestry = tuple(CONTAINER_AS.get(t, t) for t in self.layer.ancestry)
        facts = logical.LayerFacts(
            file_type=self.layer.file_type, size=len(view.data), ancestry=ancestry, exe=self.exe
        )
        if not logical.tdb_allows(sig.tdb, facts):
            return
        hits = list(self._content_hits(sig, sig_index, view))
        found = logical.evaluate(sig, hits, bytes(view.data), facts)
        if found is not None:
            evidence = tuple(self._evidence(view, hit)[0] for hit in found[:8])
            self._add(sig.meta, "logical", (RANK_LOGICAL, view_index, sig_index), evidence)
            handler = sig.tdb.handler_type
            if handler is not None and handler not in self.rescan_as:
                self.rescan_as.append(handler)

    def _content_hits(self, sig: LogicalSig, sig_index: int, view: View) -> Iterator[list[tuple[int, int]]]:
        entry_ids = self.db.content.logical_entry_ids(sig_index)
        for sub_index, sub in enumerate(sig.subsigs):
            if isinstance(sub, ContentSub):
                yield self.db.content.all(entry_ids[sub_index], view.data, self.exe_facts)
            else:
                yield []

    # -- yara -----------------------------------------------------------------------------------
    def _match_yara(self) -> None:
        if self.db.yara is None:
            return
        layer = self.layer
        for order, hit in enumerate(self.db.yara.match(layer.data, path=layer.source_path)):
            meta = SigMeta(hit.rule, hit.reported, hit.origin)
            self._add(meta, "yara", (RANK_YARA, order), hit.evidence)

    # -- helpers --------------------------------------------------------------------------------
    def _evidence(self, view: View, hit: tuple[int, int]) -> tuple[Evidence, ...]:
        start, end = hit
        sample = bytes(view.data[start : min(end, start + _SAMPLE)])
        return (Evidence(offset=start, length=end - start, sample=sample, view=view.name),)

    def _add(self, meta: SigMeta, kind: str, rank: tuple[int, ...], evidence: tuple[Evidence, ...]) -> None:
        self.matches.append(
            Match(
                name=meta.reported,
                kind=kind,
                origin=meta.origin,
                layer_path=self.layer.path,
                evidence=evidence,
                rank=rank,
            )
        )


#: How a container type reads in `.ldb` Container/Intermediates and in `.cdb`: clamscan unpacks an OOXML
#: document with its zip parser, so members see CL_TYPE_ZIP as their container.
CONTAINER_AS = dict.fromkeys(
    (FileType.OOXML_WORD, FileType.OOXML_XL, FileType.OOXML_PPT, FileType.OOXML_HWP), FileType.ZIP
)
#: Target 0 (any) and 14 (other) live in ClamAV's generic matcher, scanned after the type-specific one.
_GENERIC_TARGETS = frozenset({0, 14})
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_static(source: str) -> bool:
    return all(ch in _HEX_DIGITS for ch in source)


_EXEC_TYPES = frozenset({FileType.MSEXE, FileType.ELF, FileType.MACHO, FileType.MACHO_UNIBIN})
