"""Signature names for millions of hash entries: one blob and an offsets array, not a list of str.

While building, names are interned (many hash signatures share a family name); once saved, the blob
is memory-mapped and a name is decoded only when a signature actually hits.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate


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
        index = len(self)  # ids of frozen names and of `append_many` ones are not in `ids`
        self.ids[name] = index
        self._pending.append(name.encode("utf-8", "surrogateescape"))
        return index

    def append_many(self, names: list[str]) -> range:
        """New ids for a column of names without interning them: hash signature names are nearly all
        distinct, and a dict of a million of them costs more than the duplicates save."""
        start = len(self)
        joined = "\n".join(names)
        if names and joined.count("\n") == len(names) - 1:  # names from database lines never have one
            self._pending += joined.encode("utf-8", "surrogateescape").split(b"\n")
        else:
            self._pending += [name.encode("utf-8", "surrogateescape") for name in names]
        return range(start, start + len(names))

    def freeze(self) -> None:
        """Move pending names into the blob (once, after building)."""
        if not self._pending:
            return
        offsets = array("Q", self.offsets)
        offsets.extend(accumulate(map(len, self._pending), initial=offsets[-1]))
        del offsets[len(self.offsets)]  # `initial` repeats the last existing offset
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
