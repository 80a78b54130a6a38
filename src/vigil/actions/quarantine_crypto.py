"""Quarantine blobs: the file's bytes sealed with AES-256-GCM, in 1 MiB chunks.

Encryption is what neutralises a quarantined file: the blob can neither run nor match another scanner's
signatures, and a tampered or truncated blob fails authentication instead of restoring wrong bytes.
Chunks let a file of any size stream through in constant memory; each chunk's associated data binds
the entry id, the chunk number and a last-chunk flag, so chunks cannot be reordered, dropped, swapped
between blobs, or the blob cut short at a chunk boundary.

Layout: MAGIC (8) | nonce prefix (8) | chunk size (4, big endian) | chunks (ciphertext + 16-byte tag).
"""

from __future__ import annotations

import hashlib
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigil.errors import VigilError

MAGIC = b"VIGILQ\x01\x00"
CHUNK = 1 << 20
TAG = 16
KEY_BYTES = 32
_HEADER = struct.Struct(">8s8sI")


class BlobError(VigilError):
    """A blob failed authentication or is not a Vigil quarantine blob."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _aad(entry_id: str, index: int, last: bool) -> bytes:
    return entry_id.encode("ascii") + struct.pack(">QB", index, int(last))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, size: int, offset: int) -> bytes:
    parts: list[bytes] = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(parts)


def seal(key: bytes, entry_id: str, source: int, dest: int) -> tuple[int, str]:
    """Encrypt all of `source` (read with pread from 0) into `dest`; returns (size, sha256 hex)."""
    aead = AESGCM(key)
    prefix = os.urandom(8)
    _write_all(dest, _HEADER.pack(MAGIC, prefix, CHUNK))
    digest = hashlib.sha256()
    offset = index = 0
    chunk = _read_exact(source, CHUNK, 0)
    while True:
        following = _read_exact(source, CHUNK, offset + len(chunk)) if len(chunk) == CHUNK else b""
        last = not following
        digest.update(chunk)
        _write_all(dest, aead.encrypt(_nonce(prefix, index), chunk, _aad(entry_id, index, last)))
        offset += len(chunk)
        if last:
            return offset, digest.hexdigest()
        chunk, index = following, index + 1


def unseal(key: bytes, entry_id: str, blob: int, dest: int | None) -> tuple[int, str]:
    """Decrypt and authenticate `blob` (into `dest` unless None); returns (size, sha256 hex)."""
    header = _read_exact(blob, _HEADER.size, 0)
    if len(header) != _HEADER.size:
        raise BlobError("quarantine blob: truncated header")
    magic, prefix, chunk_size = _HEADER.unpack(header)
    if magic != MAGIC or not 0 < chunk_size <= 64 * CHUNK:
        raise BlobError("quarantine blob: not a Vigil quarantine blob")
    aead = AESGCM(key)
    digest = hashlib.sha256()
    offset, index, size = _HEADER.size, 0, 0
    total = os.fstat(blob).st_size
    while True:
        sealed = _read_exact(blob, chunk_size + TAG, offset)
        offset += len(sealed)
        last = offset >= total
        try:
            plain = aead.decrypt(_nonce(prefix, index), sealed, _aad(entry_id, index, last))
        except InvalidTag as exc:
            raise BlobError(f"quarantine blob: chunk {index} failed authentication") from exc
        digest.update(plain)
        size += len(plain)
        if dest is not None:
            _write_all(dest, plain)
        if last:
            return size, digest.hexdigest()
        index += 1
