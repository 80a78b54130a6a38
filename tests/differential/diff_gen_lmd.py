"""Linux Malware Detect's real databases: files synthesised from a sample of its body signatures, their
one-byte near misses, zipped copies, and right-size-wrong-hash files for its MD5 list."""

from __future__ import annotations

import os
import re
from pathlib import Path

from diff_model import BIN, TAIL, Group, binary, zip_of

_TOKEN = re.compile(r"\(([0-9a-fA-F?|]+)\)|!\(([0-9a-fA-F|]+)\)|([0-9a-fA-F?]{2})|\*|\{(\d*)-?(\d*)\}")
FILL = 0x20


def lmd_dir() -> Path | None:
    """The shared corpus sits beside the repository (CI lays shared/ next to the clone)."""
    here = Path(__file__).resolve()
    candidates = [p / "shared" / "corpus" / "clamav" / "lmd" for p in here.parents]
    candidates.append(Path(os.environ.get("VIGIL_LMD_DIR", "/work/shared/corpus/clamav/lmd")))
    return next((c for c in candidates if (c / "rfxn.ndb").is_file()), None)


def _byte(token: str) -> int:
    """A concrete byte for a hex pair that may hold nibble wildcards."""
    return int(token.replace("?", "0"), 16)


def synthesise(pattern: str) -> bytes:
    """Bytes that satisfy a body pattern: first alternative, wildcards filled, gaps at their minimum."""
    out = bytearray()
    pos = 0
    while pos < len(pattern):
        m = _TOKEN.match(pattern, pos)
        if m is None:
            raise ValueError(f"cannot synthesise {pattern[pos:pos + 10]!r}")
        alt, neg, pair, low = m.group(1), m.group(2), m.group(3), m.group(4)
        if alt is not None:
            out += bytes(_byte(alt.split("|")[0][i:i + 2]) for i in range(0, len(alt.split("|")[0]), 2))
        elif neg is not None:
            banned = {int(b, 16) for b in neg.split("|") if len(b) == 2}
            out.append(next(b for b in range(FILL, 256) if b not in banned))
        elif pair is not None:
            out.append(FILL if pair == "??" else _byte(pair))
        elif m.group(0).startswith("{"):
            out += bytes([FILL]) * int(low or 0)
        pos = m.end()
    return bytes(out)


def _sample(lines: list[str], step: int) -> list[tuple[str, str]]:
    picked = [ln for ln in lines[::step]] + [ln for ln in lines if "(" in ln.split(":", 3)[3]]
    out = []
    for line in dict.fromkeys(picked):
        name, _target, _offset, pattern = line.split(":", 3)
        out.append((name, pattern))
    return out


def lmd_groups() -> list[Group]:
    base = lmd_dir()
    if base is None:
        return []
    ndb = (base / "rfxn.ndb").read_bytes()
    hdb = (base / "rfxn.hdb").read_bytes()
    ndb_lines = [ln for ln in ndb.decode().splitlines() if ln and not ln.startswith("#")]
    group = Group("lmd", {"rfxn.ndb": ndb, "rfxn.hdb": hdb}, cli=True)
    for i, (_name, pattern) in enumerate(_sample(ndb_lines, 45)):
        body = synthesise(pattern)
        group.add(f"s{i:02d}-bin", binary(body))
        mid = len(body) // 2
        group.add(f"s{i:02d}-near", binary(body[:mid] + bytes([body[mid] ^ 0x01]) + body[mid + 1:]))
        if i % 2 == 0:
            group.add(f"s{i:02d}-text", body + b"\n")
        if i % 3 == 0:
            group.add(f"s{i:02d}-bin.zip", zip_of("sample.bin", binary(body)))
        if i % 5 == 0:
            group.add(f"s{i:02d}-upper", body.upper() + b"\n")
    pairs = _sample(ndb_lines, 211)
    for i in range(len(pairs) - 1):
        a, b = synthesise(pairs[i][1]), synthesise(pairs[i + 1][1])
        group.add(f"pair{i:02d}", BIN + a + b"\x01" + b + TAIL)
        group.add(f"pair{i:02d}-rev", BIN + b + b"\x01" + a + TAIL)
    for i, line in enumerate(hdb.decode().splitlines()[::1500]):
        size = int(line.split(":")[1])
        group.add(f"hdb-size{i}", (b"\x00\x00\x00\x00\xff\xfe" + b"\x11" * size)[:size])
    return [group]


def groups() -> list[Group]:
    return lmd_groups()
