"""clamd's clean-file cache for INSTREAM: the SHA-256 of a stream's bytes → "it was clean".

clamd keeps such a cache by default (`CacheSize` entries, off with `DisableCache yes`): the same bytes
scanned by the same database with the same settings give the same answer, so a repeated clean stream
is answered without a worker. Only complete clean scans are stored (no limit hit, no issue, no error;
a detection is always rescanned so its reply is computed afresh). Entries belong to one worker
generation: the first lookup after a RELOAD swap empties the cache, and answers from an older
generation are never stored. SHA-256 rather than clamd's MD5, because MD5 collisions can be built.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class CleanCache:
    def __init__(self, size: int, generation: Callable[[], int]) -> None:
        self.size = size
        self._generation = generation
        self._serving = 0
        self._entries: OrderedDict[bytes, None] = OrderedDict()
        self.hits = 0

    def _current(self) -> int:
        serving = self._generation()
        if serving != self._serving:
            self._entries.clear()
            self._serving = serving
        return serving

    def clean(self, digest: bytes) -> bool:
        if self.size <= 0:
            return False
        self._current()
        if digest not in self._entries:
            return False
        self._entries.move_to_end(digest)
        self.hits += 1
        return True

    def store(self, digest: bytes, generation: int) -> None:
        if self.size <= 0 or generation != self._current():
            return
        self._entries[digest] = None
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
