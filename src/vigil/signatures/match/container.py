"""`.cdb` container metadata signatures, checked against one member's directory entry.

The checks are clamscan's metadata match: the container's type (`*` for any) and size, then the member's
name (a POSIX ERE, searched unanchored), its size inside the container, its real size, its encryption
flag and its 1-based position. A field the format cannot tell (None in `MemberInfo`) fails any
constraint on it, so an unknown value never produces a detection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from vigil.layer import MemberInfo
from vigil.signatures.formats.cdb import ContainerSig, Range
from vigil.types import FileType


def _within(bounds: Range, value: int | None) -> bool:
    return bounds is None or (value is not None and bounds[0] <= value <= bounds[1])


def matching(
    sigs: Iterable[ContainerSig], container: FileType, container_size: int, name: str, info: MemberInfo
) -> Iterator[ContainerSig]:
    """The signatures this member matches, in database order."""
    for sig in sigs:
        if sig.container is not FileType.ANY and sig.container is not container:
            continue
        if sig.encrypted is not None and sig.encrypted != info.encrypted:
            continue
        if (
            _within(sig.container_size, container_size)
            and _within(sig.size_in_container, info.packed_size)
            and _within(sig.real_size, info.real_size)
            and _within(sig.filepos, info.position)
            and sig.name_matches(name)
        ):
            yield sig
