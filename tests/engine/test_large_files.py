"""Large files are mapped, not copied: YARA reads a mapped file by path instead of a bytes copy."""

from __future__ import annotations

from pathlib import Path

from vigil.engine import Engine
from vigil.signatures import load_database
from vigil.types import ScanSettings, ScanTarget

RULE = 'rule Big_Marker { strings: $a = "vigil-large-file-marker" condition: $a }\n'


def test_yara_hit_deep_in_a_mapped_file(tmp_path: Path) -> None:
    (tmp_path / "r.yar").write_text(RULE)
    target = tmp_path / "big.bin"
    with target.open("wb") as handle:
        handle.write(b"\x00\x00\x00\x00\xff\xfe" + bytes(3 << 20))  # over the 1 MiB mapping threshold
        handle.write(b"vigil-large-file-marker")
        handle.write(bytes(1 << 20))
    report = Engine(load_database([str(tmp_path / "r.yar")]), ScanSettings(allmatch=True)).scan(
        ScanTarget("big.bin", path=str(target))
    )
    assert report.name == "YARA.Big_Marker.UNOFFICIAL"
    (evidence,) = report.detections[0].matches[0].evidence
    assert evidence.offset == 6 + (3 << 20) and evidence.sample == b"vigil-large-file-marker"
