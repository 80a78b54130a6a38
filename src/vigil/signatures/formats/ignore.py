"""`.ign2` (`NAME` or `NAME:MD5-of-the-database-line`) and legacy `.ign` (`DBFILE:LINE:NAME`) lists.

Names are matched as written in the database, without `.UNOFFICIAL`, as clamscan does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vigil.signatures.records import line_md5


@dataclass(slots=True)
class IgnoreList:
    names: set[str] = field(default_factory=set)
    pinned: dict[str, set[str]] = field(default_factory=dict)  # name -> MD5s of the exact lines

    def __bool__(self) -> bool:
        return bool(self.names or self.pinned)

    def add_ign2(self, lines: Iterable[tuple[int, str]]) -> None:
        for _, text in lines:
            name, _, digest = text.partition(":")
            if digest:
                self.pinned.setdefault(name, set()).add(digest.lower())
            else:
                self.names.add(name)

    def add_ign(self, lines: Iterable[tuple[int, str]]) -> None:
        for _, text in lines:
            self.names.add(text.rsplit(":", 1)[-1])

    def is_ignored(self, name: str, line: str) -> bool:
        if name in self.names:
            return True
        digests = self.pinned.get(name)
        return digests is not None and line_md5(line) in digests
