"""clamscan-compatible text: result lines and the SCAN SUMMARY block, byte for byte.

The one deliberate difference from clamscan is path escaping (docs/compat.md, "Output"): a file name
holding a line break or a terminal control would otherwise let a hostile file fake a result line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vigil.render.summary import BLOCK
from vigil.types import ScanReport, Verdict

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r"}
_TAB = "\t"


def _needs_escape(char: str) -> bool:
    code = ord(char)
    if char == _TAB:
        return False
    return code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F or 0xDC80 <= code <= 0xDC9F


def _escape_char(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if code >= 0xDC80:  # a raw byte smuggled through surrogateescape (C1 range)
        code -= 0xDC00
    return f"\\x{code:02x}"


#: Characters `_needs_escape` accepts, as one class: ordinary names are checked in C, not per character.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\udc80-\udc9f]")


def escape_path(path: str) -> str:
    """Make a name safe to print on one line; ordinary names come out unchanged."""
    if _UNSAFE.search(path) is None:
        return path
    return "".join(_escape_char(char) if _needs_escape(char) else char for char in path)


def notice_line(path: str, status: str) -> str:
    return f"{escape_path(path)}: {status}"


def result_lines(report: ScanReport, *, allmatch: bool, archive_verbose: bool = False) -> list[str]:
    """The lines clamscan prints for one scanned file (OK, one or more FOUND, or ERROR)."""
    path = escape_path(report.target)
    if report.verdict is Verdict.INFECTED:
        shown = report.detections if allmatch else report.detections[:1]
        lines = [f"{path}: {escape_path(det.name)} FOUND" for det in shown]
        if archive_verbose:
            lines += [line for det in shown if (line := _member_line(report, det.layer_path, det.name))]
        return lines
    if report.verdict is Verdict.ERROR:
        reason = report.errors[0] if report.errors else "Can't scan"
        return [f"{path}: {escape_path(reason)} ERROR"]
    return [ok_line(report)]


def ok_line(report: ScanReport) -> str:
    return f"{escape_path(report.target)}: OK"


def _member_line(report: ScanReport, layer_path: str, name: str) -> str | None:
    """clamscan -a's extra line for a hit inside a container: `root!(depth)PARENTTYPE:member: NAME FOUND`."""
    layers = {layer.path: layer for layer in report.layers}
    layer = layers.get(layer_path)
    parent = layers.get(layer_path.rpartition(">")[0])
    if layer is None or parent is None or layer.depth == 0:
        return None
    parent_type = parent.file_type.value.removeprefix("CL_TYPE_")
    member = layer_path.rpartition(">")[2]
    where = f"{escape_path(report.target)}!({layer.depth}){parent_type}:{escape_path(member)}"
    return f"{where}: {escape_path(name)} FOUND"


def scanned_blocks(report: ScanReport) -> int:
    """clamscan's "Data scanned" counts every layer it looked at, in 4 KiB blocks."""
    if report.layers:
        return sum(layer.size for layer in report.layers) // BLOCK
    return report.size // BLOCK


def action_line(path: str, real_path: str, outcome: str) -> str:
    """`p: moved to 'D'`; clamscan adds `(real path: 'R')` when the given path is not already real."""
    shown = escape_path(path)
    if real_path != path:
        shown = f"{shown} (real path: '{escape_path(real_path)}')"
    return f"{shown}: {outcome}"


def join_lines(lines: Sequence[str]) -> str:
    return "".join(line + "\n" for line in lines)
