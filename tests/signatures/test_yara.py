"""YARA via yara-x: signature-base compiles, hits agree with the `yara` CLI, names agree with clamscan."""

from __future__ import annotations

import hashlib
import pickle
import re
import subprocess
import time
from pathlib import Path

import pytest

from vigil.errors import DatabaseError, LimitExceeded, SignatureError
from vigil.signatures.formats.yara import read_yara_source
from vigil.signatures.match.yara import YaraHit, YaraMatcher

CORPUS = Path("/work/shared/corpus/yara/signature-base")

#: (rule that should hit, text taken from one of its strings). The expectation is the `yara` CLI's answer;
#: the rule name here only checks the crafted target really exercises something.
CRAFTED: tuple[tuple[str, str], ...] = (
    ("EQGRP_Unique_Strings", "/BananaGlee/ELIGIBLEBOMB"),
    ("FVEY_ShadowBroker_strifeworld", "Running STRIFEWORLD not protected"),
    ("FVEY_ShadowBroker_user_tool_envisioncollision", "-n ENVISIONCOLLISION"),
    ("APT_APT34_PS_Malware_Apr19_3", "schtasks /create /F /ru SYSTEM /sc minute /mo 10 /tn"),
    ("APT_MAL_CN_Wocao_agent_py", "vpshex.decode"),
    ("POSHSPY_Malware", "ZgB1AG4AYwB0AGkAbwBuACAAcAB1AHIAZgBDAHIA"),
    ("WEBSHELL_PAS_webshell_ZIPArchiveFile", "Archive created by P.A.S. v."),
    ("BKDR_XZUtil_KillSwitch_CVE_2024_3094_Mar24_1", "yolAbejyiejuvnup=Evjtgvsh5okmkAvj"),
    ("BernhardPOS", "OPSEC_BERNHARD"),
    ("SUSP_JDNIExploit_Error_Indicators_Dec21_1", "FATAL log4j - Message: BadAttributeValueException: "),
    ("Mimipenguin_SH", "MimiPenguin Results:"),
    ("Suspicious_PowerShell_Code_1", "powershell.exe -w hidden -ep bypass -Enc"),
    ("SUSP_Netsh_PortProxy_Command", "netsh interface portproxy add v4tov4 listenport="),
    ("Ysoserial_Payload_Spring1", "ysoserial/Pwner"),
    ("NTLM_Dump_Output", "500:AAD3B435B51404EEAAD3B435B51404EE:"),
    ("MAL_RANSOM_LockBit_ForensicArtifacts_Apr23_1", "/tmp/locker.log"),
    ("HackTool_Samples", "Unable to uninstall the fgexec service"),
    ("webshell_php_list", "// by: The Dark Raver"),
    ("ngh_php_php", "Cr4sh_aka_RKL"),
    ("NT_Addy_asp", "NTDaddy v1.9 by obzerve of fux0r inc"),
    ("r57shell_php_php", "RusH security team"),
    ("Rem_View_php_php", "Welcome to phpRemoteView (RemView)"),
    ("connectback2_pl", "ConnectBack Backdoor"),
    ("kacak_asp", "Kacak FSO 1.0"),
    ("ironshell_php", "www.ironwarez.info"),
    ("telnet_cgi", "W A R N I N G: Private Server"),
    ("LOG_EXPL_MOVEit_Exploitation_Indicator_Jun23_1", "POST /moveitisapi/moveitisapi.dll action=m2 "),
    ("WEBSHELL_PHP_Generic_Eval", "<?php eval(base64_decode($_POST['x'])); ?>"),
)


def _corpus_files() -> list[Path]:
    return sorted([*CORPUS.glob("*.yar"), *CORPUS.glob("*.yara")])


_COMPILE_SECONDS: list[float] = []


@pytest.fixture(scope="module")
def corpus_matcher() -> YaraMatcher:
    if not CORPUS.is_dir():
        pytest.skip("signature-base corpus not present")
    start = time.perf_counter()
    matcher = YaraMatcher.build([read_yara_source(str(path)) for path in _corpus_files()])
    _COMPILE_SECONDS.append(time.perf_counter() - start)
    return matcher


def _build(tmp_path: Path, name: str, text: str, official: bool = False) -> YaraMatcher:
    path = tmp_path / name
    path.write_text(text)
    return YaraMatcher.build([read_yara_source(str(path), official=official)])


def test_corpus_compiles_and_round_trips(corpus_matcher: YaraMatcher) -> None:
    assert corpus_matcher.rule_count == 5282
    compile_s = _COMPILE_SECONDS[0]
    blob = corpus_matcher.serialize()
    print(f"signature-base: compile {compile_s:.2f}s, serialised {len(blob)} bytes")
    assert compile_s < 30
    restored = YaraMatcher.deserialize(blob)
    assert restored.rule_count == corpus_matcher.rule_count
    hits = restored.match(CRAFTED[0][1].encode())
    assert [hit.rule for hit in hits] == [CRAFTED[0][0]]
    assert hits[0].origin.file.endswith("apt_eqgrp.yar") and hits[0].origin.line > 1


def test_hits_agree_with_yara_cli(corpus_matcher: YaraMatcher, tmp_path: Path) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    for index, (_, text) in enumerate(CRAFTED):
        (targets / f"t{index:02d}.txt").write_bytes(f"header line\n {text} \nfooter\n".encode())
    both = f"{CRAFTED[0][1]}\n{CRAFTED[8][1]}\n"
    (targets / "both.txt").write_bytes(both.encode())
    (targets / "clean.txt").write_bytes(b"nothing to see here\n" * 50)
    expected = _yara_cli_hits(targets)
    for index, (rule, _) in enumerate(CRAFTED):
        assert rule in expected.get(f"t{index:02d}.txt", set()), rule
    for target in sorted(targets.iterdir()):
        got = {hit.rule for hit in corpus_matcher.match(target.read_bytes())}
        assert got == expected.get(target.name, set()), target.name


def _yara_cli_hits(targets: Path) -> dict[str, set[str]]:
    """libyara 4.x over the same corpus, one namespace per file as Vigil does (`ns:file`)."""
    rule_args = [f"{path.name}:{path}" for path in _corpus_files()]
    proc = subprocess.run(["yara", "-w", "-r", *rule_args, str(targets)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    hits: dict[str, set[str]] = {}
    for line in proc.stdout.splitlines():
        rule, _, path = line.partition(" ")
        hits.setdefault(Path(path).name, set()).add(rule)
    return hits


def test_reported_name_matches_clamscan(tmp_path: Path) -> None:
    rules = 'rule Vigil_Test_Rule : tag {\n  strings: $a = "vigil yara probe"\n  condition: $a\n}\n'
    matcher = _build(tmp_path, "probe.yar", rules)
    target = tmp_path / "target.txt"
    target.write_bytes(b"xx vigil yara probe yy")
    proc = subprocess.run(
        ["clamscan", "--no-summary", "-d", str(tmp_path / "probe.yar"), str(target)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = re.search(r": (\S+) FOUND$", proc.stdout.strip())
    assert found is not None
    hits = matcher.match(target.read_bytes())
    assert [hit.reported for hit in hits] == [found.group(1)] == ["YARA.Vigil_Test_Rule.UNOFFICIAL"]


def test_official_source_has_no_unofficial_suffix(tmp_path: Path) -> None:
    matcher = _build(tmp_path, "off.yar", 'rule Off { strings: $a = "abcdef" condition: $a }', official=True)
    assert [hit.reported for hit in matcher.match(b"..abcdef..")] == ["YARA.Off"]


def test_hit_carries_origin_and_capped_evidence(tmp_path: Path) -> None:
    rules = (
        "// leading comment\n\n"
        'rule First { strings: $a = "zz" condition: $a }\n'
        "\n"
        'rule Second\n{\n  strings:\n    $b = "needle"\n  condition:\n    #b > 2\n}\n'
    )
    matcher = _build(tmp_path, "ev.yar", rules)
    data = b"needle-" * 100
    (hit,) = matcher.match(data)
    assert hit.rule == "Second" and hit.origin.line == 5
    assert hit.origin.file == str(tmp_path / "ev.yar")
    assert 0 < len(hit.evidence) <= 8
    assert hit.evidence[0].offset == 0 and hit.evidence[0].length == 6 and hit.evidence[0].sample == b"needle"
    assert hit.evidence[1].offset == 7


def test_same_rule_name_in_two_files_and_private_rules(tmp_path: Path) -> None:
    one, two = tmp_path / "one.yar", tmp_path / "two.yar"
    one.write_text('rule Dup { strings: $a = "alpha" condition: $a }\n')
    two.write_text(
        'private rule Helper { strings: $b = "beta" condition: $b }\nrule Dup { condition: Helper }\n'
    )
    matcher = YaraMatcher.build([read_yara_source(str(one)), read_yara_source(str(two))])
    hits = matcher.match(b"alpha beta")
    assert sorted((hit.rule, hit.namespace) for hit in hits) == [("Dup", str(one)), ("Dup", str(two))]
    assert {hit.origin.file for hit in hits} == {str(one), str(two)}
    assert all(hit.rule != "Helper" for hit in matcher.match(b"beta"))


def test_global_rule_only_constrains_its_own_file(tmp_path: Path) -> None:
    gated, free = tmp_path / "gated.yar", tmp_path / "free.yar"
    gated.write_text(
        "global rule Small { condition: filesize < 10 }\n"
        'rule GatedHit { strings: $a = "token" condition: $a }\n'
    )
    free.write_text('rule FreeHit { strings: $a = "token" condition: $a }\n')
    matcher = YaraMatcher.build([read_yara_source(str(gated)), read_yara_source(str(free))])
    # A non-private global rule is itself a rule that matches, as in libyara.
    assert {hit.rule for hit in matcher.match(b"token")} == {"Small", "GatedHit", "FreeHit"}
    assert {hit.rule for hit in matcher.match(b"token" + b"." * 20)} == {"FreeHit"}


def test_modules_are_available(tmp_path: Path) -> None:
    rules = (
        'import "pe"\nimport "math"\nimport "hash"\n'
        "rule NotPE { condition: not pe.is_pe and math.entropy(0, filesize) < 1.0 and "
        f'hash.md5(0, filesize) == "{hashlib.md5(b"aaaa").hexdigest()}" }}\n'
    )
    matcher = _build(tmp_path, "mods.yar", rules)
    assert [hit.rule for hit in matcher.match(b"aaaa")] == ["NotPE"]


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yar"
    bad.write_text('rule Fine { condition: true }\n\nrule Broken {\n  strings: $a = "x"\n  condition $a\n}\n')
    with pytest.raises(SignatureError) as caught:
        YaraMatcher.build([read_yara_source(str(bad))])
    assert caught.value.file == str(bad) and caught.value.line == 5
    assert str(caught.value).startswith(f"{bad}:5:")


def test_semantic_error_names_second_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yar", tmp_path / "undeclared.yar"
    good.write_text("rule G { condition: true }\n")
    bad.write_text('rule U {\n  strings:\n    $a = "x"\n  condition:\n    $b\n}\n')
    with pytest.raises(SignatureError) as caught:
        YaraMatcher.build([read_yara_source(str(good)), read_yara_source(str(bad))])
    assert (caught.value.file, caught.value.line) == (str(bad), 5)


def test_non_utf8_source_is_a_signature_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.yar"
    path.write_bytes(b"rule A { condition: true }\n// caf\xe9\n")
    with pytest.raises(SignatureError) as caught:
        read_yara_source(str(path))
    assert caught.value.line == 2


def test_missing_file_and_bad_cache_are_database_errors(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError):
        read_yara_source(str(tmp_path / "absent.yar"))
    with pytest.raises(DatabaseError):
        YaraMatcher.deserialize(b"not a cache")
    good = _build(tmp_path, "g.yar", "rule G { condition: true }").serialize()
    with pytest.raises(DatabaseError):
        YaraMatcher.deserialize(good[:-100])


def test_pickle_and_reuse(tmp_path: Path) -> None:
    matcher = _build(tmp_path, "p.yar", 'rule P { strings: $a = "pickled" condition: $a }')
    assert matcher.match(b"-pickled-")  # live yara-x objects exist now; pickling must still work
    clone: YaraMatcher = pickle.loads(pickle.dumps(matcher))
    for _ in range(3):
        hits = clone.match(b"a pickled rule")
        assert hits == [
            YaraHit("P", str(tmp_path / "p.yar"), "YARA.P.UNOFFICIAL", hits[0].origin, hits[0].evidence)
        ]
    assert clone.match(b"nothing") == []


def test_timeout_is_a_limit(tmp_path: Path) -> None:
    slow = (
        "rule Slow { condition: for all i in (0..filesize) : "
        "( for all j in (0..filesize) : ( uint8(i) != 7 or uint8(j) != 9 ) ) }\n"
    )
    matcher = _build(tmp_path, "slow.yar", slow)
    start = time.perf_counter()
    with pytest.raises(LimitExceeded) as caught:
        matcher.match(b"a" * 200_000, timeout_s=0.5)
    assert caught.value.limit == "MaxScanTime"
    assert time.perf_counter() - start < 10
