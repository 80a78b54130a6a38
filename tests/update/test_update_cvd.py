"""ClamAV mirrors: sigtool-built `.cud` containers, then `.cdiff` incrementals made from `sigtool --diff`
scripts (signed with a local stand-in for ClamAV's key, since sigtool can only sign via ClamAV's server)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ClamSigner, Mirror, Setup

from vigil.engine import Engine
from vigil.signatures import load_database
from vigil.types import ScanSettings, ScanTarget
from vigil.update import activate, pipeline
from vigil.update.cdiff import apply_script, make_cdiff
from vigil.update.config import Source
from vigil.update.install import UpdateRefused

pytestmark = pytest.mark.skipif(shutil.which("sigtool") is None, reason="needs ClamAV's sigtool")

VERSIONS = {
    1: {"daily.ndb": "Cvd.One:0:*:6f6e652d6f6e652d6f6e65\n", "daily.hdb": ""},
    2: {"daily.ndb": "Cvd.Two:0:*:74776f2d74776f2d74776f\n", "daily.hdb": ""},
    3: {"daily.ndb": "Cvd.Two:0:*:74776f2d74776f2d74776f\nCvd.Three:0:*:74687265652d7468726565\n"},
}


def _build(workdir: Path, version: int, previous: Path | None) -> Path:
    """`sigtool --build --unsigned`; with a previous build it also writes the `daily-N.script` diff."""
    out = workdir / f"v{version}"
    out.mkdir()
    (out / "COPYING").write_text("test data\n")
    for name, text in VERSIONS[version].items():
        if text:
            (out / name).write_text(text)
    datadir = previous if previous is not None else workdir / "empty"
    datadir.mkdir(exist_ok=True)
    cmd = ["sigtool", "--build=daily.cud", "--unsigned", f"--cvd-version={version}", f"--datadir={datadir}"]
    result = subprocess.run(cmd, cwd=out, input="tester\n", capture_output=True, text=True, timeout=60)
    assert (out / "daily.cud").exists(), result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    work = tmp_path_factory.mktemp("cvd")
    built: dict[int, Path] = {}
    previous = None
    for version in sorted(VERSIONS):
        built[version] = previous = _build(work, version, previous)
    for version in (2, 3):
        script = built[version] / f"daily-{version}.script"
        if not script.exists():  # older sigtool: make the diff explicitly
            subprocess.run(
                ["sigtool", f"--diff={built[version - 1] / 'daily.cud'}", "daily.cud"],
                cwd=built[version],
                capture_output=True,
                timeout=60,
                check=True,
            )
        assert script.exists()
    return built


def _names(root: Path, data: bytes) -> str | None:
    current = activate.current_dir(str(root))
    assert current is not None
    report = Engine(load_database([current]), ScanSettings()).scan(ScanTarget(display="x", data=data))
    return report.name


def _config(setup: Setup, mirror: Mirror, max_bytes: int = 1 << 20):
    source = Source(name="clamav", type="cvd", urls=(mirror.url,), databases=("daily",), unsigned=True)
    return setup.config(mirror, (source,), max_bytes=max_bytes)


def test_cud_then_cdiffs(
    builds: dict[int, Path], mirror: Mirror, setup: Setup, clam_signer: ClamSigner
) -> None:
    config = _config(setup, mirror)
    mirror.files["/daily.cud"] = (builds[1] / "daily.cud").read_bytes()
    outcome = pipeline.run_update(config, clamav_keys=clam_signer.keys)
    assert outcome.changed
    assert (
        _names(setup.root, b"xx one-one-one xx") == "Cvd.One.UNOFFICIAL"
    )  # .cud is unofficial, as in clamscan

    for version in (2, 3):
        script = (builds[version] / f"daily-{version}.script").read_bytes()
        mirror.files[f"/daily-{version}.cdiff"] = make_cdiff(script, clam_signer.sign)
    mirror.files["/daily.cud"] = (builds[3] / "daily.cud").read_bytes()
    outcome = pipeline.run_update(config, clamav_keys=clam_signer.keys)
    assert outcome.changed, outcome.messages
    assert not any("incremental update failed" in m for m in outcome.messages), outcome.messages
    assert len(mirror.requests("/daily.cud")) == 3  # header probe, full v1, header probe: no full v3
    current = activate.current_dir(str(setup.root))
    assert current is not None and (Path(current) / "daily.cud").exists()
    assert _names(setup.root, b"two-two-two") == "Cvd.Two.UNOFFICIAL"
    assert _names(setup.root, b"three-three") == "Cvd.Three.UNOFFICIAL"
    assert _names(setup.root, b"one-one-one") is None
    assert activate.read_state(current).versions["clamav:daily"] == 3

    # unchanged mirror: nothing to do; older mirror: refused
    assert not pipeline.run_update(config, clamav_keys=clam_signer.keys).changed
    mirror.files["/daily.cud"] = (builds[2] / "daily.cud").read_bytes()
    with pytest.raises(UpdateRefused):
        pipeline.run_update(config, clamav_keys=clam_signer.keys)
    assert _names(setup.root, b"three-three") == "Cvd.Three.UNOFFICIAL"


def test_bad_cdiff_falls_back_to_full_download(
    builds: dict[int, Path], mirror: Mirror, setup: Setup, clam_signer: ClamSigner
) -> None:
    config = _config(setup, mirror)
    mirror.files["/daily.cud"] = (builds[1] / "daily.cud").read_bytes()
    pipeline.run_update(config, clamav_keys=clam_signer.keys)
    good = make_cdiff((builds[2] / "daily-2.script").read_bytes(), clam_signer.sign)
    mirror.files["/daily-2.cdiff"] = good[:20] + bytes([good[20] ^ 1]) + good[21:]
    mirror.files["/daily.cud"] = (builds[2] / "daily.cud").read_bytes()
    outcome = pipeline.run_update(config, clamav_keys=clam_signer.keys)
    assert any("signature does not verify" in m for m in outcome.messages), outcome.messages
    assert _names(setup.root, b"two-two-two") == "Cvd.Two.UNOFFICIAL"


def test_truncated_cvd_keeps_active(
    builds: dict[int, Path], mirror: Mirror, setup: Setup, clam_signer: ClamSigner
) -> None:
    config = _config(setup, mirror)
    mirror.files["/daily.cud"] = (builds[1] / "daily.cud").read_bytes()
    pipeline.run_update(config, clamav_keys=clam_signer.keys)
    full = (builds[2] / "daily.cud").read_bytes()
    mirror.files["/daily.cud"] = full[: len(full) - 40]
    with pytest.raises(Exception, match="daily"):
        pipeline.run_update(config, clamav_keys=clam_signer.keys)
    assert _names(setup.root, b"one-one-one") == "Cvd.One.UNOFFICIAL"


def test_script_line_mismatch_is_rejected() -> None:
    files = {"a.ndb": b"A:0:*:414243\n"}
    assert (
        apply_script(files, b"OPEN a.ndb\nXCHG 1 A:0 B:0:*:444546\nCLOSE\n", "t")["a.ndb"]
        == b"B:0:*:444546\n"
    )
    with pytest.raises(Exception, match="not the one"):
        apply_script(files, b"OPEN a.ndb\nDEL 1 Z:0\nCLOSE\n", "t")
    with pytest.raises(Exception, match="unsupported"):
        apply_script(files, b"MOVE a.ndb b.ndb\n", "t")
    with pytest.raises(Exception, match="bad file name"):
        apply_script(files, b"OPEN ../x.ndb\n", "t")
