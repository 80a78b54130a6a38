"""ClamAV database mirrors (the official CDN, cvdupdate-style private mirrors): CVD plus `.cdiff`.

For each database (`daily`, `main`, …) the remote version is read from the first 512 bytes of
`NAME.cvd` (a Range request, as freshclam does for private mirrors). If a local copy is older, the
`NAME-<v>.cdiff` files for each missing version are applied in memory and the result is stored as a
`.cld` whose edited `.info` (signed, for official data) must verify every file; if any step fails, the
whole `.cvd` is downloaded instead. `unsigned = true` sources serve `.cud` containers built with
`sigtool --unsigned` and produce `.cud` files; their cdiffs must still carry a valid DSIG.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
import urllib.parse
from dataclasses import dataclass

from vigil.errors import DatabaseError
from vigil.signatures.formats.cvd import (
    DEFAULT_LIMITS,
    HEADER_SIZE,
    CvdHeader,
    _read_members,  # raw members (with the .info) are needed to apply a cdiff
    parse_header_line,
    read_container,
    read_header,
)
from vigil.update.cdiff import apply_script, split_cdiff
from vigil.update.config import Source
from vigil.update.fetch import FetchError, fetch, fetch_head
from vigil.update.install import UpdateContext, check_version, replace_files


@dataclass(frozen=True, slots=True)
class _Local:
    name: str
    path: str
    header: CvdHeader


def update_cvd_source(ctx: UpdateContext, source: Source) -> bool:
    changed = False
    for database in source.databases:
        changed |= _update_database(ctx, source, database)
    return changed


def _update_database(ctx: UpdateContext, source: Source, database: str) -> bool:
    errors: list[str] = []
    for base in source.urls:
        try:
            return _from_mirror(ctx, source, base, database)
        except (FetchError, DatabaseError) as exc:
            errors.append(str(exc))
    raise DatabaseError(f"{source.name}/{database}: no mirror worked: {'; '.join(errors)}")


def _url(base: str, name: str) -> str:
    return urllib.parse.urljoin(base if base.endswith("/") else base + "/", name)


def _from_mirror(ctx: UpdateContext, source: Source, base: str, database: str) -> bool:
    suffix = ".cud" if source.unsigned else ".cvd"
    url = _url(base, database + suffix)
    remote = read_header(fetch_head(url, ctx.config.policy, HEADER_SIZE))
    if not check_version(ctx, f"{source.name}:{database}", remote.version):
        return False
    local = _local(ctx, source, database)
    if local is not None and remote.version > local.header.version:
        try:
            _apply_incrementals(ctx, source, base, database, local, remote.version)
            return True
        except (FetchError, DatabaseError) as exc:
            ctx.messages.append(
                f"{source.name}/{database}: incremental update failed ({exc}); fetching {url}"
            )
    _install_full(ctx, source, url, database, suffix, remote.version)
    return True


def _local(ctx: UpdateContext, source: Source, database: str) -> _Local | None:
    for name in ctx.state.files.get(source.name, []):
        stem, ext = os.path.splitext(name)
        if stem == database and ext in (".cvd", ".cld", ".cud"):
            path = os.path.join(ctx.staging, name)
            return _Local(name, path, read_header(path))
    return None


def _others(ctx: UpdateContext, source: Source, database: str) -> dict[str, bytes]:
    """The source's other databases, unchanged (replace_files swaps a source's whole set)."""
    files: dict[str, bytes] = {}
    for name in ctx.state.files.get(source.name, []):
        if os.path.splitext(name)[0] != database:
            with open(os.path.join(ctx.staging, name), "rb") as fh:
                files[name] = fh.read()
    return files


def _install(ctx: UpdateContext, source: Source, database: str, name: str, data: bytes, version: int) -> None:
    _verify_bytes(ctx, name, data, version)
    replace_files(ctx, source.name, {**_others(ctx, source, database), name: data})
    ctx.state.versions[f"{source.name}:{database}"] = version
    ctx.messages.append(f"{source.name}/{database}: installing version {version} as {name}")


def _verify_bytes(ctx: UpdateContext, name: str, data: bytes, version: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        with open(path, "wb") as fh:
            fh.write(data)
        container = read_container(path, keys=ctx.clamav_keys)
    if container.header.version != version:
        raise DatabaseError(f"{name}: container is version {container.header.version}, mirror said {version}")


def _install_full(
    ctx: UpdateContext, source: Source, url: str, database: str, suffix: str, version: int
) -> None:
    result = fetch(url, os.path.join(ctx.config.root, "cache"), ctx.config.policy)
    with open(result.path, "rb") as fh:
        data = fh.read()
    _install(ctx, source, database, database + suffix, data, version)


def _apply_incrementals(
    ctx: UpdateContext, source: Source, base: str, database: str, local: _Local, target: int
) -> None:
    with open(local.path, "rb") as fh:
        fh.seek(HEADER_SIZE)
        members = dict(_read_members(fh, local.path, DEFAULT_LIMITS))
    policy = ctx.config.policy
    for version in range(local.header.version + 1, target + 1):
        name = f"{database}-{version}.cdiff"
        result = fetch(_url(base, name), os.path.join(ctx.config.root, "cache"), policy, conditional=False)
        with open(result.path, "rb") as fh:
            script = split_cdiff(fh.read(), ctx.clamav_keys.info, name)
        members = apply_script(members, script, name)
    suffix = ".cud" if source.unsigned else ".cld"
    _install(ctx, source, database, database + suffix, build_container(members, database), target)


def build_container(members: dict[str, bytes], database: str) -> bytes:
    """A `.cld`/`.cud`: header from the `.info`'s first line, then a gzip tar (COPYING, .info, the rest)."""
    info_name = f"{database}.info"
    info = members.get(info_name)
    if info is None:
        raise DatabaseError(f"{database}: no {info_name} after applying the diffs")
    header_line = info.split(b"\n", 1)[0].decode("ascii", "replace").rstrip("\r")
    parse_header_line(header_line, info_name)
    order = sorted(members, key=lambda n: (n != "COPYING", n != info_name, n))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in order:
            entry = tarfile.TarInfo(name)
            entry.size = len(members[name])
            entry.mode = 0o644
            tar.addfile(entry, io.BytesIO(members[name]))
    header = header_line.encode().ljust(HEADER_SIZE, b" ")
    return header + gzip.compress(raw.getvalue(), mtime=0)
