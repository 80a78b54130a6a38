"""Precedence, normalised text/HTML views, .ftm, .cud, YARA, silent skips, PUA and line-ending groups."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from diff_model import DEFAULT, Group, binary, lines, wrap_all, zip_of


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _hx(text: str) -> str:
    return text.encode().hex()


def precedence_group() -> Group:
    """Default mode: which of several matching signatures names the file (spec §0)."""
    t = {
        "ndb-vs-hdb": binary(b"prec1body"),
        "hdb-vs-ldb": binary(b"prec2logic"),
        "ndb-vs-ldb": binary(b"prec3both"),
        "earliest-first": binary(b"early4 ... late4"),
        "earliest-second": binary(b"late5 ... early5"),
        "later-hash": binary(b"prec6 twice listed"),
        "yara-vs-ndb": binary(b"prec7yara"),
        "yara-vs-hdb": binary(b"prec8yarahash"),
        "overlap-same-start": binary(b"prec9overlap"),
        "wild-early-static-late": binary(b"wildXearly ... staticlate"),
        "static-early-wild-late": binary(b"staticfirst ... wildYafter"),
    }
    ndb = ["P.Body1:0:*:" + _hx("prec1body"), "P.Body3:0:*:" + _hx("prec3both"),
           "P.Late4:0:*:" + _hx("late4"), "P.Early4:0:*:" + _hx("early4"),
           "P.Early5:0:*:" + _hx("early5"), "P.Late5:0:*:" + _hx("late5"),
           "P.Yara7:0:*:" + _hx("prec7yara"),
           "P.Long9:0:*:" + _hx("prec9overlap"), "P.Short9:0:*:" + _hx("prec9ov"),
           "P.WildEarly:0:*:77696c64??6561726c79", "P.StaticLate:0:*:" + _hx("staticlate"),
           "P.StaticFirst:0:*:" + _hx("staticfirst"), "P.WildAfter:0:*:77696c64??6166746572"]
    hdb = [f"{_md5(t['ndb-vs-hdb'])}:{len(t['ndb-vs-hdb'])}:P.Hash1",
           f"{_md5(t['hdb-vs-ldb'])}:{len(t['hdb-vs-ldb'])}:P.Hash2",
           f"{_md5(t['later-hash'])}:{len(t['later-hash'])}:P.HashFirst",
           f"{_md5(t['later-hash'])}:{len(t['later-hash'])}:P.HashSecond",
           f"{_md5(t['yara-vs-hdb'])}:{len(t['yara-vs-hdb'])}:P.Hash8"]
    ldb = [f"P.Logic2;Target:0;0;{_hx('prec2logic')}", f"P.Logic3;Target:0;0;{_hx('prec3both')}"]
    yar = (b'rule P_Yara7 { strings: $a = "prec7yara" condition: $a }\n'
           b'rule P_Yara8 { strings: $a = "prec8yarahash" condition: $a }\n')
    group = Group("precedence", {"p.ndb": lines(*ndb), "p.hdb": lines(*hdb), "p.ldb": lines(*ldb),
                                 "p.yar": yar}, cli=True)
    for name, data in t.items():
        group.add(name, data)
    # a body sig on the zip's own header against a hit inside the member
    group.db["z.ndb"] = lines("P.ZipHeader:0:0:504b0304", "P.Member:0:*:" + _hx("zmember"))
    group.add("member-vs-container.zip", zip_of("m.bin", binary(b"zmember")))
    wrap_all(group, ["ndb-vs-hdb", "earliest-first", "earliest-second"], kinds=("zip",))
    return group


def normalise_groups() -> list[Group]:
    sigs = [
        f"N.RawUpper:0:*:{_hx('SOME Text')}",
        f"N.Lower:0:*:{_hx('some text')}",
        f"N.T7Lower:7:*:{_hx('some text')}",
        f"N.T7Upper:7:*:{_hx('SOME Text')}",
        f"N.T7Squeezed:7:*:{_hx('hello world')}",
        f"N.T7Spaced:7:*:{_hx('hello   world')}",
        f"N.T0Squeezed:0:*:{_hx('hello world')}",
        f"N.HtmlT3:3:*:{_hx('<b>world</b>')}",
        f"N.HtmlT0:0:*:{_hx('<b>world</b>')}",
        f"N.HtmlRaw:0:*:{_hx('<p>Hello   <b>')}",
        f"N.HtmlT3Raw:3:*:{_hx('<P>Hello')}",
        f"N.HtmlT7:7:*:{_hx('<b>world</b>')}",
        f"N.Href:0:*:{_hx('ClickHere')}",
        f"N.HrefLower:0:*:{_hx('clickhere')}",
        f"N.Tab:7:*:{_hx('tab sep')}",
        f"N.Newline:0:*:{_hx('line one line two')}",
    ]
    targets = {
        "text-upper": b"Intro line\nSOME Text here\n",
        "text-spaced": b"Greeting: Hello   World, again\n",
        "text-tabs": b"a TAB\t\tSEP line\n",
        "text-newlines": b"Line One\n\n  Line Two\n",
        "html": b"<html><body><p>Hello   <b>World</b></p></body></html>\n",
        "html-upper": b"<HTML><BODY><P>Hello <B>WORLD</B></P></BODY></HTML>\n",
        "text-with-href": b"Please <a href=\"http://x.test/\">ClickHere</a> SOME Text\n",
        "binary-upper": binary(b"SOME Text hello   world <b>world</b> ClickHere"),
        "utf16-bom": "SOME Text\n".encode("utf-16"),
    }
    group = Group("normalised-views", {"n.ndb": lines(*sigs)}, cli=True)
    for name, data in targets.items():
        group.add(name, data)
    wrap_all(group, ["text-upper", "html", "text-with-href"])
    ldb = Group("normalised-ldb", {"n.ldb": lines(
        f"NL.Text;Target:7;0;{_hx('hello world')}",
        f"NL.Html;Target:3;0;{_hx('<b>world</b>')}",
        f"NL.Any;Target:0;0&1;{_hx('some text')};{_hx('here')}",
    )})
    for name in ("text-upper", "text-spaced", "html", "html-upper"):
        ldb.add(name, targets[name])
    return [group, ldb]


def ftm_groups() -> list[Group]:
    mark = "F.Body:3:*:" + _hx("ftmmark")
    rows = {
        "ftm-html": ("0:0:00010203:MyType:CL_TYPE_ANY:CL_TYPE_HTML", mark),
        "ftm-graphics": ("0:0:00010203:MyGfx:CL_TYPE_ANY:CL_TYPE_GRAPHICS", "F.Gfx:5:*:" + _hx("ftmmark")),
        "ftm-bodysyntax": ("1:*:737461727420:MyBody:CL_TYPE_ANY:CL_TYPE_HTML", mark),
        "ftm-flevel-skip": ("0:0:00010203:MySkip:CL_TYPE_ANY:CL_TYPE_HTML:250", mark),
        "ftm-flevel-skip-one": ("0:0:00010203:MySkip:CL_TYPE_ANY:CL_TYPE_HTML:250\n"
                                "0:0:0a0b0c0d:MyOther:CL_TYPE_ANY:CL_TYPE_HTML", mark),
    }
    out = []
    for name, (magic, sig) in rows.items():
        group = Group(name, {"m.ftm": lines(magic), "f.ndb": lines(sig, "F.Any:0:*:" + _hx("ftmmark"))})
        group.add("magic", b"\x00\x01\x02\x03\xff\xfe\x00ftmmark\x00\xfe")
        group.add("start", b"\x00\x00\x00\x00\xff\xfestart ftmmark\x00\xfe")
        group.add("plain", binary(b"ftmmark"))
        out.append(group)
    return out


def cud_group() -> list[Group]:
    sigtool = shutil.which("sigtool")
    if sigtool is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "COPYING").write_text("Test database for the differential suite.\n")
        (work / "x.ndb").write_bytes(lines("Cud.Ndb:0:*:" + _hx("cudbody")))
        target = binary(b"cud hashed")
        (work / "x.hdb").write_bytes(lines(f"{_md5(target)}:{len(target)}:Cud.Hdb"))
        (work / "x.ldb").write_bytes(lines(f"Cud.Ldb;Target:0;0&1;{_hx('cudl1')};{_hx('cudl2')}"))
        subprocess.run([sigtool, "--build=x.cud", "--unsigned", "--cvd-version=5", "--datadir=."],
                       cwd=work, input=b"tester\n", capture_output=True, check=True, timeout=60)
        cud = (work / "x.cud").read_bytes()
    group = Group("cud-container", {"x.cud": cud}, cli=True)
    group.add("body", binary(b"cudbody"))
    group.add("hash", target)
    group.add("logic", binary(b"cudl1 cudl2"))
    group.add("clean", binary(b"cud clean"))
    wrap_all(group, ["body", "hash"], kinds=("zip",))
    broken = Group("cud-truncated", {"x.cud": cud[: len(cud) - 40]})
    broken.add("body", binary(b"cudbody"))
    return [group, broken]


YARA = """
rule Y_Text { strings: $a = "yaratext" condition: $a }
rule Y_Hex { strings: $h = { 79 61 ?? 61 68 [2-4] 65 78 } condition: $h }
rule Y_Count { strings: $a = "ycnt" condition: #a == 3 }
rule Y_Nocase { strings: $a = "yNoCase" nocase condition: $a }
rule Y_Wide { strings: $a = "ywide" wide condition: $a }
rule Y_Regex { strings: $r = /yre[0-9]{3}x/ condition: $r }
rule Y_Size { strings: $a = "ysized" condition: $a and filesize < 40 }
rule Y_At { strings: $a = "yatzero" condition: $a at 6 }
rule Y_Private { strings: $a = "ypriv" condition: $a and not Y_Text }
private rule Y_Hidden { strings: $a = "yhidden" condition: $a }
rule Y_UsesHidden { condition: Y_Hidden }
rule Y_Tagged : tag1 tag2 { meta: author = "t" strings: $a = "ytagged" condition: $a }
rule Y_Any2 { strings: $a = "yone" $b = "ytwo" $c = "ythree" condition: 2 of them }
"""

YARA_PAYLOADS = {
    "text": b"yaratext", "hex": b"yaXahxxex", "hex-long": b"yaXahxxxxxex", "cnt3": b"ycnt ycnt ycnt",
    "cnt2": b"ycnt ycnt", "nocase": b"YNOCASE", "wide": b"y\x00w\x00i\x00d\x00e\x00", "regex": b"yre123x",
    "regex-miss": b"yre12x", "size": b"ysized", "at": b"yatzero", "priv": b"ypriv",
    "priv-both": b"ypriv yaratext",
    "hidden": b"yhidden", "tagged": b"ytagged", "any2": b"yone ythree", "any1": b"ytwo",
}


def yara_groups() -> list[Group]:
    group = Group("yara-rules", {"r.yar": YARA.encode()}, cli=True)
    for name, payload in YARA_PAYLOADS.items():
        group.add(name, binary(payload))
    wrap_all(group, ["text", "hex", "regex"])
    mixed = Group("yara-and-ndb", {"r.yara": b'rule Y_Mixed { strings: $a = "ymixed" condition: $a }\n',
                                   "m.ndb": lines("Y.Ndb:0:*:" + _hx("ymixed"))})
    mixed.add("mixed", binary(b"ymixed"))
    bad = Group("yara-syntax-error", {"bad.yar": b"rule Broken { condition: }\n",
                                      "m.ndb": lines("Y.Ndb:0:*:" + _hx("ymixed"))})
    bad.add("mixed", binary(b"ymixed"))
    return [group, mixed, bad]


def skip_and_pua_groups() -> list[Group]:
    skips = Group("silent-skips", {
        "s.ndb": lines("S.Fl250:0:*:" + _hx("skipfl") + ":250", "S.Fl1to20:0:*:" + _hx("skiprange") + ":1:20",
                       "S.Type15:15:*:" + _hx("skiptype"), "S.Type16:16:*:" + _hx("skiptype"),
                       "S.FlOk:0:*:" + _hx("keepfl") + ":1:255", "S.Type13:13:*:" + _hx("skip13"),
                       "S.Type14:14:*:" + _hx("skip14"), "# a comment line", "S.Kept:0:*:" + _hx("keepme")),
        "s.info": b"this loose .info is ignored\n",
        "s.cfg": lines("OTHER:0x0:1:255"),
    }, cli=True)
    for payload in (b"skipfl", b"skiprange", b"skiptype", b"keepfl", b"skip13", b"skip14", b"keepme"):
        skips.add(payload.decode(), binary(payload))
    pua_db = {"p.ndu": lines("PUA.Body:0:*:" + _hx("puabody")),
              "p.hdu": lines(f"{_md5(binary(b'puahash'))}:{len(binary(b'puahash'))}:PUA.Hash"),
              "n.ndb": lines("PUA.Normal:0:*:" + _hx("normalbody"))}
    out = [skips]
    for pua in (False, True):
        group = Group(f"pua-{'on' if pua else 'off'}", dict(pua_db), detect_pua=pua)
        for payload in (b"puabody", b"puahash", b"normalbody"):
            group.add(payload.decode(), binary(payload))
        out.append(group)
    crlf_hash = binary(b"crlfhash")
    crlf = Group("crlf-and-case", {"c.ndb": b"C.Crlf:0:*:" + _hx("crlfsig").upper().encode() + b"\r\n"
                                   + b"C.Two:0:*:" + _hx("crlftwo").encode() + b"\r\n",
                                   "c.hdb": f"{_md5(crlf_hash)}:{len(crlf_hash)}:C.Hash\r\n"
                                   .encode(),
                                   "c.ldb": f"C.Logic;Target:0;0;{_hx('crlflogic')}\r\n".encode()},
                 modes=(DEFAULT,))
    for payload in (b"crlfsig", b"crlftwo", b"crlfhash", b"crlflogic"):
        crlf.add(payload.decode(), binary(payload))
    return [*out, crlf]


def groups() -> list[Group]:
    return [precedence_group(), *normalise_groups(), *ftm_groups(), *cud_group(), *yara_groups(),
            *skip_and_pua_groups()]
