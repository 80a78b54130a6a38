"""ClamAV `.cdiff` incremental updates: verify the signature, then run the edit script in memory.

A `.cdiff` is a gzip-compressed edit script followed by `:` and a DSIG in libclamav's PSS format
over the SHA-256 of everything before that last colon (the same check as a `.info` DSIG). The script
(what `sigtool --diff` writes as `NAME-VERSION.script`) is line based:

    OPEN daily.ndb            start editing a file (created if absent)
    ADD <line>                append a line
    DEL <n> <prefix>          delete original line n, which must start with prefix
    XCHG <n> <prefix> <line>  replace original line n (must start with prefix)
    CLOSE                     finish the file
    UNLINK daily.old          remove a file

Line numbers refer to the file as opened, so edits are collected and applied at CLOSE. `MOVE` (line moves
between files) is refused: the caller falls back to downloading the whole CVD. Files are never touched
on disk; the result is checked against the edited `.info` by the container reader.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.errors import DatabaseError
from vigil.signatures.dsig import RsaKey, verify_info_dsig

_MAX_SCRIPT = 256 << 20


@dataclass(slots=True)
class _Open:
    name: str
    lines: list[bytes]
    deleted: set[int] = field(default_factory=set)
    replaced: dict[int, bytes] = field(default_factory=dict)
    added: list[bytes] = field(default_factory=list)


def split_cdiff(data: bytes, key: RsaKey, source: str) -> bytes:
    """Check the DSIG and return the decompressed script."""
    body, colon, dsig = data.rpartition(b":")
    if not colon or not dsig or len(dsig) > 1024:
        raise DatabaseError(f"{source}: no digital signature at the end of the cdiff")
    if not verify_info_dsig(hashlib.sha256(body).digest(), dsig.strip().decode("ascii", "replace"), key):
        raise DatabaseError(f"{source}: cdiff digital signature does not verify")
    try:
        decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        script = decomp.decompress(body, _MAX_SCRIPT)
    except zlib.error as exc:
        raise DatabaseError(f"{source}: cdiff is not gzip data: {exc}") from exc
    if decomp.unconsumed_tail or not decomp.eof:
        raise DatabaseError(f"{source}: cdiff script is truncated or larger than {_MAX_SCRIPT} bytes")
    return script


def make_cdiff(script: bytes, sign: Callable[[bytes], str]) -> bytes:
    """Build a cdiff from a script with a signer (SHA-256 digest -> DSIG text), as a private mirror would."""
    body = gzip.compress(script, mtime=0)
    return body + b":" + sign(hashlib.sha256(body).digest()).encode()


def apply_script(files: dict[str, bytes], script: bytes, source: str) -> dict[str, bytes]:
    """Return a new name → bytes mapping with the script applied; any mismatch raises DatabaseError."""
    result = dict(files)
    current: _Open | None = None
    for number, raw in enumerate(script.split(b"\n"), 1):
        line = raw.rstrip(b"\r")
        if not line:
            continue
        where = f"{source}:{number}"
        command, _, rest = line.partition(b" ")
        handler = _COMMANDS.get(command)
        if handler is None:
            raise DatabaseError(f"{where}: unsupported cdiff command {command[:20]!r}")
        current = handler(result, current, rest, where)
    if current is not None:
        raise DatabaseError(f"{source}: script ends with {current.name} still open")
    return result


def _name(rest: bytes, where: str) -> str:
    name = rest.decode("ascii", "replace").strip()
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise DatabaseError(f"{where}: bad file name {name!r}")
    return name


def _open(files: dict[str, bytes], current: _Open | None, rest: bytes, where: str) -> _Open:
    if current is not None:
        raise DatabaseError(f"{where}: OPEN while {current.name} is open")
    name = _name(rest, where)
    data = files.get(name, b"")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return _Open(name, lines)


def _need(current: _Open | None, where: str) -> _Open:
    if current is None:
        raise DatabaseError(f"{where}: no file is open")
    return current


def _add(files: dict[str, bytes], current: _Open | None, rest: bytes, where: str) -> _Open:
    target = _need(current, where)
    target.added.append(rest)
    return target


def _line_ref(target: _Open, rest: bytes, where: str) -> tuple[int, bytes]:
    number, _, tail = rest.partition(b" ")
    prefix, _, remainder = tail.partition(b" ")
    if not number.isdigit() or not 1 <= int(number) <= len(target.lines):
        raise DatabaseError(f"{where}: line {number[:12]!r} is not in {target.name}")
    index = int(number) - 1
    if not target.lines[index].startswith(prefix) or index in target.deleted or index in target.replaced:
        raise DatabaseError(f"{where}: line {index + 1} of {target.name} is not the one the diff expects")
    return index, remainder


def _del(files: dict[str, bytes], current: _Open | None, rest: bytes, where: str) -> _Open:
    target = _need(current, where)
    index, _ = _line_ref(target, rest, where)
    target.deleted.add(index)
    return target


def _xchg(files: dict[str, bytes], current: _Open | None, rest: bytes, where: str) -> _Open:
    target = _need(current, where)
    index, replacement = _line_ref(target, rest, where)
    if not replacement:
        raise DatabaseError(f"{where}: XCHG without a new line")
    target.replaced[index] = replacement
    return target


def _close(files: dict[str, bytes], current: _Open | None, rest: bytes, where: str) -> None:
    target = _need(current, where)
    kept = [target.replaced.get(i, line) for i, line in enumerate(target.lines) if i not in target.deleted]
    files[target.name] = b"".join(line + b"\n" for line in [*kept, *target.added])
    return None


def _unlink(files: dict[str, bytes], current: _Open | None, rest: bytes, where: str) -> None:
    if current is not None:
        raise DatabaseError(f"{where}: UNLINK while {current.name} is open")
    name = _name(rest, where)
    if files.pop(name, None) is None:
        raise DatabaseError(f"{where}: UNLINK of missing file {name}")
    return None


_Handler = Callable[[dict[str, bytes], _Open | None, bytes, str], _Open | None]

_COMMANDS: dict[bytes, _Handler] = {
    b"OPEN": _open,
    b"ADD": _add,
    b"DEL": _del,
    b"XCHG": _xchg,
    b"CLOSE": _close,
    b"UNLINK": _unlink,
}
