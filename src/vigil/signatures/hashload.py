"""Whole-file hash databases parsed and indexed in a second process while this one does the rest.

A million `.hdb/.hsb` lines cost about six seconds of pure-Python work (parse, sort, index), all under
the GIL; body signatures cost about two more, then hyperscan compiles them with the GIL released. In
one process those add up; with the hash files in a helper process the two halves overlap, which is
what brings activating a large update under ten seconds on two cores.

The helper is a fresh interpreter (no fork of a possibly multi-threaded daemon, and unlike
multiprocessing's spawn it never re-imports the caller's main module); it reads the files itself and
sends back its result, pickled: the bytes come from our own child process over a private pipe, never
from the signature files or the network. Only the plain case is offloaded: one database directory with no
ignore lists and no signed containers (an ignore entry must see every line in load order, and a
container's members are not files), at least `MIN_BYTES` of hash files, and a second core.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
from dataclasses import dataclass

from vigil.errors import DatabaseError, SignatureError
from vigil.signatures.formats import CONTAINER_SUFFIXES, IGNORE_SUFFIXES, suffix_of
from vigil.signatures.loader import FILE_HASH_SUFFIXES, load_paths
from vigil.signatures.match.hashes import HashIndex
from vigil.signatures.names import NameTable

MIN_BYTES = 16 << 20


class HelperFailed(DatabaseError):
    """The helper process did not deliver (could not start, died, sent garbage): the caller indexes
    the hash files itself instead. A malformed signature is not this: it is raised as SignatureError."""


@dataclass(slots=True)
class FileHashes:
    """The file-scope hash index as the helper built it, with the names and files it refers to."""

    index: HashIndex
    names: NameTable
    files: list[str]


class FileHashLoad:
    """The helper interpreter indexing one directory's hash files; `result()` waits for its index.

    (Two helpers, one per half of the files, were measured too: no faster on two cores, where this
    process and hyperscan's threads already keep both busy.)
    """

    def __init__(self, files: list[str], detect_pua: bool, official: bool) -> None:
        self.files = files
        self._options = (detect_pua, official)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from vigil.signatures.hashload import child_main; child_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        request = json.dumps({"files": files, "pua": detect_pua, "official": official}).encode()
        self._streams: list[tuple[bytes, bytes]] = []
        # communicate() on a thread: both pipes stay drained while this process does its own share
        self._reader = threading.Thread(target=lambda: self._streams.append(self._proc.communicate(request)),
                                        daemon=True)
        self._reader.start()

    def result(self) -> FileHashes:
        """The helper's index, or the same index built here when the helper failed to deliver."""
        try:
            return self._delivered()
        except HelperFailed:
            return build_file_hashes(self.files, *self._options)

    def _delivered(self) -> FileHashes:
        self._reader.join()
        output, errors = self._streams[0] if self._streams else (b"", b"")
        if self._proc.returncode != 0:
            detail = errors.decode("utf-8", "replace").strip()[-500:]
            raise HelperFailed(f"hash database helper failed: {detail}")
        try:
            outcome = pickle.loads(output)  # noqa: S301 - our own child's output
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            raise HelperFailed(f"hash database helper sent an unreadable result: {exc}") from exc
        if isinstance(outcome, SignatureError | DatabaseError):
            raise outcome
        if not isinstance(outcome, FileHashes):
            raise HelperFailed("hash database helper sent an unexpected result")
        return outcome

    def cancel(self) -> None:
        self._proc.kill()
        self._reader.join()


def start(paths: list[str], detect_pua: bool, official: bool) -> FileHashLoad | None:
    """A helper for `paths` when offloading pays and cannot change the result, else None."""
    if len(paths) != 1 or not os.path.isdir(paths[0]) or (os.cpu_count() or 1) < 2:
        return None
    directory = paths[0]
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    suffixes = {suffix_of(name) for name in names}
    if suffixes & (IGNORE_SUFFIXES | CONTAINER_SUFFIXES):
        return None
    files = [os.path.join(directory, n) for n in names if suffix_of(n) in FILE_HASH_SUFFIXES]
    if sum(os.path.getsize(f) for f in files if os.path.isfile(f)) < MIN_BYTES:
        return None
    try:
        return FileHashLoad(files, detect_pua, official)
    except OSError:  # no interpreter to start: load everything in this process
        return None


def child_main() -> None:
    """The helper process: arguments as JSON on stdin, the pickled result (or error) on stdout."""
    request = json.loads(sys.stdin.buffer.read())
    outcome: FileHashes | SignatureError | DatabaseError
    try:
        outcome = build_file_hashes(list(request["files"]), bool(request["pua"]), bool(request["official"]))
    except (SignatureError, DatabaseError) as exc:
        outcome = exc
    sys.stdout.buffer.write(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))


def build_file_hashes(files: list[str], detect_pua: bool, official: bool) -> FileHashes:
    """In the helper: load the hash files (in the order the directory load would) and index them."""
    loaded = load_paths(files, detect_pua=detect_pua, official=official)
    names = NameTable()
    file_ids: dict[str, int] = {}
    index = HashIndex.build(loaded.records, names, file_ids)  # type: ignore[arg-type]
    names.freeze()
    return FileHashes(index, names, list(file_ids))
