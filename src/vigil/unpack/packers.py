"""Detectors for the smaller PE packers of ClamAV's test set (FSG, MEW, Petite, yC, WWPack, ASPack, ...).

Each entry is `(name, detector)`; a detector looks at the parsed PE and yields the rebuilt image only if
its packer's stub is recognised. None is implemented yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from vigil.layer import Child, Layer, ScanContext
from vigil.unpack.pe_format import PeView

DETECTORS: tuple[tuple[str, Callable[[PeView, Layer, ScanContext], Iterator[Child]]], ...] = ()
