"""Hash groups (.hdb .hsb .mdb .msb .imp), allow lists (.fp .sfp) and ignore lists (.ign2 .ign)."""

from __future__ import annotations

import hashlib

from diff_gen_ndb import CLAM_EXE
from diff_model import Group, binary, gzip_of, lines, tgz_of, wrap_all, zip_of


def _h(kind: str, data: bytes) -> str:
    return hashlib.new(kind, data).hexdigest()


def hash_group() -> Group:
    t = {f"h{i}": binary(f"hash target {i}".encode()) for i in range(14)}
    hdb = [
        f"{_h('md5', t['h0'])}:{len(t['h0'])}:H.Md5",
        f"{_h('sha1', t['h1'])}:{len(t['h1'])}:H.Sha1InHdb",
        f"{_h('sha256', t['h2'])}:{len(t['h2'])}:H.Sha256InHdb",
        f"{_h('md5', t['h3'])}:{len(t['h3']) + 1}:H.WrongSize",
        f"{_h('md5', t['h4'])}:*:H.StarSize:73",
        f"{_h('md5', t['h5'])}:{len(t['h5'])}:H.FlTooHigh:250",
        f"{_h('md5', t['h6'])}:{len(t['h6'])}:H.FlRange:1:20",
        f"{_h('md5', t['h7'])}:{len(t['h7'])}:H Space Name",
        f"{_h('md5', t['h8'])}:{len(t['h8'])}:H.Already.UNOFFICIAL",
        f"{_h('md5', t['h9'])}:{len(t['h9'])}:H.Clam (Clam)",
        f"{_h('md5', t['h10'])}:{len(t['h10'])}:H.First",
        f"{_h('md5', t['h10'])}:{len(t['h10'])}:H.Second",
        f"{_h('MD5', t['h13'])}:{len(t['h13'])}:H.Flok:1:255".upper().replace("H.FLOK", "H.Flok"),
    ]
    hsb = [
        f"{_h('sha1', t['h11'])}:{len(t['h11'])}:S.Sha1",
        f"{_h('sha256', t['h12'])}:{len(t['h12'])}:S.Sha256",
        f"{_h('md5', t['h0'])}:{len(t['h0'])}:S.Md5InHsb",
        f"{_h('sha256', t['h4'])}:*:S.StarSize:73",
    ]
    group = Group("hash-formats", {"a.hdb": lines(*hdb), "b.hsb": lines(*hsb)}, cli=True)
    for name, data in t.items():
        group.add(name, data)
    group.add("near-h0", t["h0"][:-1] + b"\x00")
    wrap_all(group, ["h0", "h1", "h2", "h11", "h12", "h4"])
    return group


def pe_hash_group() -> list[Group]:
    if not CLAM_EXE.exists():
        return []
    pe = CLAM_EXE.read_bytes()
    sec = pe[0:512]  # section 0: PointerToRawData 0x1 aligned down to 0, SizeOfRawData 512
    mdb = [
        f"512:{_h('md5', sec)}:M.SecMd5",
        f"511:{_h('md5', sec)}:M.WrongSize",
        f"512:{_h('sha1', sec)}:M.SecSha1InMdb",
        f"*:{_h('md5', sec)}:M.StarSize:73",
        f"512:{_h('md5', pe[1:513])}:M.Unaligned",
    ]
    msb = [f"512:{_h('sha256', sec)}:M.SecSha256", f"512:{_h('sha1', sec)}:M.SecSha1"]
    imp = ["98c88d882f01a3f6ac1e5f7dfd761624:39:I.Imp", "98c88d882f01a3f6ac1e5f7dfd761624:40:I.ImpWrongSize",
           "98c88d882f01a3f6ac1e5f7dfd761624:*:I.ImpStar:90"]
    out = []
    for label, db in (("mdb", {"m.mdb": lines(*mdb)}), ("msb", {"m.msb": lines(*msb)}),
                      ("imp", {"i.imp": lines(*imp)}),
                      ("all", {"m.mdb": lines(*mdb), "m.msb": lines(*msb), "i.imp": lines(*imp),
                               "h.hdb": lines(f"{_h('md5', pe)}:{len(pe)}:H.ClamExe")})):
        group = Group(f"pe-hash-{label}", db)
        group.add("clam.exe", pe)
        group.add("clam-overlay.exe", pe + b"overlay")
        group.add("clam-patched.exe", pe[:300] + bytes([pe[300] ^ 0xFF]) + pe[301:])
        group.add("notpe", binary(sec))
        wrap_all(group, ["clam.exe"])
        out.append(group)
    return out


def _allow_targets() -> dict[str, bytes]:
    return {f"a{i}": binary(f"allowme{i} ".encode(), b"alwbody") for i in range(8)}


def allow_groups() -> list[Group]:
    t = _allow_targets()
    member = t["a3"]
    zipped, gzipped, tgzed = zip_of("a3.bin", member), gzip_of(member), tgz_of("a3.bin", member)
    outer = t["a4"]
    outer_zip = zip_of("a4.bin", outer)
    hdb = [f"{_h('md5', d)}:{len(d)}:A.Hash{n}" for n, d in t.items()]
    ndb = ["A.Body:0:*:616c77626f6479"]
    fp = [
        f"{_h('md5', t['a0'])}:{len(t['a0'])}:ignored.name",
        f"{_h('md5', member)}:{len(member)}:member",
        f"{_h('md5', outer_zip)}:{len(outer_zip)}:container",
        f"{_h('sha256', t['a5'])}:{len(t['a5'])}:sha256-in-fp",
        f"{_h('md5', t['a6'])}:*:star:73",
    ]
    sfp = [f"{_h('sha1', t['a1'])}:{len(t['a1'])}:sfp", f"{_h('sha256', t['a2'])}:{len(t['a2'])}:sfp2"]
    group = Group("allow-fp-sfp", {"a.hdb": lines(*hdb), "a.ndb": lines(*ndb), "a.fp": lines(*fp),
                                   "a.sfp": lines(*sfp)}, cli=True)
    for name, data in t.items():
        group.add(name, data)
    group.add("a3.zip", zipped)
    group.add("a3.gz", gzipped)
    group.add("a3.tgz", tgzed)
    group.add("a4.zip", outer_zip)
    group.add("a4.tgz", tgz_of("a4.bin", outer))
    body_only = Group("allow-fp-body-only", {"a.ndb": lines(*ndb), "a.fp": lines(*fp)})
    for name in ("a0", "a5", "a7"):
        body_only.add(name, t[name])
    body_only.add("a3.zip", zipped)
    body_only.add("a3.gz", gzipped)
    body_only.add("a3.tgz", tgzed)
    body_only.add("a4.zip", outer_zip)
    return [group, body_only, *ignore_groups()]


def ignore_groups() -> list[Group]:
    ndb_lines = ["I.Body:0:*:69676e626f6479", "I.Kept:0:*:6b65707462", "I.Wrongmd5:0:*:77726f6e676d",
                 "I.Suffixed:0:*:7375666678"]
    ldb_line = "I.Logic;Target:0;0;6c6f67696331"
    hdb_target = binary(b"ignore hash target")
    hdb_line = f"{_h('md5', hdb_target)}:{len(hdb_target)}:I.Hash"
    # NAME:MD5 lines go last: clamscan reuses a previous line's MD5 token (see the stale-token group)
    ign2 = ["I.Suffixed.UNOFFICIAL", "I.Body", "I.Logic", "I.Hash", f"I.Wrongmd5:{'0' * 32}"]
    db = {"i.ndb": lines(*ndb_lines), "i.ldb": lines(ldb_line), "i.hdb": lines(hdb_line),
          "i.ign2": lines(*ign2)}
    group = Group("ignore-ign2", db, cli=True)
    for name, payload in (("body", b"ignbody"), ("kept", b"keptb"), ("wrongmd5", b"wrongm"),
                          ("suffixed", b"suffx"), ("logic", b"logic1"), ("two", b"ignbody keptb")):
        group.add(name, binary(payload))
    group.add("hash", hdb_target)
    wrap_all(group, ["body", "kept", "hash"], kinds=("zip",))
    md5_line = hashlib.md5(b"J.Body:0:*:6a626f6479").hexdigest()
    md5 = Group("ignore-ign2-md5", {"j.ndb": lines("J.Body:0:*:6a626f6479", "J.Other:0:*:6a6f74686572"),
                                    "j.ign2": lines(f"J.Body:{md5_line}",
                                                    f"J.Other:{hashlib.md5(b'x').hexdigest()}")})
    md5.add("body", binary(b"jbody"))
    md5.add("other", binary(b"jother"))
    legacy = Group("ignore-legacy-ign", {"k.ndb": lines("K.Body:0:*:6b626f6479", "K.Two:0:*:6b74776f32"),
                                         "k.ign": lines("k.ndb:1:K.Body")})
    legacy.add("body", binary(b"kbody"))
    legacy.add("two", binary(b"ktwo2"))
    stale = Group("ignore-ign2-stale-md5-token", {
        "q.ndb": lines("Q.Body:0:*:71626f6479"),
        "q.ign2": lines(f"Q.Other:{hashlib.md5(b'y').hexdigest()}", "Q.Body")})
    stale.add("body", binary(b"qbody"))
    return [group, md5, legacy, stale]


def groups() -> list[Group]:
    return [hash_group(), *pe_hash_group(), *allow_groups()]
