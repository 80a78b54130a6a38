"""One pass over a layer's bytes feeds every digest the database and the report need."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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


def digest_all(data: bytes | memoryview) -> Digests:
    """MD5, SHA-1 and SHA-256 in one walk over the data, chunked so a mapped file is touched once."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha1 = hashlib.sha1(usedforsecurity=False)
    sha256 = hashlib.sha256()
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        chunk = view[start : start + _CHUNK]
        md5.update(chunk)
        sha1.update(chunk)
        sha256.update(chunk)
    return Digests(len(view), md5.digest(), sha1.digest(), sha256.digest())
