"""Body-signature groups: every hex wildcard form, every offset form, target types and PE/ELF offsets."""

from __future__ import annotations

import struct
from pathlib import Path

from diff_model import BIN, TAIL, Group, binary, lines, wrap_all

CLAM_EXE = Path("/usr/share/clamav-testfiles/clam.exe")

# (name, hex pattern, payloads that should hit, payloads that should miss); clamscan has the last word.
WILDCARDS: list[tuple[str, str, list[bytes], list[bytes]]] = [
    ("q2", "68656c??6f77", [b"helxow", b"hel\x00ow"], [b"hexlow", b"helxo-"]),
    ("nibhi", "6a6b6c6d6?", [b"jklmo", b"jklma"], [b"jklm\x7f"]),
    ("niblo", "6e6f7071?f", [b"nopqo", b"nopq\x1f"], [b"nopq\x6e"]),
    ("nib0", "727374?0", [b"rst\x30", b"rst\xf0"], [b"rsto"]),
    ("star", "7461696c656e64*41414141", [b"tailend..AAAA", b"tailendAAAA"], [b"AAAA..tailend"]),
    ("exact", "6162{3}6364", [b"abXYZcd"], [b"abXYcd", b"abXYZWcd"]),
    ("upto", "6566{-3}6768", [b"efgh", b"efXYZgh"], [b"efWXYZgh"]),
    ("atleast", "696a{2-}6b6c", [b"ijXYkl", b"ij" + b"x" * 200 + b"kl"], [b"ijXkl", b"ijkl"]),
    ("range", "6d6e{10-12}6f70", [b"mn" + b"x" * 10 + b"op", b"mn" + b"x" * 12 + b"op"],
     [b"mn" + b"x" * 9 + b"op", b"mn" + b"x" * 13 + b"op"]),
    ("zero", "7172{0}7374", [b"qrst"], [b"qrXst", b"qrXXXXst"]),
    ("big130", "7576{130}7778", [b"uv" + b"\x01" * 130 + b"wx"],
     [b"uv" + b"\x01" * 129 + b"wx", b"uv" + b"\x01" * 131 + b"wx"]),
    ("alt1", "4b4c(63|64)4d4e", [b"KLcMN", b"KLdMN"], [b"KLeMN"]),
    ("nalt1", "4f50!(63|64)5152", [b"OPxQR"], [b"OPcQR", b"OPdQR"]),
    ("altm", "5354(6364|7879)5556", [b"STcdUV", b"STxyUV"], [b"STcyUV"]),
    ("naltm", "5758!(6364|7879)595a", [b"WXzzYZ", b"WXcyYZ"], [b"WXcdYZ", b"WXxyYZ"]),
    ("gen", "67656e(6c6f|6c6f20)7778", [b"genlowx", b"genlo wx"], [b"genlo  wx"]),
    ("nest", "4142(43(44|55)|58)4546", [b"ABCDEF", b"ABCUEF", b"ABXEF"], [b"ABCXEF"]),
    ("overlap", "6162(63|6364)(64|65)6566", [b"abcdef", b"abcdeef"], [b"abcef"]),
    ("overlaprev", "7778(7879|78)(79|7a)7a7b", [b"wxxyz{", b"wxxyzz{"], [b"wxxz{"]),
    ("single", "4748(49)4a4b", [b"GHIJK"], [b"GHXJK"]),
    ("genwild", "5a5b(63??|7a)5c5d", [b"Z[c!\\]", b"Z[z\\]"], [b"Z[q\\]"]),
    ("genwild2", "2f2f(6?|7?7?)2a2a", [b"//a**", b"//qr**"], [b"//\x01**"]),
    ("rng_left", "68656c6c[1-3]77", [b"hellxw", b"hellxxxw"], [b"hellw", b"hellxxxxw"]),
    ("rng_right", "6c6f6f[1-3]71", [b"looxq", b"looxxxq"], [b"looq", b"looxxxxq"]),
    ("bound", "(B)62617a6f6f(B)", [b" bazoo ", b"-bazoo\n", b"_bazoo_", b"/bazoo=", b"<bazoo>"],
     [b"xbazoo ", b" bazoo,", b",bazoo "]),
    ("line", "(L)6c696e6532(L)", [b"\nline2\n", b"\nline2\r\n"], [b"xline2\n", b"\nline2\rx", b"\nline2x"]),
    ("wordch", "6d6f6f(W)636f77", [b"moo,cow", b"moo_cow", b"moo cow"], [b"mooxcow", b"moo1cow"]),
    ("midbound", "7a6f7a(B)7a6f7a", [b"zoz-zoz", b"zoz zoz"], [b"zoz,zoz", b"zozzoz"]),
    ("case", "48454c4c4f", [b"HELLO"], [b"hello", b"Hello"]),
    ("upperhex", "4D4E4F50", [b"MNOP"], [b"mnop"]),
]

# Forms the spec does not pin down; each goes in its own group so a load error stays local.
UNVERIFIED: list[tuple[str, str, list[bytes], list[bytes]]] = [
    ("nbound", "7172(B)!(B)7374", [b"qr st", b"qr-st"], [b"qrst"]),
    ("nline", "!(L)6e6c6e6c", [b"xnlnl"], [b"\nnlnl"]),
    ("nword", "6e77!(W)6e77", [b"nwxnw"], [b"nw,nw"]),
    ("rngsingle", "61[1-3]62", [b"axb"], [b"ab"]),
    ("rngbig", "616263[1-40]64", [b"abcxd"], [b"abcd"]),
    ("zero_gap_star", "6162*{2}6364", [b"abXXcd"], [b"abcd"]),
    ("range128", "4142{200-300}4344", [b"AB" + b"\x02" * 250 + b"CD"], [b"AB" + b"\x02" * 100 + b"CD"]),
    ("altlong", "4142(434445|464748)4950", [b"ABCDEIP"], [b"ABCDIP"]),
]


def _wildcard_group(name: str, rows: list[tuple[str, str, list[bytes], list[bytes]]], wrap: bool) -> Group:
    group = Group(name, {"w.ndb": lines(*(f"W.{n}:0:*:{hx}" for n, hx, _, _ in rows))}, cli=wrap)
    for sig, _, hits, misses in rows:
        for i, payload in enumerate(hits):
            group.add(f"{sig}-hit{i}", binary(b"\x01\x02", payload, b"\x03"))
        for i, payload in enumerate(misses):
            group.add(f"{sig}-miss{i}", binary(b"\x01\x02", payload, b"\x03"))
    if wrap:
        wrap_all(group, [f"{sig}-hit0" for sig, _, _, _ in rows])
    return group


def wildcard_groups() -> list[Group]:
    groups = [_wildcard_group("ndb-wildcards", WILDCARDS, wrap=True)]
    groups += [_wildcard_group(f"ndb-unverified-{row[0]}", [row], wrap=False) for row in UNVERIFIED]
    # Edge-of-file boundaries: the class anchors are allowed to use the file edges.
    edge = Group("ndb-class-edges", {"e.ndb": lines("E.bstart:0:*:(B)626f756e64", "E.bend:0:*:656467656f(B)",
                                                     "E.lstart:0:*:(L)6c6e7374", "E.lend:0:*:6c6e656e64(L)")})
    edge.add("bstart", b"bound" + BIN)
    edge.add("bend", BIN + b" edgeo")
    edge.add("lstart", b"lnst" + BIN)
    edge.add("lend", BIN + b"\nlnend")
    edge.add("lend-cr", BIN + b"\nlnend\r")
    return [*groups, edge]


def offset_group() -> Group:
    sigs = [
        "O.exact:0:10:6f6666736574",        # "offset" exactly at 10
        "O.float:0:7,3:666c6f6174",         # "float" starting in [7,10]
        "O.floatshort:0:7,2:666c6f6174",
        "O.eof:0:EOF-6:747261696c72",       # "trailr" six bytes before the end
        "O.eoffloat:0:EOF-8,2:656e646572",  # "ender"
        "O.eof0:0:EOF-0:7a7a7a",
        "O.zero:0:0:7a65726f00",
        "O.any:0:*:616e79776865726521",
    ]
    group = Group("ndb-offsets", {"o.ndb": lines(*sigs)}, cli=True)
    for at in (9, 10, 11):
        group.add(f"exact-at{at}", BIN + b"\x01" * (at - len(BIN)) + b"offset" + TAIL)
    for at in (6, 7, 10, 11):
        group.add(f"float-at{at}", BIN + b"\x01" * (at - len(BIN)) + b"float" + TAIL)
    group.add("eof-6", BIN + b"\x01\x02trailr")
    group.add("eof-7", BIN + b"\x01\x02trailr\x01")
    for extra in (0, 2, 3):
        group.add(f"eoffloat+{extra}", BIN + b"\x01ender" + b"\x02" * (3 + extra))
    group.add("eof0", BIN + b"zzz")
    group.add("anywhere", binary(b"anywhere!"))
    group.add("zero-hit", b"zero\x00\x00\xff\xfe\x02")
    group.add("zero-miss", b"\x01zero\x00\x00\xff\xfe\x02")
    wrap_all(group, ["exact-at10", "float-at10", "eof-6", "anywhere"])
    return group


def _graphics() -> bytes:
    return b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"


def typed_targets(marker: bytes) -> dict[str, bytes]:
    """Files of many types, each carrying the same marker so per-type sigs can be told apart."""
    return {
        "binary": binary(marker),
        "text": b"some plain words " + marker + b" more words\n",
        "html": b"<html><body><p>" + marker + b"</p></body></html>\n",
        "gif": _graphics() + marker + b"\x00;",
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + marker + b"\x00" * 8,
        "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /X (" + marker + b") >>\nendobj\n%%EOF\n",
        "java": b"\xca\xfe\xba\xbe\x00\x00\x00\x34\x00\x10" + marker + b"\x00" * 8,
        "macho": b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 24 + marker + b"\x00" * 8,
        "swf": b"FWS\x0a\x20\x00\x00\x00" + marker + b"\x00" * 8,
        "mail": b"From: a@example.com\nTo: b@example.com\nSubject: hi\n\nbody " + marker + b"\n",
        "elf": minimal_elf(marker),
        "pe": CLAM_EXE.read_bytes() + marker if CLAM_EXE.exists() else binary(marker),
    }


def target_type_group() -> Group:
    marker = b"tgtmark"
    sigs = [f"T.t{t}:{t}:*:{marker.hex()}" for t in range(17)]
    group = Group("ndb-target-types", {"t.ndb": lines(*sigs)})
    for name, data in typed_targets(marker).items():
        group.add(name, data)
    wrap_all(group, ["binary", "text", "html", "pe", "elf"], kinds=("zip",))
    return group


def minimal_elf(payload: bytes, shentsize: int = 64) -> bytes:
    """A tiny static ELF64 executable whose entry point is the payload's first byte (file offset 120).

    clamscan insists on e_shentsize == 64 even with no sections; with 0 its ELF header parse fails and
    EP/section offsets never match, so both variants are worth a case.
    """
    code = payload + b"\x00" * 8
    size = 64 + 56 + len(code)
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + struct.pack(
        "<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x400078, 64, 0, 0, 64, 56, 1, shentsize, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, size, size, 0x1000)
    return header + phdr + code


def exec_offset_groups() -> list[Group]:
    if not CLAM_EXE.exists():
        return []
    pe = CLAM_EXE.read_bytes()
    ep = 64
    sigs = [
        f"P.ep:1:EP+0:{pe[ep:ep + 4].hex()}",
        f"P.ep2:1:EP+2:{pe[ep + 2:ep + 6].hex()}",
        f"P.epback:1:EP-3,3:{pe[ep - 2:ep + 2].hex()}",
        f"P.epwrong:1:EP+1:{pe[ep:ep + 4].hex()}",
        f"P.s0:1:S0+0:{pe[0:4].hex()}",
        f"P.s0b:1:S0+16:{pe[16:20].hex()}",
        f"P.se0:1:SE0:{pe[100:104].hex()}",
        f"P.sl:1:SL+0:{pe[0:4].hex()}",
        f"P.s1:1:S1+0:{pe[0:4].hex()}",
        f"P.elfonly:6:*:{pe[ep:ep + 4].hex()}",
        f"P.ole:2:*:{pe[ep:ep + 4].hex()}",
        f"P.any:0:*:{pe[ep:ep + 4].hex()}",
        "P.elfep:6:EP+0:656c6670617977",
        "P.elfep1:6:EP+1:6c6670617977",
        "P.elfpe:1:EP+0:656c6670617977",
        "P.machoany:9:*:656c6670617977",
    ]
    group = Group("ndb-exec-offsets", {"p.ndb": lines(*sigs)}, cli=True)
    group.add("clam.exe", pe)
    group.add("clam-overlay.exe", pe + b"\x00overlay\x00")
    group.add("notpe", binary(pe[ep:ep + 8]))
    group.add("elf", minimal_elf(b"elfpayw"))
    group.add("elf-shentsize0", minimal_elf(b"elfpayw", shentsize=0))
    wrap_all(group, ["clam.exe", "elf", "elf-shentsize0"])
    bad = Group("ndb-exec-offset-target0", {"p.ndb": lines(f"P.ep0:0:EP+0:{pe[ep:ep + 4].hex()}")})
    bad.add("clam.exe", pe)
    return [group, bad]


def groups() -> list[Group]:
    return [*wildcard_groups(), offset_group(), target_type_group(), *exec_offset_groups()]
