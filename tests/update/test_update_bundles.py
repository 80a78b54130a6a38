"""`vigil update` against a real HTTP mirror on 127.0.0.1: good, tampered, truncated, replayed, wrong-key,
oversized and interrupted bundles, offline import, rollback, key rotation; each ends with a known database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Mirror, Setup, hdb, make_bundle, write_config

from vigil import __version__
from vigil.cli.main import main
from vigil.engine import Engine
from vigil.signatures import load_database
from vigil.types import ScanSettings, ScanTarget
from vigil.update import activate, minisign, trust


def detect(setup: Setup, data: bytes) -> str | None:
    current = activate.current_dir(str(setup.root))
    assert current is not None
    report = Engine(load_database([current]), ScanSettings()).scan(ScanTarget(display="x", data=data))
    return report.name


def active_version(setup: Setup) -> int | None:
    return activate.read_state(activate.current_dir(str(setup.root))).versions.get("vigil")


def publish(mirror: Mirror, data: bytes, signature: str) -> None:
    mirror.files["/vigil.tar.gz"] = data
    mirror.files["/vigil.tar.gz.minisig"] = signature.encode()


def update(config: str, *extra: str) -> int:
    return main(["update", "--config", config, *extra])


@pytest.fixture
def v1(mirror: Mirror, setup: Setup, signing_key: minisign.SecretKey) -> str:
    """Version 1 active (detects 'alpha'); returns the config path."""
    publish(mirror, *make_bundle(signing_key, 1, {"sigs.hdb": hdb("alpha")}))
    config = write_config(setup, mirror)
    assert update(config) == 0
    assert active_version(setup) == 1
    return config


def test_good_bundle_activates_and_detects(v1: str, setup: Setup) -> None:
    assert detect(setup, b"alpha") == "alpha.UNOFFICIAL"
    assert detect(setup, b"beta") is None
    assert os.path.islink(setup.root / "current")


def test_requests_carry_only_the_fixed_user_agent(v1: str, mirror: Mirror) -> None:
    headers = mirror.requests("/vigil.tar.gz")[0]
    assert headers["User-Agent"] == f"Vigil/{__version__}"
    assert set(headers) <= {"Host", "User-Agent", "Accept-Encoding", "Connection"}


def test_unchanged_mirror_is_a_conditional_304(v1: str, mirror: Mirror, setup: Setup, capsys) -> None:
    history = activate.history(str(setup.root))
    assert update(v1) == 0
    assert mirror.requests("/vigil.tar.gz")[-1]["If-None-Match"].startswith('"')
    assert activate.history(str(setup.root)) == history
    assert "up to date" in capsys.readouterr().out


def test_newer_bundle_replaces_files(v1: str, mirror: Mirror, setup: Setup, signing_key) -> None:
    publish(mirror, *make_bundle(signing_key, 2, {"other.hdb": hdb("beta")}))
    assert update(v1) == 0
    assert active_version(setup) == 2
    assert detect(setup, b"beta") == "beta.UNOFFICIAL"
    assert detect(setup, b"alpha") is None  # the source's old file set is gone


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_tampered_or_truncated_bundle_keeps_active_db(
    v1: str, mirror: Mirror, setup: Setup, signing_key, damage: str, capsys
) -> None:
    data, signature = make_bundle(signing_key, 2, {"sigs.hdb": hdb("beta")})
    damaged = {
        "flip": data[:100] + bytes([data[100] ^ 1]) + data[101:],
        "truncate": data[: len(data) - 10],
        "append": data + b"x",
    }[damage]
    publish(mirror, damaged, signature)
    assert update(v1) == 1
    assert "signature does not match" in capsys.readouterr().err
    assert active_version(setup) == 1
    assert detect(setup, b"alpha") == "alpha.UNOFFICIAL"


def test_wrong_key_is_refused(v1: str, mirror: Mirror, setup: Setup, other_key, capsys) -> None:
    publish(mirror, *make_bundle(other_key, 2, {"sigs.hdb": hdb("beta")}))
    assert update(v1) == 1
    assert "unknown key" in capsys.readouterr().err
    assert active_version(setup) == 1


def test_replayed_old_bundle_is_refused_unless_allowed(
    v1: str, mirror: Mirror, setup: Setup, signing_key, capsys
) -> None:
    old = make_bundle(signing_key, 1, {"sigs.hdb": hdb("alpha")})
    publish(mirror, *make_bundle(signing_key, 3, {"sigs.hdb": hdb("gamma")}))
    assert update(v1) == 0
    publish(mirror, *old)
    assert update(v1) == 1
    assert "older than the active 3" in capsys.readouterr().err
    assert active_version(setup) == 3
    assert update(v1, "--allow-downgrade") == 0
    assert active_version(setup) == 1


def test_oversized_bundle_is_refused(mirror: Mirror, setup: Setup, signing_key, capsys) -> None:
    publish(mirror, *make_bundle(signing_key, 1, {"sigs.hdb": os.urandom(40_000).hex().encode()}))
    config = write_config(setup, mirror, max_bytes=10_000)
    assert update(config) == 1
    assert "cap" in capsys.readouterr().err
    assert activate.current_dir(str(setup.root)) is None


def test_signed_comment_must_match_manifest(v1: str, mirror: Mirror, setup: Setup, signing_key) -> None:
    data, _ = make_bundle(signing_key, 2, {"sigs.hdb": hdb("beta")})
    lying = minisign.sign(signing_key, data, "vigil-bundle name=vigil version=9 created=1").to_text()
    publish(mirror, data, lying)
    assert update(v1) == 1
    assert active_version(setup) == 1


def test_disconnect_mid_download_resumes_with_range(mirror: Mirror, setup: Setup, signing_key) -> None:
    data, signature = make_bundle(signing_key, 1, {"sigs.hdb": hdb(*(f"n{i}" for i in range(3000)))})
    publish(mirror, data, signature)
    mirror.cut_once.add("/vigil.tar.gz")
    assert update(write_config(setup, mirror)) == 0
    gets = mirror.requests("/vigil.tar.gz")
    assert len(gets) == 2 and "Range" not in gets[0]
    assert gets[1]["Range"] == f"bytes={len(data) // 2}-"
    assert active_version(setup) == 1
    assert detect(setup, b"n2999") == "n2999.UNOFFICIAL"


def test_dead_mirror_fails_cleanly(setup: Setup, mirror: Mirror, capsys) -> None:
    config = write_config(setup, mirror)
    assert update(config) == 1  # nothing published: 404
    assert "HTTP 404" in capsys.readouterr().err


def test_rollback_restores_previous(v1: str, mirror: Mirror, setup: Setup, signing_key) -> None:
    publish(mirror, *make_bundle(signing_key, 2, {"sigs.hdb": hdb("beta")}))
    assert update(v1) == 0
    assert update(v1, "--rollback") == 0
    assert active_version(setup) == 1
    assert detect(setup, b"alpha") == "alpha.UNOFFICIAL"
    assert update(v1, "--rollback") == 1  # nothing older left


def test_keep_last_n_versions(v1: str, mirror: Mirror, setup: Setup, signing_key) -> None:
    for version in range(2, 7):
        publish(mirror, *make_bundle(signing_key, version, {"sigs.hdb": hdb(f"v{version}")}))
        assert update(v1) == 0
    versions = [n for n in os.listdir(setup.root / "versions") if not n.startswith(".")]
    assert len(versions) == 3 and len(activate.history(str(setup.root))) == 3


def test_offline_bundle_from_file(tmp_path: Path, setup: Setup, signing_key, other_key) -> None:
    data, signature = make_bundle(signing_key, 5, {"sigs.hdb": hdb("usb")})
    bundle = tmp_path / "stick.tar.gz"
    bundle.write_bytes(data)
    Path(str(bundle) + ".minisig").write_text(signature)
    args = ["update", "--config", str(tmp_path / "none.toml"), "--root", str(setup.root)]
    args += ["--trust-store", str(setup.store)]
    assert main([*args, "--from", str(bundle)]) == 0
    assert detect(setup, b"usb") == "usb.UNOFFICIAL"
    Path(str(bundle) + ".minisig").write_text(make_bundle(other_key, 5, {"sigs.hdb": hdb("usb")})[1])
    assert main([*args, "--from", str(bundle), "--allow-downgrade"]) == 1


def test_key_rotation(v1: str, tmp_path: Path, mirror: Mirror, setup: Setup, signing_key, other_key) -> None:
    new_pub = tmp_path / "new.pub"
    new_pub.write_text(other_key.public().to_text())
    statement = tmp_path / "new.pub.minisig"
    # a bundle signature is not a rotation statement (domain separation)
    statement.write_text(make_bundle(signing_key, 9, {"a.hdb": hdb("a")})[1])
    assert update(v1, "--trust-key", str(new_pub), "--rotation-sig", str(statement)) == 1
    statement.write_text(trust.sign_rotation(signing_key, other_key.public(), retire_old=True))
    assert update(v1, "--trust-key", str(new_pub), "--rotation-sig", str(statement)) == 0
    assert [k.key_id for k in trust.load_store(str(setup.store))] == [other_key.key_id]
    publish(mirror, *make_bundle(signing_key, 2, {"sigs.hdb": hdb("beta")}))
    assert update(v1) == 1  # the retired key no longer signs
    publish(mirror, *make_bundle(other_key, 2, {"sigs.hdb": hdb("beta")}))
    assert update(v1) == 0
    assert active_version(setup) == 2


def test_signed_bundle_that_does_not_load_leaves_nothing_behind(
    v1: str, mirror: Mirror, setup: Setup, signing_key, capsys
) -> None:
    """A well-signed bundle with a malformed signature line fails its test load in versions/ (where it
    was moved to be loaded as it would run): it is deleted, and version 1 stays current."""
    before = sorted(os.listdir(setup.root / "versions"))
    history = activate.history(str(setup.root))
    publish(mirror, *make_bundle(signing_key, 2, {"sigs.hdb": hdb("beta"), "bad.ndb": b"Bad.Sig:0:*:zz\n"}))
    assert update(v1) == 1
    assert "bad.ndb:1" in capsys.readouterr().err
    assert sorted(os.listdir(setup.root / "versions")) == before
    assert activate.history(str(setup.root)) == history and active_version(setup) == 1
    assert detect(setup, b"alpha") == "alpha.UNOFFICIAL" and detect(setup, b"beta") is None


def test_a_version_whose_files_cannot_be_synced_is_discarded(v1: str, setup: Setup) -> None:
    """Making the new files durable runs beside the test load; if it fails (here: an entry that cannot
    be opened, a dangling link), the version is removed and the active one stays, as for a failed load."""
    root = str(setup.root)
    before, history = sorted(os.listdir(setup.root / "versions")), activate.history(root)
    staging = activate.stage(root)
    activate.write_file(staging, "extra.hdb", hdb("gamma"))
    os.symlink(os.path.join(staging, "missing"), os.path.join(staging, "dangling.hdb"))
    loaded: list[str] = []
    with pytest.raises(FileNotFoundError):
        activate.commit(root, staging, "offline", loaded.append, keep=3)
    assert loaded and not os.path.exists(loaded[0])  # it was test-loaded, then removed
    assert sorted(os.listdir(setup.root / "versions")) == before
    assert activate.history(root) == history and active_version(setup) == 1
