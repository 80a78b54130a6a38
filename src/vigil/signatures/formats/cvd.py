"""ClamAV database containers: `.cvd` (signed), `.cld` (signed, diffs applied), `.cud` (unsigned).

A container is a 512-byte ASCII header followed by a tar (gzip-compressed unless it starts with `COPYING`).
Containers arrive from mirrors and users, so they are hostile input: members are read in memory only,
never extracted, with caps on their count and total size, and every database member must match the size
and SHA-256 listed in the container's `.info` before anything downstream sees it.

Divergences from clamscan 1.4.6 (all stricter, none rejects what sigtool builds):
- a file listed in `.info` but absent from the archive is an error (clamscan ignores it; a truncated
  archive ends silently at a member boundary, so this is what catches truncation);
- every member other than `COPYING` and the `.info` must be listed, whatever its extension;
- the last `.info` line counts even without a trailing newline (clamscan drops it).
Matching clamscan: a `.cud` header MD5 is not checked (clamscan loads a `.cud` whose MD5 is wrong; the
per-file SHA-256 still guards its content), and a `.cld` skips the header MD5 and DSIG but its `.info`
DSIG is required.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import zlib
from dataclasses import dataclass
from io import BufferedReader
from typing import IO, cast

from vigil.errors import DatabaseError
from vigil.signatures.dsig import OFFICIAL_KEYS, SigningKeys, verify_header_dsig, verify_info_dsig

HEADER_SIZE = 512
_MAGIC = "ClamAV-VDB"
_COPYING = "COPYING"
_INFO_SUFFIX = ".info"
_DSIG_PREFIX = b"DSIG:"
_TAR_NAME_MAX = 100
_DRAIN_CHUNK = 1 << 16
_HEADER_FIELDS = 9  # magic + 8 fields; STIME may be missing in very old containers


@dataclass(frozen=True, slots=True)
class CvdHeader:
    build_time: str
    version: int
    signatures: int
    flevel: int
    md5: str
    dsig: str
    builder: str
    stime: int


@dataclass(frozen=True, slots=True)
class Container:
    path: str
    header: CvdHeader
    official: bool
    members: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class ContainerLimits:
    """Caps for hostile containers; official daily/main databases stay far below them."""

    max_total_bytes: int = 1 << 30
    max_members: int = 4096


DEFAULT_LIMITS = ContainerLimits()


@dataclass(frozen=True, slots=True)
class _Kind:
    verify_header: bool  # payload MD5 and header DSIG
    info_signed: bool  # `.info` must end with a valid DSIG line
    official: bool


_KINDS = {
    ".cvd": _Kind(verify_header=True, info_signed=True, official=True),
    ".cld": _Kind(verify_header=False, info_signed=True, official=True),
    ".cud": _Kind(verify_header=False, info_signed=False, official=False),
}


@dataclass(frozen=True, slots=True)
class _Info:
    header: CvdHeader
    entries: dict[str, tuple[int, str]]  # name -> (size, sha256 hex)
    digest: bytes  # SHA-256 of the lines before DSIG, each with its newline
    dsig: str | None


def read_header(path_or_bytes: str | os.PathLike[str] | bytes) -> CvdHeader:
    """Parse the 512-byte header of a container given as a path or as its leading bytes."""
    if isinstance(path_or_bytes, bytes):
        return _parse_header_block(path_or_bytes[:HEADER_SIZE], "<bytes>")
    source = os.fspath(path_or_bytes)
    try:
        with open(source, "rb") as fh:
            return _parse_header_block(fh.read(HEADER_SIZE), source)
    except OSError as exc:
        raise DatabaseError(f"{source}: cannot read: {exc.strerror or exc}") from exc


def read_container(
    path: str, *, keys: SigningKeys = OFFICIAL_KEYS, limits: ContainerLimits = DEFAULT_LIMITS
) -> Container:
    """Verify and read a container; any inconsistency raises DatabaseError naming the file and reason."""
    kind = _KINDS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise DatabaseError(f"{path}: not a .cvd, .cld or .cud container")
    try:
        with open(path, "rb") as fh:
            header = _parse_header_block(fh.read(HEADER_SIZE), path)
            if kind.verify_header:
                _verify_header(fh, header, path, keys)
            fh.seek(HEADER_SIZE)
            members = _read_members(fh, path, limits)
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    info_name, info = _find_info(members, path)
    _check_info_header(info.header, header, path)
    if kind.info_signed:
        _verify_info_dsig(info, info_name, path, keys)
    databases = [(name, data) for name, data in members if name not in (_COPYING, info_name)]
    _check_members(databases, info, info_name, path)
    return Container(path=path, header=header, official=kind.official, members=databases)


# --- header ---------------------------------------------------------------------------------------------


def _parse_header_block(block: bytes, source: str) -> CvdHeader:
    if len(block) < HEADER_SIZE:
        raise DatabaseError(f"{source}: truncated header ({len(block)} of {HEADER_SIZE} bytes)")
    try:
        text = block.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DatabaseError(f"{source}: header is not ASCII") from exc
    for stop in "\r\n":
        text = text.split(stop, 1)[0]
    return parse_header_line(text.rstrip(" \0"), source)


def parse_header_line(text: str, source: str) -> CvdHeader:
    """Parse `ClamAV-VDB:BUILDTIME:VERSION:NSIGS:FLEVEL:MD5:DSIG:BUILDER[:STIME]` (header or `.info`)."""
    fields = text.split(":")
    if fields[0] != _MAGIC:
        raise DatabaseError(f"{source}: not a ClamAV container (no {_MAGIC} header)")
    if len(fields) not in (_HEADER_FIELDS - 1, _HEADER_FIELDS):
        raise DatabaseError(f"{source}: header has {len(fields) - 1} fields, expected 7 or 8")
    stime = fields[8] if len(fields) == _HEADER_FIELDS else "0"
    return CvdHeader(
        build_time=fields[1],
        version=_number(fields[2], "version", source),
        signatures=_number(fields[3], "signature count", source),
        flevel=_number(fields[4], "functionality level", source),
        md5=fields[5],
        dsig=fields[6],
        builder=fields[7],
        stime=_number(stime, "build time", source),
    )


def _number(value: str, what: str, source: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise DatabaseError(f"{source}: header {what} {value!r} is not a number")
    return int(value)


def _verify_header(fh: BufferedReader, header: CvdHeader, path: str, keys: SigningKeys) -> None:
    """Check the payload MD5, then that the header DSIG is the MD5 signed with the header key."""
    fh.seek(HEADER_SIZE)
    actual = hashlib.file_digest(fh, "md5").hexdigest()
    if actual != header.md5.lower():
        raise DatabaseError(f"{path}: payload MD5 {actual} does not match header MD5 {header.md5}")
    if not verify_header_dsig(actual, header.dsig, keys.header):
        raise DatabaseError(f"{path}: header digital signature does not verify")


# --- payload ----------------------------------------------------------------------------------------------


def _read_members(fh: BufferedReader, path: str, limits: ContainerLimits) -> list[tuple[str, bytes]]:
    """Read every tar member into memory, in order, enforcing ClamAV's member rules and the caps.

    A gzip payload is drained to its end after the tar so its CRC and length trailer are checked:
    otherwise a container cut inside the trailer (or the tar's zero padding) would load silently.
    """
    plain = fh.read(len(_COPYING)) == _COPYING.encode()
    fh.seek(HEADER_SIZE)
    try:
        if plain:
            return _untar(fh, path, limits)
        with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
            stream = cast(IO[bytes], gz)  # typeshed does not declare GzipFile an IO[bytes]
            members = _untar(stream, path, limits)
            _drain(stream, path, limits.max_total_bytes - sum(len(data) for _, data in members))
            return members
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DatabaseError(f"{path}: corrupt payload: {exc}") from exc


def _untar(stream: IO[bytes], path: str, limits: ContainerLimits) -> list[tuple[str, bytes]]:
    members: list[tuple[str, bytes]] = []
    total = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            _check_member(member, path)
            total += member.size
            _check_caps(len(members) + 1, total, path, limits)
            members.append((member.name, _member_bytes(tar, member, path)))
    return members


def _drain(stream: IO[bytes], path: str, budget: int) -> None:
    while chunk := stream.read(_DRAIN_CHUNK):
        budget -= len(chunk)
        if budget < 0:
            raise DatabaseError(f"{path}: payload decompresses beyond the size cap")


def _check_member(member: tarfile.TarInfo, path: str) -> None:
    name = member.name
    if not member.isreg():
        raise DatabaseError(f"{path}: member {name!r} is not a regular file")
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise DatabaseError(f"{path}: member name {name!r} is not a plain file name")
    if len(name.encode("utf-8", "surrogateescape")) > _TAR_NAME_MAX:
        raise DatabaseError(f"{path}: member name {name[:40]!r}… is longer than {_TAR_NAME_MAX} bytes")


def _check_caps(count: int, total: int, path: str, limits: ContainerLimits) -> None:
    if count > limits.max_members:
        raise DatabaseError(f"{path}: more than {limits.max_members} members")
    if total > limits.max_total_bytes:
        raise DatabaseError(f"{path}: members exceed {limits.max_total_bytes} bytes in total")


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> bytes:
    stream = tar.extractfile(member)
    if stream is None:
        raise DatabaseError(f"{path}: member {member.name!r} has no data")
    data = stream.read(member.size)
    if len(data) != member.size:
        raise DatabaseError(f"{path}: member {member.name!r} is truncated")
    return data


# --- .info ----------------------------------------------------------------------------------------------


def _find_info(members: list[tuple[str, bytes]], path: str) -> tuple[str, _Info]:
    infos = [(name, data) for name, data in members if name.lower().endswith(_INFO_SUFFIX)]
    if not infos:
        raise DatabaseError(f"{path}: no .info member")
    if len(infos) > 1:
        raise DatabaseError(f"{path}: more than one .info member")
    name, data = infos[0]
    return name, _parse_info(data, f"{path}:{name}")


def _parse_info(data: bytes, source: str) -> _Info:
    """Parse `.info`: a header copy, `NAME:SIZE:SHA256` lines, then an optional `DSIG:` line."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    digest = hashlib.sha256()
    header: CvdHeader | None = None
    entries: dict[str, tuple[int, str]] = {}
    dsig: str | None = None
    for number, raw in enumerate(lines, 1):
        if raw.startswith(_DSIG_PREFIX):
            dsig = raw[len(_DSIG_PREFIX) :].decode("ascii", "replace")
            break
        digest.update(raw + b"\n")
        try:
            line = raw.decode("ascii").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise DatabaseError(f"{source}:{number}: not ASCII") from exc
        if header is None:
            header = parse_header_line(line, f"{source}:{number}")
        else:
            name, size, sha = _parse_info_entry(line, f"{source}:{number}")
            entries[name] = (size, sha)
    if header is None:
        raise DatabaseError(f"{source}: empty .info")
    return _Info(header=header, entries=entries, digest=digest.digest(), dsig=dsig)


def _parse_info_entry(line: str, source: str) -> tuple[str, int, str]:
    fields = line.split(":")
    if len(fields) != 3:
        raise DatabaseError(f"{source}: expected NAME:SIZE:SHA256")
    name, size, sha = fields
    if not (size.isascii() and size.isdigit()):
        raise DatabaseError(f"{source}: size {size!r} is not a number")
    if len(sha) != 64 or any(ch not in "0123456789abcdefABCDEF" for ch in sha):
        raise DatabaseError(f"{source}: malformed SHA-256")
    return name, int(size), sha.lower()


def _check_info_header(info: CvdHeader, header: CvdHeader, path: str) -> None:
    """The `.info` copy of the header must agree with the real one, or a header was swapped."""
    fields = ("version", "signatures", "flevel", "stime")
    wrong = [field for field in fields if getattr(info, field) != getattr(header, field)]
    if wrong:
        raise DatabaseError(f"{path}: .info header disagrees with the container header ({', '.join(wrong)})")


def _verify_info_dsig(info: _Info, info_name: str, path: str, keys: SigningKeys) -> None:
    if info.dsig is None:
        raise DatabaseError(f"{path}: {info_name} has no digital signature")
    if not verify_info_dsig(info.digest, info.dsig, keys.info):
        raise DatabaseError(f"{path}: {info_name} digital signature does not verify")


def _check_members(databases: list[tuple[str, bytes]], info: _Info, info_name: str, path: str) -> None:
    for name, data in databases:
        listed = info.entries.get(name)
        if listed is None:
            raise DatabaseError(f"{path}: member {name} is not listed in {info_name}")
        size, sha = listed
        if len(data) != size:
            raise DatabaseError(f"{path}: member {name} has {len(data)} bytes, {info_name} says {size}")
        if hashlib.sha256(data).hexdigest() != sha:
            raise DatabaseError(f"{path}: member {name} SHA-256 does not match {info_name}")
    present = {name for name, _ in databases}
    missing = sorted(set(info.entries) - present)
    if missing:
        names = ", ".join(missing)
        raise DatabaseError(f"{path}: {names} listed in {info_name} but missing from the archive")
