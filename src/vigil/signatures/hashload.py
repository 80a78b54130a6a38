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


@dataclass(slots=True)
class FileHashes:
    """The file-scope hash index as the helper built it, with the names and files it refers to."""

    index: HashIndex
    names: NameTable
    files: list[str]


class FileHashLoad:
    """A running helper for one directory's hash files; `result()` waits for it."""

    def __init__(self, files: list[str], detect_pua: bool, official: bool) -> None:
        self.files = files
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from vigil.signatures.hashload import child_main; child_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"files": files, "pua": detect_pua, "official": official}).encode())
        self._proc.stdin.close()
        self._output: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)  # keep the pipe drained
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        self._output.append(self._proc.stdout.read())

    def result(self) -> FileHashes:
        """The helper's index; a signature error in the hash files is raised here, naming file and line."""
        self._reader.join()
        assert self._proc.stderr is not None
        errors = self._proc.stderr.read().decode("utf-8", "replace")
        if self._proc.wait() != 0:
            raise DatabaseError(f"hash database helper failed: {errors.strip()[-500:]}")
        outcome = pickle.loads(b"".join(self._output))  # noqa: S301 - our own child's output
        if isinstance(outcome, SignatureError | DatabaseError):
            raise outcome
        if not isinstance(outcome, FileHashes):
            raise DatabaseError("hash database helper sent an unexpected result")
        return outcome

    def cancel(self) -> None:
        self._proc.kill()
        self._proc.wait()


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
    return FileHashLoad(files, detect_pua, official)


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
