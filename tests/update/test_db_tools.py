"""`vigil db`: deterministic bundles, minisign interop, the trust boundary, and sigtool-equivalent jobs."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import EICAR_MD5, hdb

from vigil.cli.main import main
from vigil.update import minisign
from vigil.update.bundle import build_bundle
from vigil.update.notify import NotifyError, request_reload

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
needs_minisign = pytest.mark.skipif(shutil.which("minisign") is None, reason="needs the minisign package")
needs_sigtool = pytest.mark.skipif(shutil.which("sigtool") is None, reason="needs ClamAV's sigtool")


def _sigdir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.hdb").write_bytes(hdb("alpha", "beta"))
    (src / "b.ndb").write_text("Body.Sig:0:*:68656c6c6f776f726c64\n")
    (src / "notes.txt").write_text("not packed\n")
    return src


def test_bundle_bytes_are_deterministic(tmp_path: Path) -> None:
    src = _sigdir(tmp_path)
    key = tmp_path / "k"
    assert main(["db", "keygen", "-o", str(key)]) == 0
    for out in ("one.tar.gz", "two.tar.gz"):
        args = [
            "db",
            "build",
            str(src),
            "-o",
            str(tmp_path / out),
            "--version",
            "7",
            "--created",
            "1700000000",
        ]
        assert main([*args, "--key", f"{key}.key"]) == 0
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    files = {"a.hdb": b"x:1:y\n"}
    assert build_bundle(files, name="v", version=1, created=5) == build_bundle(
        files, name="v", version=1, created=5
    )
    assert build_bundle(files, name="v", version=1, created=5) != build_bundle(
        files, name="v", version=2, created=5
    )
    assert main(["db", "verify", str(tmp_path / "one.tar.gz"), "--pubkey", f"{key}.pub"]) == 0


def test_bundle_rejects_paths_and_unknown_files(tmp_path: Path) -> None:
    for name in ("../evil.hdb", "sub/a.hdb", ".hidden.hdb", "run.sh"):
        with pytest.raises(Exception, match="bundle member"):
            build_bundle({name: b""}, name="v", version=1, created=0)


@needs_minisign
def test_real_minisign_verifies_our_signature(tmp_path: Path) -> None:
    src = _sigdir(tmp_path)
    key = tmp_path / "k"
    main(["db", "keygen", "-o", str(key)])
    bundle = tmp_path / "b.tar.gz"
    main(
        [
            "db",
            "build",
            str(src),
            "-o",
            str(bundle),
            "--version",
            "1",
            "--created",
            "1",
            "--key",
            f"{key}.key",
        ]
    )
    ok = subprocess.run(["minisign", "-Vm", str(bundle), "-p", f"{key}.pub"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "vigil-bundle name=vigil version=1 created=1" in ok.stdout
    bundle.write_bytes(bundle.read_bytes() + b"\0")
    bad = subprocess.run(["minisign", "-Vm", str(bundle), "-p", f"{key}.pub"], capture_output=True)
    assert bad.returncode != 0


@needs_minisign
@pytest.mark.parametrize("legacy", [False, True])
def test_we_verify_real_minisign_signatures(tmp_path: Path, legacy: bool) -> None:
    subprocess.run(
        ["minisign", "-G", "-W", "-p", str(tmp_path / "m.pub"), "-s", str(tmp_path / "m.key")],
        check=True,
        capture_output=True,
    )
    data = tmp_path / "f"
    data.write_bytes(b"payload" * 100)
    cmd = ["minisign", "-S", "-s", str(tmp_path / "m.key"), "-m", str(data), "-t", "tc"] + (
        ["-l"] if legacy else []
    )
    subprocess.run(cmd, check=True, capture_output=True)
    signature = minisign.parse_signature((tmp_path / "f.minisig").read_text())
    assert signature.algorithm == (b"Ed" if legacy else b"ED")
    public = minisign.parse_public_key((tmp_path / "m.pub").read_text())
    assert minisign.verify([public], data.read_bytes(), signature) == public
    with pytest.raises(minisign.SignatureInvalid):
        minisign.verify([public], data.read_bytes() + b"x", signature)
    forged = minisign.Signature(
        signature.algorithm, signature.key_id, signature.signature, "other", signature.global_signature
    )
    with pytest.raises(minisign.SignatureInvalid, match="trusted comment"):
        minisign.verify([public], data.read_bytes(), forged)


@needs_sigtool
def test_hash_and_hexdump_match_sigtool(tmp_path: Path, capsys) -> None:
    sample = tmp_path / "eicar.com"
    sample.write_bytes(EICAR)
    assert main(["db", "hash", str(sample)]) == 0
    ours = capsys.readouterr().out.strip()
    theirs = subprocess.run(["sigtool", "--md5", str(sample)], capture_output=True, text=True).stdout.strip()
    assert ours == theirs == f"{EICAR_MD5}:68:eicar.com"
    assert main(["db", "hexdump", str(sample)]) == 0
    hexed = (
        subprocess.run(["sigtool", "--hex-dump"], input=EICAR, capture_output=True).stdout.decode().strip()
    )
    assert capsys.readouterr().out.strip() == hexed


@needs_sigtool
def test_unpack_sigtool_container(tmp_path: Path) -> None:
    build = tmp_path / "b"
    build.mkdir()
    (build / "COPYING").write_text("c\n")
    (build / "x.ndb").write_text("Unpack.Me:0:*:68656c6c6f776f726c64\n")
    subprocess.run(
        ["sigtool", "--build=x.cud", "--unsigned", "--cvd-version=3", f"--datadir={tmp_path}"],
        cwd=build,
        input="t\n",
        text=True,
        capture_output=True,
        timeout=60,
    )
    out = tmp_path / "out"
    assert main(["db", "unpack", str(build / "x.cud"), "-o", str(out)]) == 0
    assert (out / "x.ndb").read_text() == "Unpack.Me:0:*:68656c6c6f776f726c64\n"
    assert main(["db", "info", str(build / "x.cud")]) == 0


def test_decode(capsys) -> None:
    assert main(["db", "decode", "Test.B:0:*:68656c6c6f??776f726c64*0001ff"]) == 0
    out = capsys.readouterr().out
    assert '"hello" <any byte> "world" <any bytes>' in out and "offset *" in out
    assert main(["db", "decode", "Bad:0:*:41(42|43)"]) == 1


def test_lint_finds_problems(tmp_path: Path, capsys) -> None:
    db = tmp_path / "db"
    db.mkdir()
    (db / "a.ndb").write_text(
        "Good.Sig:0:*:68656c6c6f776f726c64\n"
        "Short.Sig:0:*:4142??4344??4546\n"
        "Slow.Sig:0:*:41424344*4546*4748*4950*5152*5354\n"
        "Good.Sig:0:*:776f726c6468656c6c6f\n"
        "Broken:0:*:4g\n"
    )
    (db / "b.ndb").write_text("Copy:0:*:68656c6c6f776f726c64\n")
    assert main(["db", "lint", str(db)]) == 1
    out = capsys.readouterr().out
    assert "a.ndb:2: short" in out and "a.ndb:3: slow" in out and "a.ndb:5: invalid" in out
    assert "a.ndb:4: name-collision" in out and "b.ndb:1: duplicate" in out
    assert "a.ndb:1:" not in out
    clean = tmp_path / "clean.ndb"
    clean.write_text("Good.Sig:0:*:68656c6c6f776f726c64\n")
    assert main(["db", "lint", str(clean)]) == 0


def test_reload_notification_speaks_clamd_protocol(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            received.append(conn.recv(100))
            conn.sendall(b"RELOADING\0")

    thread = threading.Thread(target=serve)
    thread.start()
    assert request_reload(path) == "RELOADING"
    thread.join(5)
    server.close()
    assert received == [b"zRELOAD\0"]
    with pytest.raises(NotifyError):
        request_reload(str(tmp_path / "missing.sock"))
