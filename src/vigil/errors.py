"""Vigil's exception tree.

    VigilError
    ├── SignatureError        a database line or file is malformed (names file and line; exit code 2)
    ├── DatabaseError         a database cannot be loaded at all (missing, unreadable, bad container)
    ├── MalformedInput        scanned bytes are not the format they claim (a result, never a crash)
    ├── LimitExceeded         a scan budget ran out (depth, files, bytes, time); carries the limit's name
    ├── ScanError             a target could not be scanned (missing, unreadable, not a regular file)
    └── ActionError           --move/--copy/--remove/--quarantine refused or failed; the file stays put

Only MalformedInput and LimitExceeded may cross the unpacker seam; the engine's one guard turns them into
report entries. Everything else propagates: it is a bug or an operator error, not hostile input.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base class so front ends can catch Vigil's own failures and nothing else."""


class SignatureError(VigilError):
    """A malformed signature. The message always starts with `file:line:` so users can fix it."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.reason = message

    def __reduce__(self) -> tuple[type[SignatureError], tuple[str, int, str]]:
        """Rebuilt from its parts when it crosses a process boundary (a database loader helper)."""
        return (type(self), (self.file, self.line, self.reason))


class DatabaseError(VigilError):
    """A database that cannot be read or verified as a whole."""


class MalformedInput(VigilError):
    """Input bytes that do not parse; recorded as an issue on the layer and the scan goes on."""


class LimitExceeded(VigilError):
    """A budget ran out. `limit` is the clamscan-style suffix, e.g. `MaxFileSize`, `MaxRecursion`."""

    def __init__(self, limit: str, detail: str = "") -> None:
        super().__init__(f"{limit}{': ' + detail if detail else ''}")
        self.limit = limit
        self.detail = detail


class ScanError(VigilError):
    """A target that could not be scanned at all (clamscan prints these as errors, exit code 2)."""


class ActionError(VigilError):
    """The action was refused or failed; the file is still where it was."""
