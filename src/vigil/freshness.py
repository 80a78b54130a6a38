"""How Vigil's caches know that nothing changed: where they live, which engine judged, a path's stamp.

Standard library only (os, struct), so the replay of an unchanged scan (`cli.replay`), which must
answer in a few tens of milliseconds, can import it without the rest of Vigil.
"""

from __future__ import annotations

import os
import struct

#: Bumped with every change to what the engine detects in the same bytes under the same database (new
#: unpackers, new signature kinds): cached verdicts of an older engine then miss. 2: `.cdb` matching.
DETECTION_REVISION = 2
#: A path modified less than this long before it was looked at is not cached (timestamp granularity
#: guard: a later write in the same tick would leave mtime and ctime as they were).
RACY_SECONDS = 2.0
#: (device, inode, size, mtime_ns, ctime_ns): any write, rename over, chmod or entry added to a
#: directory changes one of them.
_STAMP = struct.Struct("<QQqqq")
STAMP_SIZE = _STAMP.size


def cache_dir() -> str:
    """`$VIGIL_CACHE_DIR`, else `/var/cache/vigil` for root, else `$XDG_CACHE_HOME/vigil`."""
    configured = os.environ.get("VIGIL_CACHE_DIR")
    if configured:
        return configured
    if os.geteuid() == 0:
        return "/var/cache/vigil"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "vigil")


def stamp(info: os.stat_result) -> bytes:
    return _STAMP.pack(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class WalkTrace:
    """Every path a scan's walk looked at, how (lstat or stat) and the stamp it saw, so a later run can
    tell the walk would see the same thing: the files by their stamps, each directory's entries by its
    own (adding, removing or renaming an entry changes the directory's mtime). Mount points are seen as
    a changed device and inode. Stops recording past `limit` paths, and is not `usable` when a path
    was too new to trust (see RACY_SECONDS) or could not be looked at."""

    def __init__(self, started_ns: int, limit: int) -> None:
        self.paths: list[str] = []
        self.follows = bytearray()
        self.stamps = bytearray()  # STAMP_SIZE bytes per path, one buffer: 40 bytes each, not 73
        self.usable = True
        self._newest = started_ns - int(RACY_SECONDS * 1e9)
        self._limit = limit

    def saw(self, path: str, info: os.stat_result, followed: bool) -> None:
        if not self.usable:
            return
        if len(self.paths) >= self._limit or max(info.st_mtime_ns, info.st_ctime_ns) >= self._newest:
            self.discard()
            return
        self.paths.append(path)
        self.follows.append(followed)
        self.stamps += stamp(info)

    def discard(self) -> None:
        """Nothing is recorded: a path could not be looked at (the next walk may well see it), or what
        the walk read (stdin) has no stamp."""
        self.usable = False
        self.paths, self.follows, self.stamps = [], bytearray(), bytearray()
