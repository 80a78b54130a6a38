"""Generated `.ldb` cases for the clamscan differential test (targets, loadable lines, rejected lines)."""

from __future__ import annotations

import random

_HEAD = b"\x00\x00\x00\x00\xff\xfe\xfd\xfc"  # clamscan types this as binary data, not text

TARGETS: dict[str, bytes] = {
    "plain.bin": _HEAD + b"AAAA BBBB AAAA hello world foo_bar line2 s\x07end",
    "bcomp.bin": _HEAD
    + b"DEC11234 DEC299xx BIN1\x01\x02\x03\x04 DUP!1 DUP!2 DUP!3 HEX1ab HEX20x1F AUT1077 AUT2x12"
    + b" AUT30X1f HEX3AbCdEf12 END1123",
    "wide.bin": _HEAD
    + b"H\x00e\x00l\x00l\x00o\x00 HeLLo hello_world xhellox,hello\nline2\nWORLD ABABABAB xyzxyz",
    "many.bin": _HEAD + b"ABABAB xyz AAA hello hello hello world\r\nAAAAAA zzz" + bytes(range(0x30, 0x80)),
}


def _hex(text: str) -> str:
    return text.encode().hex()


# Subsignature pool for generated logic: present in some targets, absent in others, some overlapping.
_POOL = [_hex(s) for s in ("AAA", "hello", "world", "none", "AB", "xyz", "BB", "line2")]


def _leaf_count(rng: random.Random) -> str:
    return rng.choice(["", "", "", "=0", "=1", "=2", "=3", "=4", ">0", ">1", ">2", "<1", "<2", "<4"])


def _block_count(rng: random.Random) -> str:
    op = rng.choice("=<>")
    value = rng.randint(0, 6)
    distinct = rng.choice(["", "", f",{rng.randint(1, 3)}"])
    return f"{op}{value}{distinct}"


def _expr(ids: list[int], rng: random.Random) -> str:
    if len(ids) == 1:
        return f"{ids[0]}{_leaf_count(rng)}"
    cut = rng.randint(1, len(ids) - 1)
    text = f"{_expr(ids[:cut], rng)}{rng.choice('&|')}{_expr(ids[cut:], rng)}"
    roll = rng.random()
    if roll < 0.35:
        return f"({text}){_block_count(rng)}"
    if roll < 0.6:
        return f"({text})"
    return text


def _random_logic(count: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        size = rng.randint(2, 4)
        subs = rng.sample(_POOL, size)
        ids = list(range(size))
        rng.shuffle(ids)
        if rng.random() < 0.3:
            ids.insert(rng.randint(0, size), rng.randrange(size))  # the same subsignature twice
        lines.append(f"Gen{index};Target:0;{_expr(ids, rng)};" + ";".join(subs))
    return lines


_A, _H, _W, _N = _hex("AAA"), _hex("hello"), _hex("world"), _hex("none")
_M = {name: _hex(name) for name in ("DEC1", "DEC2", "BIN1", "DUP!", "HEX1", "HEX2", "HEX3", "AUT1", "AUT2")}

_FIXED: list[str] = [
    # documented examples and counting rules
    f"Doc.and;Target:0;0&1;{_H};{_hex('foo_bar')}",
    f"Doc.overlap4;Target:0;0=4;{_A}",
    f"Doc.overlap3;Target:0;0=3;{_A}",
    f"Doc.absent;Target:0;0&1=0;{_A};{_N}",
    f"Doc.blk32;Target:0;(0|1)=3,2;{_A};{_W}",
    f"Doc.blk22;Target:0;(0|1)>2,2;{_A};{_W}",
    f"Doc.blk23;Target:0;(0|1)>2,3;{_A};{_W}",
    f"Doc.twice;Target:0;0&1;{_H};{_H}",
    f"Doc.unused;Target:0;1;{_N};{_H}",
    f"Q.nest;Target:0;((0|1)=5|2)=6;{_A};{_W};{_H}",
    f"Q.falseblk;Target:0;((0&1)|2)=1;{_A};{_N};{_W}",
    f"Q.leafzero;Target:0;(0|1=0)=4,2;{_A};{_N}",
    f"Q.spaces;Target:0; 0 & 1 ;{_A};{_W}",
    f"Q.lastcount;Target:0;0=5=4;{_A}",
    # offsets on subsignatures
    f"Off.abs8;Target:0;0;8:{_A}",
    f"Off.abs9;Target:0;0;9:{_A}",
    f"Off.abs10;Target:0;0;10:{_A}",
    f"Off.float;Target:0;0;20,3:{_H}",
    f"Off.float2;Target:0;0;20,2:{_H}",
    f"Off.eof;Target:0;0;EOF-3:{_hex('end')}",
    f"Off.eof2;Target:0;0;EOF-4:{_hex('end')}",
    f"Off.count;Target:0;0=2;8,5:{_A}",
    f"Off.count2;Target:0;0=3;8,5:{_A}",
    f"Off.mix;Target:0;0&1;0:00000000;EOF-3:{_hex('end')}",
    # modifiers
    f"Mod.i;Target:0;0;{_hex('HELLO')}::i",
    f"Mod.nocase0;Target:0;0;{_hex('HELLO')}",
    f"Mod.w;Target:0;0;{_hex('Hello')}::w",
    f"Mod.wa;Target:0;0;{_hex('hello')}::wa",
    f"Mod.wi;Target:0;0;{_hex('HELLO')}::wi",
    f"Mod.f;Target:0;0;{_hex('hello')}::f",
    f"Mod.f2;Target:0;0;{_hex('ello')}::f",
    f"Mod.f3;Target:0;0;{_hex('line2')}::f",
    f"Mod.f4;Target:0;0;{_hex('ine2')}::f",
    f"Mod.fi;Target:0;0;{_hex('WORLD')}::fi",
    f"Mod.cnt;Target:0;0=3;{_hex('hello')}::i",
    "Mod.short;Target:0;0;6865",
    # PCRE
    f"Pcre.basic;Target:0;0&1;{_A};0/wor[a-z]d/",
    f"Pcre.case;Target:0;0&1;{_A};0/WORLD/",
    f"Pcre.casei;Target:0;0&1;{_A};0/WORLD/i",
    f"Pcre.g2;Target:0;0&1=2;{_A};0/AAAA/g",
    f"Pcre.nog;Target:0;0&1=1;{_A};0/AAAA/",
    f"Pcre.g8;Target:0;0&1=8;{_A};0/A/g",
    f"Pcre.anch;Target:0;0&1;{_A};23:0/hello/",
    f"Pcre.anch2;Target:0;0&1;{_A};22:0/hello/",
    f"Pcre.roll;Target:0;0&1;{_A};22:0/hello/r",
    f"Pcre.float;Target:0;0&1;{_A};22,1:0/hello/",
    f"Pcre.floatmiss;Target:0;0&1;{_A};20,1:0/hello/",
    f"Pcre.enc;Target:0;0&1;{_A};22,3:0/hello/e",
    f"Pcre.enc2;Target:0;0&1;{_A};22,6:0/hello/e",
    f"Pcre.roll_enc;Target:0;0&1;{_A};22,7:0/hello/re",
    f"Pcre.roll_enc2;Target:0;0&1;{_A};10,1:0/hello/re",
    f"Pcre.A;Target:0;0&1;{_A};0/hello/A",
    f"Pcre.A2;Target:0;0&1;{_A};0/\\x00\\x00/A",
    f"Pcre.eof;Target:0;0&1;{_A};EOF-3:0/end/",
    f"Pcre.trig_false;Target:0;1;{_N};0/hello/",
    f"Pcre.trig_count;Target:0;1;{_A};0=4/hello/",
    f"Pcre.trig_count2;Target:0;1;{_A};0=3/hello/",
    f"Pcre.trig_blk;Target:0;2;{_A};{_N};0|1/hello/",
    f"Pcre.x;Target:0;0&1;{_A};0/hel lo/x",
    f"Pcre.s;Target:0;0&1;{_hex('hello')};0/line2.s/s",
    f"Pcre.m;Target:0;0&1;{_hex('hello')};0/^line2$/m",
    f"Pcre.nom;Target:0;0&1;{_hex('hello')};0/^line2$/",
    f"Pcre.U;Target:0;0&1=1;{_A};0/AA+/gU",
    f"Pcre.U2;Target:0;0&1=2;{_A};0/AA+/gU",
    f"Pcre.E;Target:0;0&1;{_A};0/end$/E",
    f"Pcre.semi;Target:0;0&1;{_H};0/hello\\x3B|world/",
    f"Pcre.named;Target:0;0&1;{_H};0/(?<w>hel)lo/",
    f"Pcre.gr;Target:0;0&1=2;{_A};8:0/AAAA/gr",
    f"Pcre.g_anch;Target:0;0&1=2;{_A};8:0/AAAA/g",
    # byte compare
    f"Bc.de;Target:0;0&1;{_M['DEC1']};0(>>4#de4#=1234)",
    f"Bc.de_miss;Target:0;0&1;{_M['DEC1']};0(>>4#de4#=1235)",
    f"Bc.d_partial;Target:0;0&1;{_M['DEC2']};0(>>4#d4#=99)",
    f"Bc.de_partial;Target:0;0&1;{_M['DEC2']};0(>>4#de4#=99)",
    f"Bc.de5;Target:0;0&1;{_M['DEC1']};0(>>4#de5#=1234)",
    f"Bc.ib4;Target:0;0&1;{_M['BIN1']};0(>>4#ib4#=16909060)",
    f"Bc.il4;Target:0;0&1;{_M['BIN1']};0(>>4#il4#=0x04030201)",
    f"Bc.i_noendian;Target:0;0&1;{_M['BIN1']};0(>>4#i4#=67305985)",
    f"Bc.last;Target:0;0&1;{_M['DUP!']};0(>>4#ib1#=51)",
    f"Bc.first;Target:0;0&1;{_M['DUP!']};0(>>4#ib1#=49)",
    f"Bc.back;Target:0;0&1;{_M['BIN1']};0(<<1#ib1#=0x20)",
    f"Bc.hb;Target:0;0&1;{_M['HEX3']};0(>>4#hb8#=0xabcdef12)",
    f"Bc.hl;Target:0;0&1;{_M['HEX3']};0(>>4#hl8#=0x12efcdab)",
    f"Bc.hl3;Target:0;0&1;{_M['HEX3']};0(>>4#hl3#=0xbc0a)",
    f"Bc.h_noendian;Target:0;0&1;{_M['HEX1']};0(>>4#h2#=0xab)",
    f"Bc.h0x;Target:0;0&1;{_M['HEX2']};0(>>4#hb4#=0x1f)",
    f"Bc.auto;Target:0;0&1;{_M['AUT1']};0(>>4#ab3#=77)",
    f"Bc.auto0;Target:0;0&1;{_M['AUT2']};0(>>4#ab3#=0)",
    f"Bc.range;Target:0;0&1;{_M['DEC1']};0(>>4#d4#>1000,<1300)",
    f"Bc.range2;Target:0;0&1;{_M['DEC1']};0(>>4#d4#>1000,<1200)",
    f"Bc.octal;Target:0;0&1;{_M['DEC1']};0(>>4#d4#=01234)",
    f"Bc.oob;Target:0;0&1;{_hex('END1')};0(>>4#d4#=123)",
    f"Bc.order;Target:0;0&1;{_M['DEC1']};0(>>4#ed4#=1234)",
    # target description
    f"Tdb.size;Engine:51-255,Target:0,FileSize:50-60;0;{_A}",
    f"Tdb.size2;Engine:51-255,Target:0,FileSize:55-60;0;{_A}",
    f"Tdb.root;Engine:51-255,Target:0,Container:CL_TYPE_ANY;0;{_A}",
    f"Tdb.zip;Engine:51-255,Target:0,Container:CL_TYPE_ZIP;0;{_A}",
    f"Tdb.inter;Engine:51-255,Target:0,Intermediates:CL_TYPE_ANY;0;{_A}",
    f"Tdb.engine;Engine:51-255,Target:0;0;{_A}",
    f"Tdb.dup;Engine:51-255,Target:0,Target:0;0;{_A}",
    f"Macro.never;Target:0;0&1;{_A};${{1-2}}12$",
    f"Macro.first;Target:0;1;${{1-2}}12$;{_A}",
]

#: HandlerType makes clamscan rescan a hit as a child layer of that type, which would let `Intermediates`
#: sigs in the same database match; it is checked in a database of its own.
HANDLER_LINE = f"Tdb.handler;Engine:51-255,Target:0,HandlerType:CL_TYPE_ZIP;0;{_A}"

#: Lines that load without error but must never match (clamscan skips them silently).
SKIPPED: list[str] = [
    f"Skip.key;Engine:51-255,Target:0,Foo:1;0;{_A}",
    f"Skip.key2;Target:0,Foo:1;0;{_A}",
    f"Skip.key3;Target:0,FileSize:1-2,Foo:1;0;{_A}",
    f"Skip.type;Engine:51-255,Target:0,Container:CL_TYPE_BOGUS;0;{_A}",
    f"Skip.target15;Target:15;0;{_A}",
    f"Skip.target16;Engine:51-255,Target:16;0;{_A}",
    f"Skip.flevel;Engine:300-400,Target:0;0;{_A}",
    f"Skip.flevel2;Engine:1-20,Target:0;0;{_A}",
    f"Skip.space;Engine:51-255, Target:0;0;{_A}",
]

GOOD_LINES: list[str] = _FIXED + _random_logic(70)

#: Lines clamscan 1.4.6 refuses to load (exit code 2).
BAD_LINES: list[str] = [
    f"Bad.nosub;Target:0;0&1;{_A}",
    f"Bad.extra;Target:0;0;{_A};{_A}",
    f"Bad.trailing;Target:0;0;{_A};",
    "Bad.65;Target:0;64;" + ";".join([_A] * 65),
    f"Bad.notarget;Engine:51-255;0;{_A}",
    f"Bad.engine2nd;Target:0,Engine:51-255;0;{_A}",
    f"Bad.noengine;Target:0,FileSize:1-100;0;{_A}",
    f"Bad.lowengine;Engine:50-255,Target:0,FileSize:0-100;0;{_A}",
    f"Bad.container;Target:0,Container:CL_TYPE_ANY;0;{_A}",
    f"Bad.size1;Engine:51-255,Target:0,FileSize:54;0;{_A}",
    f"Bad.engine1;Engine:51,Target:0;0;{_A}",
    f"Bad.target_a;Target:a;0;{_A}",
    f"Bad.target_sp;Engine:51-255,Target: 0;0;{_A}",
    f"Bad.tdbcomma;Engine:51-255,Target:0,FileSize:0-100,;0;{_A}",
    f"Bad.tdbnocolon;Engine:51-255,Target:0,FileSize;0;{_A}",
    f"Bad.ep;Engine:51-255,Target:0,EntryPoint:0-100;0;{_A}",
    f"Bad.icon;Engine:51-255,Target:0,IconGroup1:foo;0;{_A}",
    f"Bad.logic_and;Target:0;0&;{_A}",
    f"Bad.logic_lead;Target:0;&0;{_A}",
    f"Bad.logic_paren;Target:0;(0&1;{_A};{_A}",
    f"Bad.logic_close;Target:0;0&1);{_A};{_A}",
    f"Bad.logic_blk1;Target:0;(0)=4;{_A}",
    f"Bad.logic_nest;Target:0;((0|1)=5)>0;{_A};{_W}",
    f"Bad.logic_not;Target:0;!0;{_A}",
    f"Bad.logic_eq;Target:0;0=;{_A}",
    f"Bad.logic_a;Target:0;a;{_A}",
    "Bad.short;Target:0;0;6e",
    f"Bad.mod;Target:0;0;{_A}::q",
    f"Bad.ep_off;Target:0;0;EP+0:{_A}",
    f"Bad.pcre_notrig;Target:0;0&1;{_A};/hello/",
    f"Bad.pcre_self;Target:0;0&1;{_A};1/hello/",
    f"Bad.pcre_later;Target:0;0&1;{_A};2/hello/",
    f"Bad.pcre_delim;Target:0;0&1;{_A};0/hello",
    f"Bad.pcre_flag;Target:0;0&1;{_A};0/hello/q",
    f"Bad.pcre_regex;Target:0;0&1;{_A};0/hel(lo/",
    f"Bad.bc_len3;Target:0;0&1;{_A};0(>>4#ib3#=1)",
    f"Bad.bc_dl;Target:0;0&1;{_A};0(>>4#dl4#=1)",
    f"Bad.bc_nolen;Target:0;0&1;{_A};0(>>4#d#=1)",
    f"Bad.bc_len0;Target:0;0&1;{_A};0(>>4#d0#>0)",
    f"Bad.bc_3cmp;Target:0;0&1;{_A};0(>>4#d4#>1,<9,>0)",
    f"Bad.bc_shift;Target:0;0&1;{_A};0(>4#d4#=1)",
    f"Bad.bc_op;Target:0;0&1;{_A};0(>>4#d4#!1)",
    f"Bad.bc_hexval;Target:0;0&1;{_A};0(>>4#h4#=1f2e)",
    f"Bad.bc_junk;Target:0;0&1;{_A};0(>>4#d4#=12x)",
    f"Bad.bc_hexlen;Target:0;0&1;{_A};0(>>4#h20#>0)",
]
