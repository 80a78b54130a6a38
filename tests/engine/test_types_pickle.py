"""Reports cross process boundaries (the CLI's pool, vigild's workers, the cluster) by pickle."""

from __future__ import annotations

import copy
import pickle
import pickletools

from vigil.types import (
    Category,
    Detection,
    Evidence,
    FileType,
    LayerInfo,
    Match,
    Origin,
    ScanReport,
    ScanTarget,
    Verdict,
)


def _report() -> ScanReport:
    evidence = Evidence(12, 4, b"\x00evil", "normalised")
    origin = Origin("db/x.ndb", 7)
    match = Match("Body.Sig", "body", origin, "t.zip>a.exe", (evidence,), (0, 12), Category.PUA)
    layers = (
        LayerInfo("t.zip", FileType.ZIP, 300, 0, "a" * 64),
        LayerInfo("t.zip>a.exe", FileType.MSEXE, 100, 1, "b" * 64, "c" * 32, "d" * 40),
    )
    detection = Detection("Body.Sig", Category.PUA, "t.zip>a.exe", (match,))
    return ScanReport("t.zip", Verdict.INFECTED, (detection,), 300, "a" * 64, layers, ("MaxFiles",),
                      ("an issue",), (), 0.25, "v9", True)


def test_a_report_survives_pickle_and_copy_field_for_field() -> None:
    report = _report()
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(report, protocol))
        assert again == report
        assert again.elapsed == report.elapsed and again.cached is True  # compare=True fields, all kept
        assert again.detections[0].matches[0].evidence[0].sample == b"\x00evil"
    assert copy.deepcopy(report) == report


def test_a_report_pickles_as_constructor_calls() -> None:
    """Each value class is rebuilt by calling it, not by a state it must walk field by field (BUILD)."""
    data = pickle.dumps(_report(), pickle.HIGHEST_PROTOCOL)
    opcodes = {op.name for op, _arg, _pos in pickletools.genops(data)}
    assert "REDUCE" in opcodes and "BUILD" not in opcodes
    assert pickle.loads(data).layers[1].sha1 == "d" * 40


def test_a_target_pickles_as_a_call_without_the_walks_stat() -> None:
    """The walk's stat result serves the scan cache in the walking process only; a worker opens the file."""
    import os

    target = ScanTarget(display="shown", path=__file__, fd=None, data=None, seen=os.stat(__file__))
    data = pickle.dumps(target, pickle.HIGHEST_PROTOCOL)
    opcodes = {op.name for op, _arg, _pos in pickletools.genops(data)}
    assert "BUILD" not in opcodes and b"stat_result" not in data
    again = pickle.loads(data)
    fields = (again.display, again.path, again.fd, again.data, again.seen)
    assert fields == ("shown", __file__, None, None, None)
    assert pickle.loads(pickle.dumps(ScanTarget("stream", data=b"bytes"))).data == b"bytes"
