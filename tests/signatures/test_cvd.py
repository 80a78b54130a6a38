"""Containers `.cvd`/`.cld`/`.cud`: sigtool- and clamscan-checked loading, DSIG math, hostile archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from vigil.errors import DatabaseError
from vigil.signatures.dsig import (
    OFFICIAL_HEADER_KEY,
    OFFICIAL_INFO_KEY,
    RsaKey,
    SigningKeys,
    decode_number,
    encode_number,
    rsa_recover,
    verify_header_dsig,
    verify_info_dsig,
)
from vigil.signatures.formats.cvd import ContainerLimits, read_container, read_header

NDB = b"Cud.Ndb:0:*:68656c6c6f776f726c64\n"  # "helloworld"
STIME = 1795826800
BUILD_TIME = "28 Nov 2026 00-46 +0000"


# --- local signing keys and a tiny sigtool stand-in ----------------------------------------------------


@dataclass(frozen=True)
class Signer:
    header: rsa.RSAPrivateKey
    info: rsa.RSAPrivateKey

    @property
    def keys(self) -> SigningKeys:
        return SigningKeys(header=_public(self.header), info=_public(self.info))

    def sign_md5(self, md5_hex: str) -> str:
        numbers = self.header.private_numbers()
        return encode_number(pow(int(md5_hex, 16), numbers.d, numbers.public_numbers.n))

    def sign_info(self, digest: bytes) -> str:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = self.info.sign(digest, pss, utils.Prehashed(hashes.SHA256()))
        return encode_number(int.from_bytes(signature, "big"))


def _public(key: rsa.RSAPrivateKey) -> RsaKey:
    numbers = key.public_key().public_numbers()
    return RsaKey(n=numbers.n, e=numbers.e)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(
        header=rsa.generate_private_key(public_exponent=65537, key_size=1024),
        info=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def header_line(md5: str = "X", dsig: str = "X", version: int = 5, nsigs: int = 1) -> str:
    return f"ClamAV-VDB:{BUILD_TIME}:{version}:{nsigs}:216:{md5}:{dsig}:tester:{STIME}"


def info_bytes(files: Sequence[tuple[str, bytes]], sign: Callable[[bytes], str] | None = None) -> bytes:
    lines = [header_line()] + [f"{n}:{len(d)}:{hashlib.sha256(d).hexdigest()}" for n, d in files]
    body = "".join(line + "\n" for line in lines).encode()
    if sign is None:
        return body
    return body + b"DSIG:" + sign(hashlib.sha256(body).digest()).encode() + b"\n"


def tar_bytes(members: Sequence[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return out.getvalue()


def container_bytes(payload: bytes, md5: str | None = None, dsig: str = "X") -> bytes:
    md5 = md5 if md5 is not None else hashlib.md5(payload).hexdigest()
    return header_line(md5=md5, dsig=dsig).encode().ljust(512, b" ") + payload


def standard_members(dbs: Sequence[tuple[str, bytes]], sign: Callable[[bytes], str] | None = None):
    return [("COPYING", b"copying\n"), ("x.info", info_bytes(dbs, sign)), *dbs]


def write_cud(path: Path, members: Sequence[tuple[str, bytes]]) -> Path:
    path.write_bytes(container_bytes(gzip.compress(tar_bytes(members))))
    return path


def write_cvd(path: Path, signer: Signer, dbs: Sequence[tuple[str, bytes]]) -> Path:
    payload = gzip.compress(tar_bytes(standard_members(dbs, signer.sign_info)))
    md5 = hashlib.md5(payload).hexdigest()
    path.write_bytes(container_bytes(payload, md5=md5, dsig=signer.sign_md5(md5)))
    return path


def clamscan(db: Path, targets: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["clamscan", "--no-summary", "-d", str(db), str(targets)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- real sigtool / clamscan oracle -----------------------------------------------------------------------


def test_sigtool_cud_members_and_clamscan_names(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    hashed = b"hash target data 0123456789"
    hdb = f"{hashlib.md5(hashed).hexdigest()}:{len(hashed)}:Cud.Hdb\n".encode()
    (data / "COPYING").write_bytes(b"test copying\n")
    (data / "test.hdb").write_bytes(hdb)
    (data / "test.ndb").write_bytes(NDB)
    subprocess.run(
        ["sigtool", "--build=test.cud", "--unsigned", "--cvd-version=5", "--datadir=."],
        cwd=data,
        input="tester\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    container = read_container(str(data / "test.cud"))
    assert container.official is False
    assert container.members == [("test.hdb", hdb), ("test.ndb", NDB)]
    assert (container.header.version, container.header.signatures) == (5, 2)
    assert (container.header.dsig, container.header.builder) == ("X", "tester")
    assert container.header == read_header(data / "test.cud")

    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "ndb.txt").write_bytes(b"xx helloworld xx")
    (targets / "hdb.txt").write_bytes(hashed)
    (targets / "clean.txt").write_bytes(b"nothing to see here")
    result = clamscan(data / "test.cud", targets)
    names = {
        line.split(": ")[1].removesuffix(" FOUND") for line in result.stdout.splitlines() if "FOUND" in line
    }
    expected = {
        line.split(b":")[idx].decode() + ".UNOFFICIAL"
        for (name, body), idx in zip(container.members, (2, 0), strict=True)
        for line in body.splitlines()
    }
    assert names == expected == {"Cud.Hdb.UNOFFICIAL", "Cud.Ndb.UNOFFICIAL"}
    assert "clean.txt: OK" in result.stdout


def test_cud_with_wrong_header_md5_loads_like_clamscan(tmp_path: Path) -> None:
    # clamscan does not check a .cud's header MD5; the per-file SHA-256 in .info guards the content.
    payload = gzip.compress(tar_bytes(standard_members([("x.ndb", NDB)])))
    db = tmp_path / "md5.cud"
    db.write_bytes(container_bytes(payload, md5="0" * 32))
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.txt").write_bytes(b"helloworld")
    assert "Cud.Ndb.UNOFFICIAL FOUND" in clamscan(db, tmp_path / "t").stdout
    assert read_container(str(db)).members == [("x.ndb", NDB)]


@pytest.mark.parametrize(
    ("info_files", "reason"),
    [
        ([], "not listed"),
        ([("x.ndb", NDB + b"#")], "has 33 bytes"),
        ([("x.ndb", NDB.replace(b"Cud", b"Cue"))], "SHA-256"),
    ],
)
def test_info_mismatch_rejected_like_clamscan(tmp_path: Path, info_files, reason: str) -> None:
    members = [("COPYING", b"c"), ("x.info", info_bytes(info_files)), ("x.ndb", NDB)]
    db = write_cud(tmp_path / "bad.cud", members)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.txt").write_bytes(b"helloworld")
    assert clamscan(db, tmp_path / "t").returncode == 2
    with pytest.raises(DatabaseError, match=reason) as err:
        read_container(str(db))
    assert str(db) in str(err.value)


def test_unsigned_cld_is_rejected_like_clamscan(tmp_path: Path) -> None:
    db = tmp_path / "plain.cld"
    db.write_bytes(container_bytes(tar_bytes(standard_members([("x.ndb", NDB)]))))
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.txt").write_bytes(b"helloworld")
    assert clamscan(db, tmp_path / "t").returncode == 2
    with pytest.raises(DatabaseError, match="no digital signature"):
        read_container(str(db))


# --- signed containers with an injected local key ----------------------------------------------------


def test_signed_cvd_loads_as_official(tmp_path: Path, signer: Signer) -> None:
    db = write_cvd(tmp_path / "main.cvd", signer, [("main.ndb", NDB), ("main.hdb", b"h\n")])
    container = read_container(str(db), keys=signer.keys)
    assert container.official is True
    assert container.members == [("main.ndb", NDB), ("main.hdb", b"h\n")]
    with pytest.raises(DatabaseError, match="header digital signature"):
        read_container(str(db))  # the official key did not sign it


def test_signed_cvd_payload_tamper_breaks_md5(tmp_path: Path, signer: Signer) -> None:
    db = write_cvd(tmp_path / "main.cvd", signer, [("main.ndb", NDB)])
    raw = bytearray(db.read_bytes())
    raw[-20] ^= 0x01
    db.write_bytes(bytes(raw))
    with pytest.raises(DatabaseError, match="payload MD5"):
        read_container(str(db), keys=signer.keys)


def test_cvd_with_foreign_header_dsig_rejected(tmp_path: Path, signer: Signer) -> None:
    payload = gzip.compress(tar_bytes(standard_members([("m.ndb", NDB)], signer.sign_info)))
    md5 = hashlib.md5(payload).hexdigest()
    db = tmp_path / "m.cvd"
    db.write_bytes(container_bytes(payload, md5=md5, dsig=signer.sign_md5(hashlib.md5(b"other").hexdigest())))
    with pytest.raises(DatabaseError, match="header digital signature"):
        read_container(str(db), keys=signer.keys)


def test_cvd_info_edited_after_signing_rejected(tmp_path: Path, signer: Signer) -> None:
    signed = info_bytes([("m.ndb", NDB)], signer.sign_info)
    forged_ndb = NDB.replace(b"Cud", b"Cue")
    forged = signed.replace(
        hashlib.sha256(NDB).hexdigest().encode(), hashlib.sha256(forged_ndb).hexdigest().encode()
    )
    payload = gzip.compress(tar_bytes([("COPYING", b"c"), ("m.info", forged), ("m.ndb", forged_ndb)]))
    md5 = hashlib.md5(payload).hexdigest()
    db = tmp_path / "m.cvd"
    db.write_bytes(container_bytes(payload, md5=md5, dsig=signer.sign_md5(md5)))
    with pytest.raises(DatabaseError, match=r"m\.info digital signature does not verify"):
        read_container(str(db), keys=signer.keys)


def test_plain_tar_cld_loads_as_official(tmp_path: Path, signer: Signer) -> None:
    db = tmp_path / "daily.cld"
    # A .cld's header MD5 and DSIG are stale after diffs, so neither is checked; its .info DSIG is.
    payload = tar_bytes(standard_members([("daily.ndb", NDB)], signer.sign_info))
    assert payload.startswith(b"COPYING")
    db.write_bytes(container_bytes(payload, md5="0" * 32, dsig="bogus"))
    container = read_container(str(db), keys=signer.keys)
    assert container.official is True
    assert container.members == [("daily.ndb", NDB)]


# --- DSIG math ----------------------------------------------------------------------------------------


def test_decode_number_is_little_endian_base64() -> None:
    assert decode_number("a") == 0
    assert decode_number("b") == 1
    assert decode_number("/") == 63
    assert decode_number("ab") == 64  # the second character is the next six bits up
    assert decode_number("ba") == 1
    assert decode_number("A0+") == 26 + (52 << 6) + (62 << 12)
    for value in (0, 1, 63, 64, 2**1024 - 17, 123456789123456789):
        assert decode_number(encode_number(value)) == value
    with pytest.raises(ValueError, match="invalid DSIG character"):
        decode_number("ab=c")


def test_rsa_recover_keeps_low_bytes_big_endian() -> None:
    key = RsaKey(n=3233, e=17)  # textbook key: p=61, q=53, d=2753
    cipher = pow(0x0A41, 2753, 3233)
    assert rsa_recover(encode_number(cipher), key, 2) == bytes([0x0A, 0x41])
    assert rsa_recover(encode_number(cipher), key, 1) == bytes([0x41])


def test_header_dsig_round_trip(signer: Signer) -> None:
    key = signer.keys.header
    md5 = hashlib.md5(b"payload").hexdigest()
    dsig = signer.sign_md5(md5)
    assert verify_header_dsig(md5, dsig, key)
    assert verify_header_dsig(md5.upper(), dsig, key)
    assert not verify_header_dsig(hashlib.md5(b"other").hexdigest(), dsig, key)
    assert not verify_header_dsig(md5, dsig[:-1] + ("b" if dsig[-1] != "b" else "c"), key)
    assert not verify_header_dsig(md5, "bad*char", key)
    assert not verify_header_dsig(md5[:31], dsig, key)
    assert not verify_header_dsig(md5, dsig)  # official key


def test_info_dsig_round_trip(signer: Signer) -> None:
    key = signer.keys.info
    digest = hashlib.sha256(b"info lines\n").digest()
    dsig = signer.sign_info(digest)
    assert verify_info_dsig(digest, dsig, key)
    assert not verify_info_dsig(hashlib.sha256(b"other").digest(), dsig, key)
    assert not verify_info_dsig(digest, dsig.replace(dsig[5], "a" if dsig[5] != "a" else "b", 1), key)
    assert not verify_info_dsig(digest, "x", key)
    assert not verify_info_dsig(digest, dsig)  # official key


def test_official_keys_are_libclamav_sizes() -> None:
    assert OFFICIAL_HEADER_KEY.n.bit_length() == 1024
    assert OFFICIAL_HEADER_KEY.e == 100001027
    assert OFFICIAL_INFO_KEY.n.bit_length() == 2047
    assert OFFICIAL_INFO_KEY.e == 100002049
    assert str(OFFICIAL_INFO_KEY.n).endswith("19977244732747977")


def test_official_cvd_if_present() -> None:
    found = sorted(Path("/var/lib/clamav").glob("*.c[lv]d")) if Path("/var/lib/clamav").is_dir() else []
    if not found:
        pytest.skip("no official .cvd/.cld on this system")
    for path in found:
        assert read_container(str(path)).official is True


# --- hostile archives ---------------------------------------------------------------------------------


def test_every_flipped_payload_byte_is_rejected_or_harmless(tmp_path: Path) -> None:
    good = write_cud(tmp_path / "g.cud", standard_members([("x.ndb", NDB)])).read_bytes()
    expected = read_container(str(tmp_path / "g.cud")).members
    target = tmp_path / "f.cud"
    for pos in range(512, len(good)):
        raw = bytearray(good)
        raw[pos] ^= 0x20
        target.write_bytes(bytes(raw))
        try:
            members = read_container(str(target)).members
        except DatabaseError:
            continue
        assert members == expected, pos  # only bytes that do not change content (e.g. gzip mtime)


def test_every_truncation_is_rejected(tmp_path: Path) -> None:
    good = write_cud(tmp_path / "g.cud", standard_members([("x.ndb", NDB)])).read_bytes()
    target = tmp_path / "t.cud"
    for size in range(len(good)):
        target.write_bytes(good[:size])
        with pytest.raises(DatabaseError, match=r"t\.cud"):
            read_container(str(target))


def test_truncated_plain_tar_never_loses_a_listed_file(tmp_path: Path, signer: Signer) -> None:
    good = container_bytes(tar_bytes(standard_members([("x.ndb", NDB)], signer.sign_info)))
    target = tmp_path / "t.cld"
    for size in range(0, len(good), 97):
        target.write_bytes(good[:size])
        try:
            members = read_container(str(target), keys=signer.keys).members
        except DatabaseError:
            continue
        assert members == [("x.ndb", NDB)]  # only the tar's zero padding was cut


def _special(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.linkname = link
    return entry


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (_special("evil.ndb", tarfile.SYMTYPE, "/etc/passwd"), "not a regular file"),
        (_special("hard.ndb", tarfile.LNKTYPE, "COPYING"), "not a regular file"),
        (_special("sub", tarfile.DIRTYPE), "not a regular file"),
        (_special("fifo", tarfile.FIFOTYPE), "not a regular file"),
        (tarfile.TarInfo("../x"), "not a plain file name"),
        (tarfile.TarInfo("dir/x.ndb"), "not a plain file name"),
    ],
)
def test_hostile_member_rejected(tmp_path: Path, entry: tarfile.TarInfo, reason: str) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in standard_members([("x.ndb", NDB)]):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.addfile(entry, io.BytesIO(b"") if entry.isreg() else None)
    db = tmp_path / "h.cud"
    db.write_bytes(container_bytes(gzip.compress(out.getvalue())))
    with pytest.raises(DatabaseError, match=reason):
        read_container(str(db))
    assert not (tmp_path / "x").exists()


def test_oversize_member_rejected_before_reading(tmp_path: Path) -> None:
    bomb = bytes(8 << 20)  # compresses to a few KiB
    db = write_cud(tmp_path / "bomb.cud", standard_members([("x.ndb", NDB), ("big.ndb", bomb)]))
    assert db.stat().st_size < 64 << 10
    with pytest.raises(DatabaseError, match="exceed 1048576 bytes"):
        read_container(str(db), limits=ContainerLimits(max_total_bytes=1 << 20))
    assert len(read_container(str(db)).members) == 2


def test_member_count_capped(tmp_path: Path) -> None:
    dbs = [(f"m{i}.ndb", NDB) for i in range(5)]
    db = write_cud(tmp_path / "many.cud", standard_members(dbs))
    with pytest.raises(DatabaseError, match="more than 4 members"):
        read_container(str(db), limits=ContainerLimits(max_members=4))
    assert len(read_container(str(db), limits=ContainerLimits(max_members=7)).members) == 5


def test_trailing_gzip_bomb_after_tar_is_capped(tmp_path: Path) -> None:
    payload = gzip.compress(tar_bytes(standard_members([("x.ndb", NDB)])) + bytes(4 << 20))
    db = tmp_path / "tail.cud"
    db.write_bytes(container_bytes(payload))
    with pytest.raises(DatabaseError, match="size cap"):
        read_container(str(db), limits=ContainerLimits(max_total_bytes=1 << 20))


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([("COPYING", b"c"), ("x.ndb", NDB)], "no .info member"),
        ([*standard_members([("x.ndb", NDB), ("y.ndb", NDB)])[:3]], "y.ndb listed in x.info but missing"),
        ([*standard_members([("x.ndb", NDB)]), ("z.info", b"")], "more than one .info"),
        ([("COPYING", b"c"), ("x.info", b"x.ndb:1:" + b"0" * 64 + b"\n")], "not a ClamAV container"),
        ([("COPYING", b"c"), ("x.info", info_bytes([]) + b"x.ndb:12z:" + b"0" * 64 + b"\n")], "not a number"),
        ([("COPYING", b"c"), ("x.info", info_bytes([]) + b"x.ndb:1:abc\n")], "malformed SHA-256"),
        ([("COPYING", b"c"), ("x.info", info_bytes([]) + b"x.ndb:1\n")], "expected NAME:SIZE:SHA256"),
    ],
)
def test_bad_info_rejected(tmp_path: Path, members, reason: str) -> None:
    db = write_cud(tmp_path / "i.cud", members)
    with pytest.raises(DatabaseError, match=reason):
        read_container(str(db))


def test_info_header_must_match_container_header(tmp_path: Path) -> None:
    payload = gzip.compress(tar_bytes(standard_members([("x.ndb", NDB)])))
    db = tmp_path / "v.cud"
    db.write_bytes(header_line(version=6).encode().ljust(512, b" ") + payload)
    with pytest.raises(DatabaseError, match=r"disagrees with the container header \(version\)"):
        read_container(str(db))


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"ClamAV-VDB:short", "truncated header"),
        (b"NotClamAV:" + b" " * 600, "not a ClamAV container"),
        (header_line().replace(":5:", ":five:").encode().ljust(512, b" "), "version 'five' is not a number"),
        (header_line().encode().ljust(511, b" ") + b"\xff", "not ASCII"),
        (b"ClamAV-VDB:a:1:2".ljust(512, b" "), "fields"),
    ],
)
def test_bad_header_rejected(head: bytes, reason: str) -> None:
    with pytest.raises(DatabaseError, match=reason):
        read_header(head)


def test_header_without_stime_and_with_newline() -> None:
    head = read_header(b"ClamAV-VDB:t:1:2:3:m:d:b\nrest".ljust(512, b" "))
    assert (head.version, head.signatures, head.flevel, head.md5, head.dsig, head.builder, head.stime) == (
        1,
        2,
        3,
        "m",
        "d",
        "b",
        0,
    )


def test_wrong_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"not a \.cvd"):
        read_container(str(tmp_path / "x.ndb"))
    with pytest.raises(DatabaseError, match="cannot read"):
        read_container(str(tmp_path / "absent.cvd"))
    with pytest.raises(DatabaseError, match="cannot read"):
        read_header(tmp_path / "absent.cvd")
