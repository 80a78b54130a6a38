"""The work behind `vigil db ...` (imported only when that command runs; the parser is vigil.cli.db)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from vigil.errors import DatabaseError
from vigil.signatures.formats.cvd import read_container, read_header
from vigil.update import dbtools, minisign, trust
from vigil.update.bundle import BundleLimits, build_bundle, read_bundle, read_dir_files
from vigil.update.install import bundle_comment, verify_bundle


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _write_new(path: str, data: bytes, force: bool, mode: int = 0o644) -> None:
    if os.path.exists(path) and not force:
        raise DatabaseError(f"{path} exists (use --force to overwrite)")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def keygen(args: argparse.Namespace) -> int:
    key = minisign.generate_key()
    _write_new(args.output + ".key", key.to_text().encode(), args.force, 0o600)
    _write_new(args.output + ".pub", key.public().to_text().encode(), args.force)
    print(f"key id {key.public().id_hex}: {args.output}.key (secret, keep offline), {args.output}.pub")
    return 0


def _sign_bundle(bundle_path: str, key_path: str) -> None:
    data = _read(bundle_path)
    manifest = read_bundle(data, source=bundle_path).manifest
    comment = bundle_comment(manifest.name, manifest.version, manifest.created)
    key = minisign.parse_secret_key(_text(key_path))
    signature = minisign.sign(key, data, comment)
    with open(bundle_path + ".minisig", "w", encoding="utf-8") as fh:
        fh.write(signature.to_text())


def build(args: argparse.Namespace) -> int:
    created = (
        args.created if args.created is not None else int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    )
    data = build_bundle(
        read_dir_files(args.directory), name=args.name, version=args.db_version, created=created
    )
    _write_new(args.output, data, True)
    if args.key:
        _sign_bundle(args.output, args.key)
    print(f"{args.output}: {args.name} version {args.db_version}, {len(data)} bytes")
    return 0


def sign(args: argparse.Namespace) -> int:
    if args.rotate:
        new = minisign.parse_public_key(_text(args.rotate))
        text = trust.sign_rotation(minisign.parse_secret_key(_text(args.key)), new, retire_old=args.retire)
        with open(args.rotate + ".minisig", "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"{args.rotate}.minisig: rotation to key {new.id_hex}")
        return 0
    _sign_bundle(args.bundle, args.key)
    print(f"{args.bundle}.minisig")
    return 0


def _keys(args: argparse.Namespace) -> list[minisign.PublicKey]:
    if args.pubkey:
        return [minisign.parse_public_key(_text(args.pubkey))]
    return trust.load_store(args.trust_store)


def verify(args: argparse.Namespace) -> int:
    data = _read(args.bundle)
    try:
        bundle = verify_bundle(data, _text(args.bundle + ".minisig"), _keys(args), BundleLimits())
    except (minisign.SignatureInvalid, DatabaseError) as exc:
        print(f"{args.bundle}: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"{args.bundle}: OK ({bundle.manifest.name} version {bundle.manifest.version})")
    return 0


def info(args: argparse.Namespace) -> int:
    if os.path.splitext(args.file)[1].lower() in (".cvd", ".cld", ".cud"):
        header = read_header(args.file)
        for field in ("build_time", "version", "signatures", "flevel", "builder", "stime"):
            print(f"{field}: {getattr(header, field)}")
        return 0
    manifest = read_bundle(_read(args.file), source=args.file).manifest
    print(f"name: {manifest.name}\nversion: {manifest.version}\ncreated: {manifest.created}")
    for entry in manifest.files:
        print(f"  {entry.name} {entry.size} {entry.sha256}")
    print("(not verified: run `vigil db verify`)")
    return 0


def hash_files(args: argparse.Namespace) -> int:
    for line in dbtools.hash_lines(args.files, args.algorithm):
        print(line)
    return 0


def hexdump(args: argparse.Namespace) -> int:
    data = _read(args.file) if args.file else sys.stdin.buffer.read()
    print(dbtools.hexdump(data))
    return 0


def decode(args: argparse.Namespace) -> int:
    status = 0
    for line in args.signature or sys.stdin.read().splitlines():
        if not line.strip():
            continue
        try:
            print(dbtools.decode_line(line.strip(), args.suffix))
        except (ValueError, IndexError) as exc:
            print(f"{line[:60]}: {exc}", file=sys.stderr)
            status = 1
    return status


def unpack(args: argparse.Namespace) -> int:
    container = read_container(args.container)
    os.makedirs(args.output, exist_ok=True)
    for name, data in container.members:  # names are plain (checked by read_container)
        _write_new(os.path.join(args.output, name), data, args.force)
        print(f"{name} {len(data)}")
    return 0


def lint(args: argparse.Namespace) -> int:
    findings = dbtools.lint_paths(args.paths)
    for finding in findings:
        print(finding)
    return 1 if findings else 0


RUNNERS = {
    "keygen": keygen,
    "build": build,
    "sign": sign,
    "verify": verify,
    "info": info,
    "hash": hash_files,
    "hexdump": hexdump,
    "decode": decode,
    "unpack": unpack,
    "lint": lint,
}
