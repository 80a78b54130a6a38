"""The body-signature subset that `.ftm` type-1 magic is written in, as bytes regexes.

Typing runs these on every layer's first 1024 bytes, so each rule also gets a required literal: the
longest run of fixed bytes outside alternations, which any match must contain. A `needle in buf` test
(C memmem) rules out almost every rule before its regex runs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

import hyperscan

from vigil.signatures.hexnodes import matching_paren, split_alternatives


def _nibbles(pair: str) -> bytes:
    if pair == "??":
        return b"."
    if pair[1] == "?":
        high = int(pair[0], 16) << 4
        return b"[" + re.escape(bytes([high])) + b"-" + re.escape(bytes([high | 15])) + b"]"
    if pair[0] == "?":
        low = int(pair[1], 16)
        return b"[" + b"".join(re.escape(bytes([h << 4 | low])) for h in range(16)) + b"]"
    return re.escape(bytes.fromhex(pair))


def _gap(spec: str) -> bytes:
    low, _, high = spec.partition("-")
    if "-" not in spec:
        return b".{%d}" % int(spec)
    return b".{%d,%s}" % (int(low or 0), high.encode() if high else b"")


def _alternative(inner: str, negated: bool) -> bytes:
    members = split_alternatives(inner)
    if not negated:
        return b"(?:" + b"|".join(hex_regex(member) for member in members) + b")"
    width = len(members[0]) // 2
    return b"(?!(?:" + b"|".join(hex_regex(member) for member in members) + b"))" + b".{%d}" % width


def hex_regex(sig: str) -> bytes:
    """Translate ClamAV body-signature hex into a regex so type-1 magic can be tested without an AC trie."""
    out: list[bytes] = []
    pos = 0
    while pos < len(sig):
        char = sig[pos]
        if char == "*":
            out.append(b".*?")
            pos += 1
        elif char in "{[":
            end = sig.index("}" if char == "{" else "]", pos)
            out.append(_gap(sig[pos + 1 : end]))
            pos = end + 1
        elif char in "(!":
            start = pos + (char == "!")
            end = matching_paren(sig, start)
            out.append(_alternative(sig[start + 1 : end], negated=char == "!"))
            pos = end + 1
        else:
            out.append(_nibbles(sig[pos : pos + 2]))
            pos += 2
    return b"".join(out)


def required_literal(sig: str) -> bytes:
    """The longest run of fully specified bytes at the top level of `sig` (b"" when there is none)."""
    best, run = b"", bytearray()
    pos = 0
    while pos < len(sig):
        char = sig[pos]
        if char in "0123456789abcdefABCDEF" and pos + 1 < len(sig) and sig[pos + 1] not in "?":
            run += bytes.fromhex(sig[pos : pos + 2])
            pos += 2
            continue
        best = max(best, bytes(run), key=len)
        run.clear()
        if char in "{[":
            pos = sig.index("}" if char == "{" else "]", pos) + 1
        elif char in "(!":
            pos = matching_paren(sig, pos + (char == "!")) + 1
        else:
            pos += 1 if char == "*" else 2
    return max(best, bytes(run), key=len)


class NeedleIndex:
    """Which of a fixed set of literals occur in a buffer, found in one hyperscan pass.

    Typing tests some 50 literals against every layer; one `in` per literal cost about 1 µs each, the
    single pass a few. The database compiles on first use, and each thread gets its own scratch (a
    hyperscan scratch must not be used by two scans at once).
    """

    def __init__(self, needles: Sequence[bytes]) -> None:
        self._needles = tuple(dict.fromkeys(needle for needle in needles if needle))
        self._db: Any = None
        self._local = threading.local()
        self._lock = threading.Lock()

    def present(self, buf: bytes) -> set[bytes]:
        if not self._needles:
            return set()
        db = self._database()
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(db)
        found: set[bytes] = set()
        needles = self._needles

        def on_match(needle_id: int, start: int, end: int, flags: int, context: object) -> None:
            found.add(needles[needle_id])

        db.scan(buf, match_event_handler=on_match, scratch=scratch)
        return found

    def _database(self) -> Any:
        with self._lock:
            if self._db is None:
                db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                expressions = [b"".join(b"\\x%02x" % byte for byte in needle) for needle in self._needles]
                db.compile(
                    expressions=expressions,
                    ids=list(range(len(expressions))),
                    elements=len(expressions),
                    flags=hyperscan.HS_FLAG_SINGLEMATCH,
                )
                self._db = db
            return self._db
