"""Embedded PE files in a PE's own bytes (clam-fsg.exe's clam.exe), found as ClamAV's raw scan finds them."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st
from packer_helpers import CLAM_EXE, FILES, assert_survives_cuts, children, detected_name, md5, needs_files

from vigil.errors import LimitExceeded, MalformedInput
from vigil.unpack import packer_embpe

SAMPLE = FILES / "clam-fsg.exe"
CLAMSCAN_EMBEDDED_AT = 6112  # "*** Detected embedded PE file at 6112 ***"


@needs_files
def test_clam_fsg_carries_clam_exe_where_clamscan_finds_it() -> None:
    ((name, data),) = children(packer_embpe.pe_children, SAMPLE.read_bytes())
    assert name == f"embedded-pe@{CLAMSCAN_EMBEDDED_AT}.exe" and (md5(data), len(data)) == CLAM_EXE


@needs_files
def test_detected_end_to_end_with_the_bundled_db() -> None:
    assert detected_name(SAMPLE) == "Vigil.Test.ClamExe"


@needs_files
def test_plain_executables_and_broken_headers_are_not_embedded_files() -> None:
    exe = (FILES / "clam.exe").read_bytes()
    assert children(packer_embpe.pe_children, exe) == []
    host = bytearray(SAMPLE.read_bytes())
    host[CLAMSCAN_EMBEDDED_AT + 0x3C] = 0xF0  # the embedded e_lfanew no longer reaches "PE\0\0"
    assert children(packer_embpe.pe_children, bytes(host)) == []


@needs_files
def test_only_the_first_embedded_file_is_cut_and_the_rest_ride_in_it() -> None:
    exe = (FILES / "clam.exe").read_bytes()
    host = bytearray(SAMPLE.read_bytes())
    host[0x1000:0x1000] = exe  # a second copy inside .clamav's raw data, before the first
    pe = int.from_bytes(host[0x3C:0x40], "little")
    table = pe + 24 + 0xE0 + 3 * 40
    host[table + 16 : table + 20] = (0x1000 + len(exe)).to_bytes(4, "little")  # .clamav's SizeOfRawData
    ((name, data),) = children(packer_embpe.pe_children, bytes(host))
    assert name == "embedded-pe@4096.exe" and data.startswith(exe) and data.endswith(exe)


@needs_files
def test_truncation() -> None:
    assert_survives_cuts(packer_embpe.pe_children, SAMPLE.read_bytes())


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=6655), st.binary(min_size=1, max_size=64))
def test_fuzz_host(at: int, noise: bytes) -> None:
    if not SAMPLE.exists():
        return
    data = bytearray(SAMPLE.read_bytes())
    data[at : at + len(noise)] = noise
    with contextlib.suppress(MalformedInput, LimitExceeded):
        for _, child in children(packer_embpe.pe_children, bytes(data)):
            assert len(child) < len(data)
