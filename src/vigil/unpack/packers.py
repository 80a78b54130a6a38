"""Detectors for the smaller PE packers of ClamAV's test set (yC, Petite, WWPack, MEW, Upack, ASPack, ...).

Each entry is `(name, detector)`; a detector looks at the parsed PE and yields the rebuilt image only if
its packer's stub is recognised. The order follows ClamAV's cli_scanpe where two stubs could overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from vigil.layer import Child, Layer, ScanContext
from vigil.unpack import packer_embpe, packer_mew, packer_petite, packer_wwpack, packer_yc
from vigil.unpack.pe_format import PeView

DETECTORS: tuple[tuple[str, Callable[[PeView, Layer, ScanContext], Iterator[Child]]], ...] = (
    ("embedded-pe", packer_embpe.pe_children),
    ("mew", packer_mew.pe_children),
    ("yc", packer_yc.pe_children),
    ("petite", packer_petite.pe_children),
    ("wwpack", packer_wwpack.pe_children),
)
