"""Verdicts remembered per file version, so re-opening an unchanged file costs one fstat.

The key is (device, inode, mtime_ns, ctime_ns, size): any write, truncate, chmod or rename of the file
changes ctime, so a changed file never hits an old verdict. Bounded LRU; cleared when the database changes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

Key = tuple[int, int, int, int, int]


def key_of(info: os.stat_result) -> Key:
    return info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size


class VerdictCache:
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Key, str | None] = OrderedDict()  # value: detection name, None if clean
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> tuple[bool, str | None]:
        """(found, detection name or None)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return True, self._items[key]
            self.misses += 1
            return False, None

    def put(self, key: Key, name: str | None) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._items[key] = name
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
