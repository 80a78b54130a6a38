"""clamd's socket protocol as pure functions: command parsing and reply serialisation, no sockets.

Facts come from clamd 1.4.6 as observed (docs: /work/shared/docs/clamd-protocol.md). Paths stay bytes
from the wire to the reply, because clients (Samba) check that the echo is byte-for-byte exact.
"""

from __future__ import annotations

import enum
import struct
import time
from dataclasses import dataclass

COMMAND_MAX = 4104  # PATH_MAX + 8, prefix and terminator included; longer commands get no reply
CHUNK_HEADER = struct.Struct(">I")

UNKNOWN_COMMAND = b"UNKNOWN COMMAND"
COMMAND_READ_TIMED_OUT = b"COMMAND READ TIMED OUT\n"  # always \n, whatever the framing
SIZE_LIMIT = b"INSTREAM size limit exceeded. ERROR"
NO_FD = b"No file descriptor received. ERROR"
NOT_REGULAR = b"Not a regular file ERROR"
INVALID_IN_SESSION = b"Command invalid inside IDSESSION. ERROR"
OLD_STYLE_IN_SESSION = b"Only nCMDS\\n and zCMDS\\0 are accepted inside IDSESSION. ERROR"
ERROR_PROCESSING = b"Error processing command. ERROR"
ALLMATCH_DISABLED = b"ALLMATCHSCAN command disabled by clamd configuration. ERROR"
FD_WITHOUT_FILDES = b"PROTOCOL ERROR: ancillary data sent without FILDES. ERROR"
WORKER_DIED = b"Scan worker process died. ERROR"
ENGINE_NAME = "Vigil"


class Framing(enum.Enum):
    """`z` (NUL-terminated), `n` (newline) or none (old style: one command per read)."""

    Z = b"z"
    N = b"n"
    OLD = b""

    @property
    def term(self) -> bytes:
        return b"\0" if self is Framing.Z else b"\n"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What clamd allows for one command name."""

    takes_arg: bool
    old_style: bool  # accepted without a z/n prefix
    in_session: bool  # accepted inside IDSESSION


COMMANDS: dict[bytes, CommandSpec] = {
    b"PING": CommandSpec(False, True, True),
    b"VERSION": CommandSpec(False, True, True),
    b"VERSIONCOMMANDS": CommandSpec(False, False, True),
    b"RELOAD": CommandSpec(False, True, False),
    b"SHUTDOWN": CommandSpec(False, True, False),
    b"QUIT": CommandSpec(False, True, False),
    b"SCAN": CommandSpec(True, True, True),
    b"CONTSCAN": CommandSpec(True, True, False),
    b"MULTISCAN": CommandSpec(True, True, False),
    b"ALLMATCHSCAN": CommandSpec(True, False, False),
    b"INSTREAM": CommandSpec(False, False, True),
    b"FILDES": CommandSpec(False, True, True),
    b"STATS": CommandSpec(False, False, True),
    b"IDSESSION": CommandSpec(False, False, False),
    b"END": CommandSpec(False, False, True),
    b"DETSTATS": CommandSpec(False, True, False),
    b"DETSTATSCLEAR": CommandSpec(False, True, False),
}

# clamd's own list, in its order (VERSIONCOMMANDS)
ADVERTISED = (b"SCAN QUIT RELOAD PING CONTSCAN VERSIONCOMMANDS VERSION END SHUTDOWN MULTISCAN FILDES STATS "
              b"IDSESSION INSTREAM DETSTATSCLEAR DETSTATS ALLMATCHSCAN")


@dataclass(frozen=True, slots=True)
class Command:
    """A framed command line. `name` is empty when the line is not a well-formed command."""

    framing: Framing
    name: bytes
    arg: bytes | None

    @property
    def term(self) -> bytes:
        return self.framing.term


class Incomplete(Exception):
    """More bytes are needed before a command can be cut out of the buffer."""


class Oversize(Exception):
    """The command exceeds COMMAND_MAX: clamd drops the connection without a reply."""


def split_command(buf: bytes, *, first_read: bool) -> tuple[Command, int]:
    """Cut one command out of `buf`: (command, bytes consumed).

    Old-style commands (no prefix) are only recognised on a connection's first read, which clamd takes
    as the whole command. Raises Incomplete or Oversize.
    """
    framing = _framing_of(buf[:1])
    if framing is Framing.OLD:
        if not buf:
            raise Incomplete
        line = buf.split(b"\n", 1)[0] if first_read else buf
        if len(line) >= COMMAND_MAX:
            raise Oversize
        return _parse_line(framing, line.rstrip(b"\r\n")), len(buf)
    end = buf.find(framing.term)
    if end < 0:
        if len(buf) >= COMMAND_MAX:
            raise Oversize
        raise Incomplete
    if end + 1 > COMMAND_MAX:
        raise Oversize
    body = buf[1:end]
    if framing is Framing.N:
        body = body.rstrip(b"\r\n")
    return _parse_line(framing, body), end + 1


def _framing_of(first: bytes) -> Framing:
    return {b"z": Framing.Z, b"n": Framing.N}.get(first, Framing.OLD)


def _parse_line(framing: Framing, line: bytes) -> Command:
    name, sep, arg = line.partition(b" ")
    spec = COMMANDS.get(name)
    if spec is None or spec.takes_arg != bool(sep):
        return Command(framing, b"", None)
    return Command(framing, name, arg if sep else None)


def reply(text: bytes, term: bytes, request_id: int | None = None) -> bytes:
    """One reply unit; in a session every line carries the `<id>: ` prefix."""
    prefix = b"" if request_id is None else str(request_id).encode() + b": "
    return prefix + text + term


def replies(lines: list[bytes], term: bytes, request_id: int | None = None) -> bytes:
    """Several reply lines joined so the caller can send them with one write."""
    return b"".join(reply(line, term, request_id) for line in lines)


def found_line(path: bytes, name: str) -> bytes:
    return path + b": " + name.encode() + b" FOUND"


def ok_line(path: bytes) -> bytes:
    return path + b": OK"


def error_line(path: bytes, message: str) -> bytes:
    return path + b": " + message.encode() + b" ERROR"


def version_string(vigil_version: str, db_version: int, db_time: float) -> bytes:
    """Always the three-part form; clients such as clamdpy index the `/` parts."""
    date = time.ctime(db_time if db_time > 0 else time.time())
    return f"{ENGINE_NAME} {vigil_version}/{db_version}/{date}".encode()


def versioncommands(version: bytes) -> bytes:
    return version + b"| COMMANDS: " + ADVERTISED


def chunk_length(header: bytes) -> int:
    return int(CHUNK_HEADER.unpack(header)[0])


def allowed(command: Command, *, in_session: bool, first_read: bool) -> bool:
    """Whether the command may run here; the caller has already handled the session error cases."""
    spec = COMMANDS.get(command.name)
    if spec is None:
        return False
    if command.framing is Framing.OLD and not (spec.old_style and first_read):
        return False
    if command.name == b"END":
        return in_session
    return spec.in_session or not in_session


FD_SENSITIVE = frozenset({b"SCAN", b"CONTSCAN", b"MULTISCAN", b"ALLMATCHSCAN", b"FILDES"})


def fd_with_command(command: Command) -> bytes | None:
    """clamd's answer when an fd arrives in the same packet as a path or FILDES command (its FILDES
    wants the fd in a later packet); PING and the like just drop the fd. Observed in 1.4.6."""
    if command.name not in FD_SENSITIVE:
        return None
    term = b"\0" if command.name == b"FILDES" else command.term
    return reply(FD_WITHOUT_FILDES, term) + reply(ERROR_PROCESSING, term)
