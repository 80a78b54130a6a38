"""The Unpacker seam: formats produce children, never verdicts.

An unpacker is looked up by the layer's FileType. It yields children lazily, charges the scan context
before inflating each one (`ctx.charge_file()`, `ctx.charge_bytes(n)`), may raise only MalformedInput or
LimitExceeded, never writes outside a private temporary directory, never runs a subprocess and never
touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType


class Unpacker(Protocol):
    name: str
    types: frozenset[FileType]

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]: ...
