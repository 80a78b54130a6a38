"""Reports answered from the persistent scan cache, and the encoding of a detection for it.

Light on purpose (JSON and the report types only): `vigil scan` answers an unchanged tree from here
without loading the database, the matchers or the unpackers. A cached detection keeps everything the
report had (names, signature file and line, offsets, sample bytes, views, layers), so `--explain`,
`--json` and `-a` print the same lines from the cache as from a fresh scan.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from vigil.engine.scancache import CachedVerdict, FileKey, ScanCache
from vigil.types import (
    Category,
    Detection,
    Evidence,
    FileType,
    LayerInfo,
    Match,
    Origin,
    ScanReport,
    ScanSettings,
    ScanTarget,
    Verdict,
)

#: Bumped when the encoding changes; an entry in another encoding is treated as a miss.
_ENCODING = 1


def encode_report(report: ScanReport) -> str:
    """The detections and layers of a report with signature detections, as compact JSON."""
    return json.dumps(
        {"v": _ENCODING, "detections": [_detection(d) for d in report.detections],
         "layers": [_layer(layer) for layer in report.layers]},
        separators=(",", ":"),
    )


def _detection(det: Detection) -> list[Any]:
    return [det.name, det.category.value, det.layer_path, [_match(m) for m in det.matches]]


def _match(match: Match) -> list[Any]:
    origin = [match.origin.file, match.origin.line] if match.origin is not None else None
    evidence = [[e.offset, e.length, e.sample.hex(), e.view] for e in match.evidence]
    rank = list(match.rank)
    return [match.name, match.kind, origin, match.layer_path, evidence, rank, match.category.value]


def _layer(layer: LayerInfo) -> list[Any]:
    return [layer.path, layer.file_type.value, layer.size, layer.depth, layer.sha256, layer.md5, layer.sha1]


def decode_report(text: str) -> tuple[tuple[Detection, ...], tuple[LayerInfo, ...]] | None:
    """The inverse of `encode_report`; None for anything it did not write (then the file is rescanned)."""
    try:
        data = json.loads(text)
        if data.get("v") != _ENCODING:
            return None
        detections = tuple(_decode_detection(d) for d in data["detections"])
        layers = tuple(
            LayerInfo(path, FileType(ftype), size, depth, sha256, md5, sha1)
            for path, ftype, size, depth, sha256, md5, sha1 in data["layers"]
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return detections, layers


def _decode_detection(item: list[Any]) -> Detection:
    name, category, layer_path, matches = item
    return Detection(str(name), Category(category), str(layer_path), tuple(_decode_match(m) for m in matches))


def _decode_match(item: list[Any]) -> Match:
    name, kind, origin, layer_path, evidence, rank, category = item
    return Match(
        name=str(name),
        kind=str(kind),
        origin=Origin(str(origin[0]), int(origin[1])) if origin is not None else None,
        layer_path=str(layer_path),
        evidence=tuple(Evidence(int(o), int(n), bytes.fromhex(s), str(v)) for o, n, s, v in evidence),
        rank=tuple(int(r) for r in rank),
        category=Category(category),
    )


def cached_report(
    target: ScanTarget, key: FileKey, found: CachedVerdict, settings: ScanSettings, db_version: str,
    started: float,
) -> ScanReport | None:
    """The report a fresh scan would give, rebuilt from a cached verdict (None if it cannot be)."""
    layers: tuple[LayerInfo, ...] = ()
    detections: tuple[Detection, ...] = ()
    if found.report:
        decoded = decode_report(found.report)
        if decoded is None:
            return None
        detections, layers = decoded
    elif found.limits:
        from vigil.engine.verdict import fold  # with the layer types: rare, and too heavy for a rescan
        from vigil.layer import ScanContext

        ctx = ScanContext(settings.limits)
        ctx.limits_hit = list(found.limits)
        detections = fold((), ctx, settings, target.display)
    # positional: a rescan builds one per file, and keywords cost a frozen dataclass a third more
    return ScanReport(
        target.display, Verdict.INFECTED if detections else Verdict.CLEAN, detections, key.size,
        found.sha256, layers, found.limits, (), (), time.monotonic() - started, db_version, True,
    )


@dataclass(frozen=True, slots=True)
class CacheOracle:
    """Answers path targets from file metadata alone (no open, no read) when the cache knows them,
    without the database: a clean verdict stamped with older hash signatures is a miss here, and the
    engine that then gets the file re-checks it against the new hashes."""

    cache: ScanCache
    scope: str
    hashes_version: str
    settings: ScanSettings
    db_version: str

    def __call__(self, target: ScanTarget) -> ScanReport | None:
        if target.path is None:
            return None
        seen = target.seen
        if seen is None:
            try:
                seen = os.stat(target.path)
            except OSError:
                return None
        key = FileKey.of(seen)
        found = self.cache.lookup(key, self.scope, self.hashes_version, None)
        if found is None:
            return None
        return cached_report(target, key, found, self.settings, self.db_version, time.monotonic())
