"""CHM: ClamAV's clam.chm (LZX section checked against chmlib's extract_chmLib), hand-built CHMs with
stored and LZX sections, an LZX bomb, lying directories, truncation and fuzz."""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import row, rows, unpack

from vigil.engine import Engine
from vigil.engine.filetype import identify
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack.chm import CONTENT, CONTROL, RESET_TABLE, ChmUnpacker

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")
CLAM_CHM_FILES = [  # clamscan's listing of clam.chm, in its order, with sizes
    ("/#IDXHDR", 4096), ("/#ITBITS", 0), ("/#STRINGS", 41), ("/#SYSTEM", 4254), ("/#TOPICS", 48),
    ("/#URLSTR", 64), ("/#URLTBL", 36), ("/#WINDOWS", 204), ("/$FIftiMain", 0), ("/$OBJINST", 2751),
    ("/$WWAssociativeLinks/Property", 4), ("/$WWKeywordLinks/Property", 4), ("/clam.chm.hhc", 444),
    ("/clam.chm.hhk", 207), ("/clam.exe.txt", 544),
]


# --- a CHM writer ---------------------------------------------------------------------------------------

def encint(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | value & 0x7F)
        value >>= 7
    return bytes(reversed(out))


def words(bits: list[int]) -> bytes:
    """Bits, MSB first, as 16-bit little-endian words (zero-padded to a word)."""
    bits = bits + [0] * (-len(bits) % 16)
    values = (int("".join(map(str, bits[i : i + 16])), 2) for i in range(0, len(bits), 16))
    return b"".join(value.to_bytes(2, "little") for value in values)


def put(bits: list[int], value: int, width: int) -> None:
    bits += [(value >> (width - 1 - i)) & 1 for i in range(width)]


def lzx_stored(data: bytes, reset_bytes: int) -> bytes:
    """An LZX stream of uncompressed blocks, one per reset interval."""
    out = b""
    for start in range(0, max(len(data), 1), reset_bytes):
        chunk = data[start : start + reset_bytes]
        bits: list[int] = []
        put(bits, 0, 1)  # no E8 translation
        put(bits, 3, 3)
        put(bits, len(chunk), 24)
        out += words(bits) + struct.pack("<3I", 1, 1, 1) + chunk + b"\0" * (len(chunk) & 1)
    return out


def lzx_zeros(frames: int) -> bytes:
    """A verbatim-block bomb: per 32 KiB frame, 129 one-bit literals and 127 two-bit 257-byte matches."""
    bits: list[int] = []
    put(bits, 0, 1)
    put(bits, 1, 3)
    put(bits, frames * 32768, 24)

    def lengths(spec: list[tuple[str, int]]) -> None:
        pre = [0] * 20
        pre[0], pre[16], pre[18] = 2, 2, 1  # codes: 18 -> 0, 0 -> 10, 16 -> 11
        for length in pre:
            put(bits, length, 4)
        for kind, count in spec:
            for _ in range(count):
                if kind == "one":
                    put(bits, 0b11, 2)  # delta 16: 0 -> 1
                elif kind == "zero":
                    put(bits, 0b10, 2)
                else:
                    put(bits, 0, 1)
                    put(bits, 51 - 20, 5)  # a run of 51 zeros

    lengths([("one", 1), ("run", 5)])  # literal 0x00, then 255 zeros
    lengths([("zero", 7), ("one", 1), ("run", 4), ("zero", 44)])  # match element 263: slot 0, long length
    lengths([("one", 1), ("run", 4), ("zero", 43), ("one", 1)])  # length symbols 0 and 248
    for _ in range(frames):
        bits += [0] * 129 + [1, 1] * 127
        bits += [0] * (-len(bits) % 16)
    return words(bits)


def chm(files: list[tuple[str, int, bytes]], compressed: bytes = b"", *, reset_frames: int = 2,
        window_frames: int = 2, declared: int | None = None, section1_length: int | None = None) -> bytes:
    """An ITSF v3 file with one listing chunk. Section 1 files are (name, 1, bytes) and lie at their
    offsets in the section-1 data `compressed` decodes to; give `section1_length` to state its length."""
    control = struct.pack("<I4sIIIII", 6, b"LZXC", 2, reset_frames, window_frames, 0, 0)
    total = sum(len(d) for _, s, d in files if s == 1) if declared is None else declared
    reset = struct.pack("<IIIIQQQ", 2, 0, 8, 0x28, total, len(compressed), 0x8000)
    stored = [(CONTROL, control), (RESET_TABLE, reset), (CONTENT, compressed)]
    section0 = b""
    entries = []
    for name, data in stored + [(n, d) for n, s, d in files if s == 0]:
        entries.append((name, 0, len(section0), len(data)))
        section0 += data
    offset = 0
    for name, section, data in files:
        if section == 1:
            entries.append((name, 1, offset, len(data) if section1_length is None else section1_length))
            offset += len(data)
    listing = b"".join(encint(len(n.encode())) + n.encode() + encint(s) + encint(o) + encint(ln)
                       for n, s, o, ln in sorted(entries))
    chunk = b"PMGL" + struct.pack("<IIii", 0x1000 - 0x14 - len(listing), 0, -1, -1) + listing
    chunk = chunk.ljust(0x1000, b"\0")
    itsp = b"ITSP" + struct.pack("<IIIIIIiIIiI", 1, 0x54, 10, 0x1000, 2, 1, -1, 0, 0, -1, 1) + b"\0" * 0x24
    dir_offset = 0x60 + 0x18
    head = b"ITSF" + struct.pack("<IIIII", 3, 0x60, 1, 0, 0x409) + b"\0" * 32
    dir_length = len(itsp) + len(chunk)
    head += struct.pack("<QQQQQ", 0x60, 0x18, dir_offset, dir_length, dir_offset + dir_length)
    return head + b"\0" * 0x18 + itsp + chunk + section0


def run(data: bytes, ctx: ScanContext | None = None) -> tuple[list[Child], Exception | None]:
    out: list[Child] = []
    try:
        layer = Layer(data, "t.chm", FileType.MSCHM, 0)
        out.extend(ChmUnpacker().children(layer, ctx or ScanContext(ScanLimits())))
    except (MalformedInput, LimitExceeded) as exc:
        return out, exc
    return out, None


# --- tests ------------------------------------------------------------------------------------------------

@needs_files
def test_clam_chm_lists_as_clamscan_and_decodes_lzx(tmp_path: Path) -> None:
    data = (FILES / "clam.chm").read_bytes()
    assert identify(data) is FileType.MSCHM
    children = unpack(data, FileType.MSCHM, "clam.chm")
    assert [(c.name, len(c.data)) for c in children] == CLAM_CHM_FILES
    assert bytes(children[-1].data) == (FILES / "clam.exe").read_bytes()  # from the LZX section
    if shutil.which("extract_chmLib"):
        command = ["extract_chmLib", str(FILES / "clam.chm"), str(tmp_path)]
        subprocess.run(command, check=True, capture_output=True)
        assert all(bytes(c.data) == (tmp_path / c.name.lstrip("/")).read_bytes() for c in children)


@needs_files
def test_clam_chm_is_detected() -> None:
    report = Engine(load_database()).scan(ScanTarget(display="clam.chm", path=str(FILES / "clam.chm")))
    assert report.name == "Vigil.Test.ClamExe"


def test_hand_built_stored_and_lzx_sections() -> None:
    big = bytes(range(256)) * 600  # 150 KiB: several frames and reset intervals
    files = [("/a.txt", 0, b"stored text"), ("/b.bin", 1, b"odd"), ("/c.bin", 1, big)]
    data = chm(files, lzx_stored(b"odd" + big, 2 * 32768))
    assert identify(data) is FileType.MSCHM
    expected = [row("/a.txt", b"stored text"), row("/b.bin", b"odd"), row("/c.bin", big)]
    assert rows(unpack(data, FileType.MSCHM)) == expected


def test_lzx_verbatim_bomb_decodes_fast_and_is_budgeted() -> None:
    frames = 64  # 2 MiB from about 3 KiB
    data = chm([("/zeros", 1, b"\0" * frames * 32768)], lzx_zeros(frames), reset_frames=1024)
    started = time.monotonic()
    (child,) = unpack(data, FileType.MSCHM)
    assert bytes(child.data) == b"\0" * frames * 32768
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20))
    children, stopped = run(data, ctx)
    assert children == [] and isinstance(stopped, LimitExceeded) and stopped.limit == "MaxFileSize"
    assert time.monotonic() - started < 5


def test_lying_file_length_is_cut_at_the_section() -> None:
    data = chm([("/x", 1, b"abc")], lzx_stored(b"abc", 65536), section1_length=1 << 20)
    children, stopped = run(data)
    assert [bytes(c.data) for c in children] == [b"abc"]
    assert isinstance(stopped, MalformedInput)


def test_lying_file_length_over_budget_is_refused() -> None:
    data = chm([("/x", 1, b"abc")], lzx_stored(b"abc", 65536), section1_length=1 << 40)
    children, stopped = run(data)
    assert children == [] and isinstance(stopped, LimitExceeded)


@pytest.mark.parametrize("window", [0, 3, 1 << 20])
def test_bad_lzx_window_is_malformed_after_stored_files(window: int) -> None:
    data = chm([("/a", 0, b"s"), ("/b", 1, b"c")], lzx_stored(b"c", 65536), window_frames=window)
    children, stopped = run(data)
    assert [(c.name, bytes(c.data)) for c in children] == [("/a", b"s"), ("/b", b"")]
    assert isinstance(stopped, MalformedInput)


@needs_files
@pytest.mark.parametrize("tenth", range(1, 10))
def test_clam_chm_truncated_at_every_tenth(tenth: int) -> None:
    data = (FILES / "clam.chm").read_bytes()
    started = time.monotonic()
    children, stopped = run(data[: len(data) * tenth // 10])
    assert isinstance(stopped, MalformedInput)
    assert len(children) <= len(CLAM_CHM_FILES)
    assert time.monotonic() - started < 2


def test_huge_chunk_range_is_malformed() -> None:
    data = bytearray(chm([("/a", 0, b"s")]))
    struct.pack_into("<II", data, 0x78 + 0x20, 0, 0xFFFFFFF0)
    with pytest.raises(MalformedInput):
        unpack(bytes(data), FileType.MSCHM)


@settings(max_examples=150, deadline=None)
@given(noise=st.binary(min_size=1, max_size=64), at=st.integers(0, 6000))
def test_chm_fuzz_smoke(noise: bytes, at: int) -> None:
    base = chm([("/a", 0, b"stored"), ("/b", 1, b"lzx data")], lzx_stored(b"lzx data", 65536))
    data = base[:at] + noise + base[at + len(noise) :]
    children, stopped = run(data)
    assert stopped is None or isinstance(stopped, MalformedInput | LimitExceeded)
    assert len(children) <= 5  # noise may rename a system file into a plain one, never add entries


@settings(max_examples=150, deadline=None)
@given(stream=st.binary(max_size=200))
def test_lzx_fuzz_smoke(stream: bytes) -> None:
    children, stopped = run(chm([("/b", 1, b"x" * 5000)], stream, window_frames=1))
    assert stopped is None or isinstance(stopped, MalformedInput)
    assert all(len(c.data) <= 5000 for c in children)
