"""Shared helpers for the quarantine tests: files with known metadata, and vault consistency checks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from vigil.actions.quarantine import Vault
from vigil.actions.quarantine_crypto import unseal
from vigil.actions.quarantine_index import STORED


def make_file(path: Path, data: bytes, *, mode: int = 0o640, uid: int = 1234, gid: int = 4321,
              mtime_ns: int = 1_600_000_000_123_456_789) -> str:
    path.write_bytes(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    os.utime(path, ns=(1_500_000_000_000_000_001, mtime_ns))
    return hashlib.sha256(data).hexdigest()


def vault_content(vault: Vault, entry_id: str) -> str:
    fd = os.open(vault.blob_path(entry_id), os.O_RDONLY)
    try:
        return unseal(vault.key, entry_id, fd, None)[1]
    finally:
        os.close(fd)


def assert_consistent(vault: Vault) -> None:
    """Every row is stored and has its blob; every blob has its row."""
    entries = vault.entries()
    assert [e.state for e in entries] == [STORED] * len(entries)
    assert {e.id for e in entries} == set(os.listdir(vault.blobs))


def assert_exactly_once(vault: Vault, path: Path, sha256: str) -> str:
    """The file's bytes are at `path` or in the vault, never both, never neither. Returns where."""
    in_place = path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    stored = [e for e in vault.entries() if e.path == os.fsencode(path)]
    assert len(stored) <= 1
    in_vault = bool(stored) and vault_content(vault, stored[0].id) == sha256
    assert in_place != in_vault, f"{path}: in place={in_place}, in vault={in_vault}"
    if in_vault:
        assert not path.exists()
    return "vault" if in_vault else "place"
