"""placeholder"""

from __future__ import annotations

from collections.abc import Iterator

from vigil.layer import Child, Layer, ScanContext
from vigil.unpack.pe_format import PeView


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    return iter(())
