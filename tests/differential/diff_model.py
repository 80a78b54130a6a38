"""The differential suite's data model: a Group is one database directory plus many targets.

One clamscan call per group keeps the oracle cheap; every target's expected result is clamscan's own line.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field

# Leading NULs then high bytes: clamscan types this as binary data, so no normalised text view applies.
BIN = b"\x00\x00\x00\x00\xff\xfe"
TAIL = b"\x00\xfe\x01"
DEFAULT = "default"
ALLMATCH = "allmatch"


@dataclass
class Group:
    """One DB directory and the targets scanned against it, in one or both reporting modes."""

    name: str
    db: dict[str, bytes]
    targets: dict[str, bytes] = field(default_factory=dict)
    modes: tuple[str, ...] = (DEFAULT, ALLMATCH)
    detect_pua: bool = False
    cli: bool = False  # also compare the real `vigil scan` CLI output line by line
    about: str = ""

    def add(self, name: str, data: bytes) -> None:
        assert name not in self.targets, name
        assert ":" not in name and "/" not in name, name
        self.targets[name] = data


def binary(*parts: bytes) -> bytes:
    """A binary-typed target around the given payload parts."""
    return BIN + b"".join(parts) + TAIL


def lines(*sigs: str) -> bytes:
    return "".join(f"{s}\n" for s in sigs).encode()


def zip_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data)
    return buf.getvalue()


def gzip_of(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def tar_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 1_700_000_000
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tgz_of(name: str, data: bytes) -> bytes:
    return gzip_of(tar_of(name, data))


WRAPPERS = {
    "zip": lambda name, data: zip_of(name, data),
    "gz": lambda name, data: gzip_of(data),
    "tgz": lambda name, data: tgz_of(name, data),
}


def wrap_all(
    group: Group, names: Iterable[str] | None = None, kinds: Iterable[str] = ("zip", "gz", "tgz")
) -> None:
    """Add zip, gzip and tar.gz copies of (some of) a group's targets, so every sig is tried on members."""
    chosen = list(group.targets) if names is None else list(names)
    kinds = tuple(kinds)
    for name in chosen:
        data = group.targets[name]
        for kind in kinds:
            group.add(f"{name}.{kind}", WRAPPERS[kind](f"{name}.bin", data))
