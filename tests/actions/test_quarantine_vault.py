"""Quarantine and restore through the real file system: fidelity, neutralisation, refusals, TOCTOU."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from quarantine_helpers import assert_consistent, make_file

from vigil.actions import quarantine_fs as qfs
from vigil.actions.quarantine import QuarantineError, Vault
from vigil.actions.quarantine_crypto import BlobError

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    with Vault.open(str(tmp_path / "vault")) as opened:
        yield opened


def test_vault_is_private(vault: Vault) -> None:
    assert stat.S_IMODE(os.stat(vault.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(vault.blobs).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(vault.root, "key")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(vault.root, "index.db")).st_mode) == 0o600


@pytest.mark.parametrize("size", [0, 1, 1 << 20, (3 << 20) + 17])
def test_restore_gives_back_bytes_mode_owner_mtime(tmp_path: Path, vault: Vault, size: int) -> None:
    data = (EICAR + os.urandom(64)) * (size // 132) + os.urandom(size % 132)
    path = tmp_path / "d" / "sample.bin"
    path.parent.mkdir()
    sha = make_file(path, data, mode=0o4751, uid=1234, gid=4321)
    before = os.stat(path)
    entry = vault.quarantine(str(path), "Eicar-Test", db_version="db-7")
    assert not path.exists()
    blob = Path(vault.blob_path(entry.id)).read_bytes()
    assert EICAR not in blob and (size < 64 or data[:64] not in blob)
    assert (entry.path, entry.size, entry.sha256) == (os.fsencode(path), size, sha)
    assert entry.detection == "Eicar-Test"
    assert (entry.mode, entry.uid, entry.gid, entry.db_version) == (0o4751, 1234, 4321, "db-7")
    assert vault.restore(entry.id) == os.fsencode(path)
    after = os.stat(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert stat.S_IMODE(after.st_mode) == 0o4751
    assert (after.st_uid, after.st_gid, after.st_mtime_ns) == (1234, 4321, before.st_mtime_ns)
    assert vault.entries() == [] and os.listdir(vault.blobs) == []


def test_non_utf8_name_is_kept_as_bytes(tmp_path: Path, vault: Vault) -> None:
    path = os.fsencode(tmp_path) + b"/caf\xe9-\xff.exe"
    with open(path, "wb") as handle:
        handle.write(EICAR)
    entry = vault.quarantine(path, "Eicar-Test")
    assert entry.path == path and not os.path.exists(path)
    with Vault.open(vault.root) as again:
        assert again.entries()[0].path == path
        again.restore(entry.id)
    with open(path, "rb") as handle:
        assert handle.read() == EICAR


def test_restore_refuses_existing_target_unless_forced(tmp_path: Path, vault: Vault) -> None:
    path = tmp_path / "f"
    sha = make_file(path, EICAR)
    entry = vault.quarantine(str(path), "Eicar-Test")
    path.write_bytes(b"new file in the way")
    with pytest.raises(QuarantineError, match="already exists"):
        vault.restore(entry.id)
    assert path.read_bytes() == b"new file in the way"
    assert_consistent(vault)
    vault.restore(entry.id, force=True)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_restore_refuses_symlinked_parent(tmp_path: Path, vault: Vault) -> None:
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "f"
    make_file(path, EICAR)
    entry = vault.quarantine(str(path), "Eicar-Test")
    os.rmdir(tmp_path / "d")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "d")
    with pytest.raises(QuarantineError, match="parent directory refused"):
        vault.restore(entry.id)
    assert os.listdir(tmp_path / "elsewhere") == []
    assert_consistent(vault)
    assert len(vault.entries()) == 1


def test_restore_to_another_place(tmp_path: Path, vault: Vault) -> None:
    path = tmp_path / "f"
    sha = make_file(path, EICAR)
    entry = vault.quarantine(str(path), "Eicar-Test")
    other = tmp_path / "restored"
    vault.restore(entry.id, to=str(other))
    assert hashlib.sha256(other.read_bytes()).hexdigest() == sha and not path.exists()


def test_tampered_blob_is_not_restored(tmp_path: Path, vault: Vault) -> None:
    path = tmp_path / "f"
    make_file(path, EICAR * 10)
    entry = vault.quarantine(str(path), "Eicar-Test")
    blob = Path(vault.blob_path(entry.id))
    raw = bytearray(blob.read_bytes())
    raw[40] ^= 1
    blob.write_bytes(bytes(raw))
    with pytest.raises(BlobError):
        vault.restore(entry.id)
    assert not path.exists() and not (tmp_path / ".vigil-restore-" f"{entry.id}").exists()
    assert [e.state for e in vault.entries()] == ["stored"]


def test_final_symlink_is_never_followed(tmp_path: Path, vault: Vault) -> None:
    victim = tmp_path / "victim"
    sha = make_file(victim, b"precious, not infected")
    link = tmp_path / "link"
    os.symlink(victim, link)
    with pytest.raises(QuarantineError, match="cannot open"):
        vault.quarantine(str(link), "Eicar-Test")
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == sha and link.is_symlink()
    assert vault.entries() == []


def test_toctou_swap_after_detection_moves_nothing(tmp_path: Path, vault: Vault) -> None:
    """Detection saw an inode; the path is then swapped for a symlink to another file."""
    infected = tmp_path / "download.exe"
    make_file(infected, EICAR)
    scanned = os.stat(infected)
    victim = tmp_path / "victim"
    victim_sha = make_file(victim, b"the user's thesis")
    os.rename(infected, tmp_path / "moved-away")
    os.symlink(victim, infected)
    with pytest.raises(QuarantineError):
        vault.quarantine(str(infected), "Eicar-Test", expected=(scanned.st_dev, scanned.st_ino))
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == victim_sha
    assert infected.is_symlink() and (tmp_path / "moved-away").read_bytes() == EICAR
    assert vault.entries() == [] and os.listdir(vault.blobs) == []


def test_toctou_swap_during_the_move_moves_nothing(tmp_path: Path, vault: Vault,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The swap happens after the file was opened and sealed, right before the unlink."""
    infected = tmp_path / "download.exe"
    make_file(infected, EICAR)
    victim = tmp_path / "victim"
    victim_sha = make_file(victim, b"the user's thesis")

    def swap(step: str) -> None:
        if step == "journal":
            os.rename(infected, tmp_path / "moved-away")
            os.symlink(victim, infected)

    monkeypatch.setattr(qfs, "FAULT_HOOK", swap)
    with pytest.raises(QuarantineError, match="path changed"):
        vault.quarantine(str(infected), "Eicar-Test")
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == victim_sha and infected.is_symlink()
    assert (tmp_path / "moved-away").read_bytes() == EICAR
    assert vault.entries() == [] and os.listdir(vault.blobs) == []


def test_file_modified_while_sealed_is_left_in_place(tmp_path: Path, vault: Vault,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "growing.log"
    make_file(path, EICAR)

    def grow(step: str) -> None:
        if step == "blob":
            with open(path, "ab") as handle:
                handle.write(b"more")

    monkeypatch.setattr(qfs, "FAULT_HOOK", grow)
    with pytest.raises(QuarantineError, match="modified"):
        vault.quarantine(str(path), "Eicar-Test")
    assert path.read_bytes() == EICAR + b"more"
    assert vault.entries() == [] and os.listdir(vault.blobs) == []


def test_delete_purge_and_lookup(tmp_path: Path, vault: Vault) -> None:
    ids = []
    for index in range(3):
        make_file(tmp_path / f"f{index}", EICAR + bytes([index]))
        ids.append(vault.quarantine(str(tmp_path / f"f{index}"), "Eicar-Test").id)
    assert vault.lookup(ids[0][:12]).id == ids[0]
    with pytest.raises(QuarantineError):
        vault.lookup("")
    vault.delete(ids[0])
    assert vault.purge(older_than=3600) == 0
    assert vault.purge() == 2
    assert vault.entries() == [] and os.listdir(vault.blobs) == []
