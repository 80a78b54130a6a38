"""JSON lines output (`vigil scan --json`), schema documented in docs/json-schema.md.

Every object carries `schema` so consumers can refuse versions they do not know; fields are only ever
added within one version. Paths are emitted as given (JSON escaping already makes them unforgeable);
undecodable bytes in names become U+FFFD replacement characters plus a `path_bytes_hex` field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vigil.types import Detection, Evidence, Match, ScanReport

SCHEMA_VERSION = 1


def _text(value: str) -> tuple[str, str | None]:
    """Return a JSON-safe string and, when the original held raw bytes, their hex."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "replace"), raw.hex()
    return value, None


def _evidence(item: Evidence) -> dict[str, Any]:
    return {"offset": item.offset, "length": item.length, "view": item.view, "sample_hex": item.sample.hex()}


def _match(match: Match) -> dict[str, Any]:
    return {
        "name": match.name,
        "kind": match.kind,
        "category": match.category.value,
        "origin": str(match.origin) if match.origin else None,
        "layer_path": _text(match.layer_path)[0],
        "evidence": [_evidence(item) for item in match.evidence],
    }


def _detection(detection: Detection) -> dict[str, Any]:
    return {
        "name": detection.name,
        "category": detection.category.value,
        "layer_path": _text(detection.layer_path)[0],
        "matches": [_match(match) for match in detection.matches],
    }


def _with_path(kind: str, path: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    shown, raw_hex = _text(path)
    obj: dict[str, Any] = {"schema": SCHEMA_VERSION, "type": kind, "path": shown}
    if raw_hex is not None:
        obj["path_bytes_hex"] = raw_hex
    obj.update(fields)
    return obj


def report_object(report: ScanReport, *, allmatch: bool) -> dict[str, Any]:
    detections = report.detections if allmatch else report.detections[:1]
    return _with_path("result", report.target, {
        "status": report.verdict.value,
        "names": [det.name for det in detections],
        "detections": [_detection(det) for det in detections],
        "size": report.size,
        "sha256": report.sha256,
        "errors": list(report.errors),
        "limits_hit": list(report.limits_hit),
        "issues": list(report.issues),
        "layers": [
            {"path": _text(layer.path)[0], "type": layer.file_type.value, "size": layer.size,
             "depth": layer.depth}
            for layer in report.layers
        ],
        "elapsed": round(report.elapsed, 6),
        "cached": report.cached,
    })


_NOTICE_STATUS = {
    "Excluded": "excluded",
    "Symbolic link": "symlink",
    "Empty file": "empty",
    "Access denied": "error",
}


def notice_object(path: str, status: str) -> dict[str, Any]:
    """A file that was not scanned: excluded, a link not followed, empty, or unreadable."""
    return _with_path("result", path, {
        "status": _NOTICE_STATUS.get(status, "skipped"),
        "reason": status,
        "names": [],
        "detections": [],
        "errors": [status] if _NOTICE_STATUS.get(status) == "error" else [],
    })


def missing_object(path: str, reason: str) -> dict[str, Any]:
    return _with_path("result", path, {
        "status": "error", "reason": reason, "names": [], "detections": [], "errors": [reason],
    })


def summary_object(fields: Mapping[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = {"schema": SCHEMA_VERSION, "type": "summary"}
    obj.update(fields)
    return obj


def dumps(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
