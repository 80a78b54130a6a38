"""Shared checks for the packer unpackers: children of one detector, hostile cuts, end-to-end verdicts."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack.pe_format import PeView, parse_pe

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")
Detector = Callable[[PeView, Layer, ScanContext], Iterator[Child]]
#: The MD5 and size of clam.exe, which every packed test file carries.
CLAM_EXE = ("aa15bcf478d165efd2065190eb473bcb", 544)
OTHERS = ("clam.exe", "clam-upx.exe", "clam-yc.exe", "clam-petite.exe", "clam-aspack.exe", "clam-wwpack.exe",
          "clam-mew.exe", "clam-upack.exe", "clam-fsg.exe", "clam-pespin.exe", "clam-nsis.exe")  # fmt: skip


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def children(detector: Detector, data: bytes, ctx: ScanContext | None = None) -> list[tuple[str, bytes]]:
    view = parse_pe(data)
    if view is None:
        return []
    layer = Layer(data, "t", FileType.MSEXE, 0)
    return [(c.name, bytes(c.data)) for c in detector(view, layer, ctx or ScanContext(ScanLimits()))]


def assert_only_claims(detector: Detector, own: str) -> None:
    """The detector yields nothing for the other executables of the test set."""
    for name in OTHERS:
        if name != own:
            assert children(detector, (FILES / name).read_bytes()) == [], name


def assert_survives_cuts(detector: Detector, data: bytes) -> None:
    """Every tenth of the file cut off: children or a parse issue, never another exception."""
    for cut in range(0, len(data), max(1, len(data) // 10)):
        with contextlib.suppress(MalformedInput, LimitExceeded):
            children(detector, data[:cut])


def detected_name(path: Path) -> str | None:
    return Engine(load_database()).scan(ScanTarget(display=path.name, path=str(path))).name


def finds_clam_exe(kids: list[tuple[str, bytes]]) -> bool:
    """clam.exe is among the children or inside a carved ZIP member (checked by the ZIP unpacker)."""
    return any((md5(data), len(data)) == CLAM_EXE for _, data in kids) or any(
        name.endswith(".zip") for name, _ in kids
    )
