"""Evaluation of one logical signature on one layer: TDB checks, evidence, PCRE and byte compare."""

from __future__ import annotations

from vigil.exeinfo import ExecInfo, Section
from vigil.signatures.formats.ldb import LogicalSig, parse_ldb
from vigil.signatures.match.logical import LayerFacts, evaluate, tdb_allows
from vigil.signatures.records import ParseContext
from vigil.types import FileType


def _sig(line: str) -> LogicalSig:
    (sig,) = parse_ldb([(1, line)], ParseContext(file="t.ldb"))
    return sig


def _facts(ancestry: tuple[FileType, ...] = (), size: int = 10, exe: ExecInfo | None = None) -> LayerFacts:
    return LayerFacts(FileType.BINARY_DATA, size, ancestry, exe)


def test_container_any_means_root_only() -> None:
    tdb = _sig("C;Engine:51-255,Target:0,Container:CL_TYPE_ANY;0;414141").tdb
    assert tdb_allows(tdb, _facts())
    assert not tdb_allows(tdb, _facts((FileType.ZIP,)))


def test_container_and_intermediates_match_the_parent_chain() -> None:
    zip_member = _sig("C;Engine:51-255,Target:0,Container:CL_TYPE_ZIP;0;414141").tdb
    assert tdb_allows(zip_member, _facts((FileType.GZ, FileType.ZIP)))
    assert not tdb_allows(zip_member, _facts((FileType.ZIP, FileType.GZ)))
    chain = _sig("I;Engine:51-255,Target:0,Intermediates:CL_TYPE_ANY>CL_TYPE_POSIX_TAR;0;414141").tdb
    assert tdb_allows(chain, _facts((FileType.GZ, FileType.POSIX_TAR)))
    assert not tdb_allows(chain, _facts((FileType.POSIX_TAR,)))


def test_file_size_and_exec_ranges() -> None:
    tdb = _sig("S;Engine:51-255,Target:1,FileSize:5-10,NumberOfSections:2-2,EntryPoint:0-64;0;414141").tdb
    exe = ExecInfo(entry_offset=64, sections=(Section(0, 1), Section(1, 1)))
    assert tdb_allows(tdb, _facts(size=10, exe=exe))
    assert not tdb_allows(tdb, _facts(size=11, exe=exe))
    assert not tdb_allows(tdb, _facts(size=10, exe=None))


def test_evidence_comes_from_the_true_subsignatures() -> None:
    sig = _sig("E;Target:0;0|1;414141;424242")
    data = b"xxAAAxx"
    assert evaluate(sig, [[(2, 5)], []], data, _facts(size=len(data))) == [(2, 5)]
    assert evaluate(sig, [[], []], data, _facts(size=len(data))) is None


def test_pcre_runs_only_when_triggered() -> None:
    sig = _sig("P;Target:0;1;414141;0/wor.d/")
    data = b"AAA world"
    assert evaluate(sig, [[(0, 3)], []], data, _facts(size=len(data))) == [(4, 9)]
    assert evaluate(sig, [[], []], data, _facts(size=len(data))) is None


def test_byte_compare_reads_at_the_last_trigger_match() -> None:
    sig = _sig("B;Target:0;0&1;4b4b;0(>>2#ib1#=51)")
    data = b"KK1 KK3"
    hits = [[(0, 2), (4, 6)], []]
    assert evaluate(sig, hits, data, _facts(size=len(data))) == [(0, 2), (4, 6), (6, 7)]
    assert evaluate(sig, [[(0, 2)], []], data, _facts(size=len(data))) is None


def test_macros_never_match() -> None:
    sig = _sig("M;Target:0;0&1;414141;${1-2}12$")
    assert evaluate(sig, [[(0, 3)], []], b"AAA", _facts(size=3)) is None
