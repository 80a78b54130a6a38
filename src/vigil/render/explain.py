"""`--explain`: why a file was flagged, printed under its FOUND line.

Every line starts with two spaces so no explanation can be mistaken for a `path: ...` result line, and
all text that comes from the scanned file (layer names, sample bytes) is escaped or shown as hex.
"""

from __future__ import annotations

from vigil.render.text import escape_path
from vigil.types import Detection, Evidence, Match, ScanReport

SAMPLE_LIMIT = 64  # bytes shown per evidence sample


def printable(sample: bytes) -> str:
    """ASCII graphic characters as-is, everything else as `.` (like a hex dump's right column)."""
    return "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in sample)


def _evidence_line(item: Evidence) -> str:
    sample = item.sample[:SAMPLE_LIMIT]
    more = "..." if max(item.length, len(item.sample)) > len(sample) else ""  # the engine may clip too
    return (f"    at offset {item.offset} (0x{item.offset:x}), {item.length} bytes, {item.view} view: "
            f"{sample.hex()}{more} |{printable(sample)}|{more}")


def _match_lines(match: Match) -> list[str]:
    origin = str(match.origin) if match.origin else "built-in"
    lines = [f"  signature {escape_path(match.name)} ({match.kind}) from {escape_path(origin)}",
             f"    layer {escape_path(match.layer_path)}"]
    lines += [_evidence_line(item) for item in match.evidence]
    return lines


def detection_lines(detection: Detection) -> list[str]:
    name, layer = escape_path(detection.name), escape_path(detection.layer_path)
    lines = [f"  {name} [{detection.category.value}] in {layer}"]
    for match in detection.matches:
        lines += _match_lines(match)
    return lines


def explain_lines(report: ScanReport, *, allmatch: bool) -> list[str]:
    detections = report.detections if allmatch else report.detections[:1]
    lines: list[str] = []
    for detection in detections:
        lines += detection_lines(detection)
    for limit in report.limits_hit:
        lines.append(f"  limit hit: {escape_path(limit)}")
    return lines
