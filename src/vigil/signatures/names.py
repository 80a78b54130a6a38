"""Signature names for millions of hash entries: one blob and an offsets array, not a list of str.

While building, names are interned (many hash signatures share a family name); once saved, the blob
is memory-mapped and a name is decoded only when a signature actually hits.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class NameTable:
    ids: dict[str, int] = field(default_factory=dict)
    blob: bytes | memoryview = b""
    offsets: Sequence[int] = field(default_factory=lambda: array("Q", [0]))
    _pending: list[bytes] = field(default_factory=list)

    def add(self, name: str) -> int:
        known = self.ids.get(name)
        if known is not None:
            return known
        index = len(self.ids)
        self.ids[name] = index
        self._pending.append(name.encode("utf-8", "surrogateescape"))
        return index

    def freeze(self) -> None:
        """Move pending names into the blob (once, after building)."""
        if not self._pending:
            return
        offsets = array("Q", self.offsets)
        position = offsets[-1]
        for encoded in self._pending:
            position += len(encoded)
            offsets.append(position)
        self.blob = bytes(self.blob) + b"".join(self._pending)
        self.offsets = offsets
        self._pending = []
        self.ids = {}

    def __len__(self) -> int:
        return len(self.offsets) - 1 + len(self._pending)

    def __getitem__(self, index: int) -> str:
        frozen = len(self.offsets) - 1
        if index >= frozen:
            return self._pending[index - frozen].decode("utf-8", "surrogateescape")
        start, end = self.offsets[index], self.offsets[index + 1]
        return bytes(self.blob[start:end]).decode("utf-8", "surrogateescape")
