"""One pass over a layer's bytes feeds every digest the database and the report need."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigil.types import HashAlgo

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Digests:
    size: int
    md5: bytes
    sha1: bytes
    sha256: bytes

    def get(self, algo: HashAlgo) -> bytes:
        return {HashAlgo.MD5: self.md5, HashAlgo.SHA1: self.sha1, HashAlgo.SHA256: self.sha256}[algo]


def digest_all(data: bytes | memoryview, wanted: frozenset[HashAlgo] = frozenset(HashAlgo)) -> Digests:
    """The wanted digests (SHA-256 always: reports carry it) in one walk over the data, chunked so a
    mapped file is touched once. A digest nobody needs is left empty: hashing costs as much as matching."""
    hashers = {algo: _NEW[algo]() for algo in wanted | {HashAlgo.SHA256}}
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        chunk = view[start : start + _CHUNK]
        for hasher in hashers.values():
            hasher.update(chunk)
    done = {algo: hasher.digest() for algo, hasher in hashers.items()}
    md5, sha1 = done.get(HashAlgo.MD5, b""), done.get(HashAlgo.SHA1, b"")
    return Digests(len(view), md5, sha1, done[HashAlgo.SHA256])


_NEW: dict[HashAlgo, Callable[[], Any]] = {
    HashAlgo.MD5: lambda: hashlib.md5(usedforsecurity=False),
    HashAlgo.SHA1: lambda: hashlib.sha1(usedforsecurity=False),
    HashAlgo.SHA256: lambda: hashlib.sha256(),
}
