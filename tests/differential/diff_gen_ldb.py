"""Logical-signature groups: logic operators and counts, subsig offsets and modifiers, PCRE, byte compare,
TDB keys, and Container/Intermediates against zip, gzip and tar.gz members."""

from __future__ import annotations

from diff_model import Group, binary, gzip_of, lines, tgz_of, wrap_all, zip_of


def _hx(text: str) -> str:
    return text.encode().hex()


LOGIC_SIGS = [
    f"L.and;Target:0;0&1;{_hx('hello')};{_hx('foo_bar')}",
    f"L.or;Target:0;0|1;{_hx('orone')};{_hx('ortwo')}",
    f"L.cnt4;Target:0;0=4;{_hx('AAA')}",
    f"L.cnt3;Target:0;0=3;{_hx('AAA')}",
    f"L.gt;Target:0;0>1;{_hx('gtgt')}",
    f"L.lt;Target:0;0<2;{_hx('ltlt')}",
    f"L.not;Target:0;0&1=0;{_hx('notA')};{_hx('notB')}",
    f"L.blk32;Target:0;(0|1)=3,2;{_hx('bkx')};{_hx('bky')}",
    f"L.blkgt22;Target:0;(0|1)>2,2;{_hx('bkx')};{_hx('bky')}",
    f"L.blkgt23;Target:0;(0|1)>2,3;{_hx('bkx')};{_hx('bky')}",
    f"L.paren;Target:0;(0&1)|(2&3);{_hx('pa1')};{_hx('pa2')};{_hx('pb1')};{_hx('pb2')}",
    f"L.unused;Target:0;1;{_hx('unusedzero')};{_hx('usedone')}",
    f"L.same;Target:0;0&1;{_hx('twins')};{_hx('twins')}",
    f"L.off;Target:0;0;10:{_hx('atten')}",
    f"L.eof;Target:0;0;EOF-3:{_hx('end')}",
    f"L.short;Target:0;0&1;6865;{_hx('shortsub')}",
    f"L.lead;Target:0;0;??{_hx('leadwild')}",
    f"L.nocase;Target:0;0;{_hx('nocase')}::i",
    f"L.wide;Target:0;0;{_hx('wide')}::w",
    f"L.wa;Target:0;0;{_hx('wdas')}::wa",
    f"L.full;Target:0;0;{_hx('line2')}::f",
    f"L.fullpart;Target:0;0;{_hx('ine3')}::f",
    f"L.fulli;Target:0;0;{_hx('fooi')}::fi",
    f"L.size;Engine:51-255,Target:0,FileSize:30-40;0;{_hx('sized')}",
    f"L.pcre;Engine:81-255,Target:0;0&1;{_hx('wor')};0/wor[a-z]d/",
    f"L.pcrei;Engine:81-255,Target:0;0&1;{_hx('WOR')}::i;0/WORLD/i",
    f"L.pcrecs;Engine:81-255,Target:0;0&1;{_hx('WOR')}::i;0/WORLD/",
    f"L.bc115;Target:0;0&1;{_hx('swap')};0(>>0#ib1#=115)",
    f"L.bc116;Target:0;0&1;{_hx('swap')};0(>>0#ib1#=116)",
    f"L.bcdec;Target:0;0&1;{_hx('num:')};0(>>4#de3#>99)",
    f"L.engok;Engine:1-255,Target:0;0;{_hx('engok')}",
    f"L.engout;Engine:250-255,Target:0;0;{_hx('engout')}",
    f"L.unknownkey;Engine:51-255,Target:0,Foo:1;0;{_hx('unknownk')}",
    f"L.bogustype;Engine:51-255,Target:0,Container:CL_TYPE_BOGUS;0;{_hx('bogust')}",
    f"L.macro;Engine:51-255,Target:0;0&1;{_hx('mac')};${{6-7}}12$",
]

LOGIC_PAYLOADS: dict[str, bytes] = {
    "and": b"hello foo_bar", "and-half": b"hello foo-bar", "or1": b"orone", "or2": b"ortwo",
    "or0": b"orthree",
    "cnt": b"AAAA BBBB AAAA", "cnt-3": b"AAAAA", "gt1": b"gtgt", "gt2": b"gtgt gtgt", "lt1": b"ltlt",
    "lt2": b"ltlt ltlt", "not-a": b"notA", "not-ab": b"notA notB", "blk3": b"bkx bkx bky", "blk2": b"bkx bky",
    "blk-same": b"bkx bkx bkx", "paren-a": b"pa1 pa2", "paren-b": b"pb2 pb1", "paren-mix": b"pa1 pb1",
    "unused": b"usedone", "twins": b"twins", "nocase": b"NoCaSe", "wide": b"w\x00i\x00d\x00e\x00",
    "wide-narrow": b"wide", "wa-wide": b"w\x00d\x00a\x00s\x00", "wa-narrow": b"wdas", "full": b"\nline2\n",
    "full-inside": b"xline2y", "fullpart": b"line3 ", "fulli": b" FOOI ", "pcre": b"worfd",
    "pcre-up": b"WORLD",
    "pcre-miss": b"wor1d", "bc": b"swap", "bcdec": b"num:123", "bcdec-low": b"num:042", "engok": b"engok",
    "engout": b"engout", "unknownk": b"unknownk", "bogust": b"bogust", "macro": b"mac\x01\x02\x03\x04\x05bbb",
    "short": b"shortsub", "lead": b"xleadwild",
}


def logic_groups() -> list[Group]:
    db = {"l.ldb": lines(*LOGIC_SIGS), "m.ndb": lines("M.Macro:0:$12:626262")}
    group = Group("ldb-logic", db, cli=True)
    for name, payload in LOGIC_PAYLOADS.items():
        group.add(name, binary(b"\x01\x02", payload, b"\x03"))
    group.add("atten-10", b"\x00\x00\x00\x00\xff\xfe\x01\x02\x03\x04atten\x00")
    group.add("atten-11", b"\x00\x00\x00\x00\xff\xfe\x01\x02\x03\x04\x05atten\x00")
    group.add("end-eof3", b"\x00\x00\x00\x00\xff\xfe\x01end")
    group.add("end-eof4", b"\x00\x00\x00\x00\xff\xfe\x01end\x00")
    group.add("size-35", b"\x00\x00\x00\x00\xff\xfe" + b"\x01" * 24 + b"sized")
    group.add("size-50", b"\x00\x00\x00\x00\xff\xfe" + b"\x01" * 39 + b"sized")
    wrap_all(group, ["and", "cnt", "blk3", "nocase", "pcre", "bc", "full", "atten-10", "size-35"])
    return [group, *_one_line_groups()]


ONE_LINE = {  # forms whose load behaviour the spec leaves open: a group each, so a load error stays local
    "ldb-pcre-noengine": f"P.Noeng;Target:0;0&1;{_hx('pcrx')};0/pcr[x]/",
    "ldb-pcre-offset": f"P.Off;Engine:81-255,Target:0;0&1;{_hx('pqr')};10:0/pqr/",
    "ldb-pcre-rolling": f"P.Roll;Engine:81-255,Target:0;0&1;{_hx('pqr')};0/pq[r]/r",
    "ldb-modifier-noengine": f"P.Mod;Target:0;0;{_hx('modi')}::i",
    "ldb-nibble-sub": "P.Nib;Target:0;0;6e69?2626c",
    "ldb-negbound": f"P.Neg;Target:0;0;{_hx('negb')}!(B)",
}


def _one_line_groups() -> list[Group]:
    out = []
    for name, line in ONE_LINE.items():
        group = Group(name, {"x.ldb": lines(line)})
        for payload in (b"pcrx", b"0123pqr", b"\x01\x02\x03pqr", b"MODI", b"nibbl", b"negbx", b"negb "):
            group.add(payload.hex(), binary(payload))
        out.append(group)
    return out


CONTAINER_SIGS = [
    f"C.Any;Engine:51-255,Target:0,Container:CL_TYPE_ANY;0;{_hx('ctrmark')}",
    f"C.Zip;Engine:51-255,Target:0,Container:CL_TYPE_ZIP;0;{_hx('ctrmark')}",
    f"C.Tar;Engine:51-255,Target:0,Container:CL_TYPE_POSIX_TAR;0;{_hx('ctrmark')}",
    f"C.Gz;Engine:51-255,Target:0,Container:CL_TYPE_GZ;0;{_hx('ctrmark')}",
    f"C.IntGzTar;Engine:51-255,Target:0,Intermediates:CL_TYPE_GZ>CL_TYPE_POSIX_TAR;0;{_hx('ctrmark')}",
    f"C.IntAnyTar;Engine:51-255,Target:0,Intermediates:CL_TYPE_ANY>CL_TYPE_POSIX_TAR;0;{_hx('ctrmark')}",
    f"C.IntZip;Engine:51-255,Target:0,Intermediates:CL_TYPE_ZIP;0;{_hx('ctrmark')}",
]


def container_group() -> Group:
    payload = binary(b"ctrmark")
    group = Group("ldb-container", {"c.ldb": lines(*CONTAINER_SIGS)}, modes=("allmatch", "default"), cli=True)
    group.add("plain", payload)
    group.add("member.zip", zip_of("m.bin", payload))
    group.add("member.gz", gzip_of(payload))
    group.add("member.tgz", tgz_of("m.bin", payload))
    group.add("nested.zip", zip_of("inner.zip", zip_of("m.bin", payload)))
    group.add("zip-in-tgz.tgz", tgz_of("inner.zip", zip_of("m.bin", payload)))
    return group


def groups() -> list[Group]:
    return [*logic_groups(), container_group()]
