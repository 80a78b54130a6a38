"""Lines clamscan rejects (exit 2, no result lines): one group each, next to a good sig that would hit."""

from __future__ import annotations

from diff_model import DEFAULT, Group, binary, lines

GOOD = "G.Good:0:*:676f6f6473696721"  # "goodsig!"
_HDB = "0123456789abcdef0123456789abcdef"

# file name -> bad content; each is expected to fail the whole load (clamscan decides)
BAD: dict[str, tuple[str, bytes]] = {
    "blank-line": ("b.ndb", lines("B.One:0:*:6f6e6531", "", "B.Two:0:*:74776f32")),
    "empty-file": ("b.ndb", b""),
    "hdb-size0": ("b.hdb", lines(f"{_HDB}:0:B.Size0")),
    "hdb-star-nofl": ("b.hdb", lines(f"{_HDB}:*:B.Star")),
    "hdb-star-fl72": ("b.hdb", lines(f"{_HDB}:*:B.Star:72")),
    "hdb-badhash-len": ("b.hdb", lines(f"{_HDB}0:10:B.Len")),
    "hdb-nonhex": ("b.hdb", lines(f"{_HDB[:-1]}g:10:B.Nonhex")),
    "hdb-two-fields": ("b.hdb", lines(f"{_HDB}:10")),
    "mdb-star-nofl": ("b.mdb", lines(f"*:{_HDB}:B.Mstar")),
    "fp-star-nofl": ("b.fp", lines(f"{_HDB}:*:B.Fpstar")),
    "ndb-static-1": ("b.ndb", lines("B.S1:0:*:68")),
    "ndb-static-2": ("b.ndb", lines("B.S2:0:*:6865")),
    "ndb-nostatic-run": ("b.ndb", lines("B.Nr:0:*:41?36?3?35?76a")),
    "ndb-nostatic-run2": ("b.ndb", lines("B.Nr2:0:*:48??6??369?970")),
    "ndb-only-wild": ("b.ndb", lines("B.W:0:*:????")),
    "ndb-star-1byte": ("b.ndb", lines("B.St:0:*:68*776f")),
    "ndb-star-1byte-right": ("b.ndb", lines("B.St2:0:*:6865*77")),
    "ndb-range-over32": ("b.ndb", lines("B.R:0:*:68656c6c[1-40]77")),
    "ndb-range-2multi": ("b.ndb", lines("B.R2:0:*:6865[1-3]776f")),
    "ndb-range-2single": ("b.ndb", lines("B.R3:0:*:68[1-3]77")),
    "ndb-neg-generic": ("b.ndb", lines("B.Ng:0:*:4142!(43|5555)4445")),
    "ndb-ep-target0": ("b.ndb", lines("B.Ep:0:EP+0:4d5a9000")),
    "ndb-sx-target0": ("b.ndb", lines("B.Sx:0:S0+0:4d5a9000")),
    "ndb-sl-target0": ("b.ndb", lines("B.Sl:0:SL+0:4d5a9000")),
    "ndb-se-target0": ("b.ndb", lines("B.Se:0:SE0:4d5a9000")),
    "ndb-space": ("b.ndb", lines("B.Sp:0:*:6865 6c6c6f")),
    "ndb-odd": ("b.ndb", lines("B.Odd:0:*:68656c6c6")),
    "ndb-few-fields": ("b.ndb", lines("B.Few:0:*")),
    "ndb-bad-offset": ("b.ndb", lines("B.Off:0:abc:68656c6c6f")),
    "ndb-float-star": ("b.ndb", lines("B.Fs:0:*,5:68656c6c6f")),
    "ndb-unclosed-alt": ("b.ndb", lines("B.Alt:0:*:4142(43|44")),
    "ldb-trailing-semicolon": ("b.ldb", lines("B.L1;Target:0;0;68656c6c6f;")),
    "ldb-extra-sub": ("b.ldb", lines("B.L2;Target:0;0;68656c6c6f;776f726c64")),
    "ldb-missing-sub": ("b.ldb", lines("B.L3;Target:0;0&1;68656c6c6f")),
    "ldb-65-subs": ("b.ldb", lines("B.L4;Target:0;" + "|".join(str(i) for i in range(65)) + ";"
                                   + ";".join(f"7375{i:02x}6273" for i in range(65)))),
    "ldb-no-target": ("b.ldb", lines("B.L5;Engine:51-255;0;68656c6c6f")),
    "ldb-key-no-engine": ("b.ldb", lines("B.L6;Target:0,FileSize:87-87;0;68656c6c6f")),
    "ldb-engine-not-first": ("b.ldb", lines("B.L7;Target:0,Engine:51-255;0;68656c6c6f")),
    "ldb-engine-low": ("b.ldb", lines("B.L8;Engine:50-255,Target:0,FileSize:1-99;0;68656c6c6f")),
    "ldb-bad-logic": ("b.ldb", lines("B.L9;Target:0;0&&1;68656c6c6f;776f726c64")),
    "ldb-bc-bad-size": ("b.ldb", lines("B.L10;Target:0;0&1;68656c6c6f;0(>>0#ib3#=115)")),
}


def groups() -> list[Group]:
    out = []
    for name, (fname, content) in BAD.items():
        db = {"good.ndb": lines(GOOD), fname: content} if fname != "good.ndb" else {fname: content}
        group = Group(f"loaderr-{name}", db, modes=(DEFAULT,))
        group.add("good", binary(b"goodsig!"))
        group.add("hello", binary(b"hello world\x01hell\x02wo"))
        out.append(group)
    return out
