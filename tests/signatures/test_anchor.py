"""The literal anchor that replaces a wildcard pattern's hyperscan prefilter is a necessary condition:
whenever the exact pattern matches, its anchor occurs too (else a detection would be lost)."""

from __future__ import annotations

import random
import re

import hyperscan
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.signatures.hexpattern import parse_hex
from vigil.signatures.match.anchor import MIN_ANCHOR, anchor_prefilter, literal_runs

STATIC = st.binary(min_size=1, max_size=6)


@st.composite
def patterns(draw: st.DrawFn) -> tuple[str, bytes]:
    """A ClamAV hex pattern and one instance of it (wildcards filled with random bytes)."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    hex_parts, data = [], bytearray()
    static = draw(st.binary(min_size=2, max_size=8))
    hex_parts.append(static.hex())
    data += static
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["??", "gap", "star", "alt", "nibble"]))
        if kind == "??":
            hex_parts.append("??")
            data.append(rng.randrange(256))
        elif kind == "gap":
            low, span = draw(st.integers(0, 4)), draw(st.integers(0, 4))
            hex_parts.append(f"{{{low}-{low + span}}}")
            data += bytes(rng.randrange(256) for _ in range(low + rng.randrange(span + 1)))
        elif kind == "star":
            hex_parts.append("*")
            data += bytes(rng.randrange(256) for _ in range(rng.randrange(5)))
        elif kind == "alt":
            left, right = draw(STATIC), draw(STATIC)
            right = (right * 6)[: len(left)]
            hex_parts.append(f"({left.hex()}|{right.hex()})")
            data += rng.choice([left, right])
        else:
            high = rng.randrange(16)
            hex_parts.append(f"{high:x}?")
            data.append(high << 4 | rng.randrange(16))
        tail = draw(st.binary(min_size=2, max_size=8))
        hex_parts.append(tail.hex())
        data += tail
    return "".join(hex_parts), bytes(data)


def _hyperscan_hits(expression: bytes, data: bytes) -> bool:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    flags = hyperscan.HS_FLAG_DOTALL | hyperscan.HS_FLAG_SINGLEMATCH
    db.compile(expressions=[expression], ids=[0], flags=[flags])
    hits: list[int] = []
    db.scan(data, match_event_handler=lambda *args: hits.append(1))
    return bool(hits)


@settings(max_examples=150, deadline=None)
@given(patterns(), st.binary(max_size=20), st.binary(max_size=20))
def test_anchor_hits_wherever_the_pattern_matches(
    case: tuple[str, bytes], before: bytes, after: bytes
) -> None:
    source, instance = case
    pattern = parse_hex(source)
    data = before + instance + after
    assert re.search(pattern.regex, data, re.DOTALL), (source, instance)
    anchor = anchor_prefilter(pattern.prefilter)
    assert _hyperscan_hits(anchor, data), (source, anchor)


def test_short_or_repetitive_runs_keep_the_full_prefilter() -> None:
    short = parse_hex("414243{2-4}4445")
    assert anchor_prefilter(short.prefilter) == short.prefilter
    zeros = parse_hex("0000000000000000*41424344")
    assert anchor_prefilter(zeros.prefilter) == rb"\x41\x42\x43\x44"  # the zero run is skipped
    assert literal_runs(zeros.prefilter) == [rb"\x00" * 8, rb"\x41\x42\x43\x44"]
    long = parse_hex("41424344(45|46)4748494a4b")
    assert anchor_prefilter(long.prefilter) == rb"\x47\x48\x49\x4a\x4b"
    assert MIN_ANCHOR == 4


def test_unknown_syntax_keeps_the_full_prefilter() -> None:
    assert anchor_prefilter(rb"^\x41\x42\x43\x44\x45.\x46") == rb"^\x41\x42\x43\x44\x45.\x46"
