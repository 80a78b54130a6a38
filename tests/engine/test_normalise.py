"""Normalised text and HTML views, checked against clamscan 1.4.6 as the oracle.

Text: a type-7 signature of our whole normalised view must hit each generated text file (clamscan matches
type 7 only on its normalised buffer), and the raw-case form must not. HTML: clamscan --leave-temps keeps
its `nocomment.html` view, which must equal ours byte for byte.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.engine import normalise
from vigil.engine.normalise import normalise_html, normalise_text

needs_clamscan = pytest.mark.skipif(shutil.which("clamscan") is None, reason="clamscan not installed")

_ALPHABET = [b"Hello", b"WORLD", b"MiXeD", b"abc", b"123", b" ", b"   ", b"\t", b"\r\n", b"\n\n\n", b"\x0c",
             b"-", b"_", b";", b"\"q\"", b"'s'", b"\x07", b"\x08", b"\x1b", b"caf\xc3\xa9", b"\xe9", b"\x85"]


def _text_inputs(count: int) -> list[bytes]:
    rng = random.Random(7)
    return [b"t " + b"".join(rng.choice(_ALPHABET) for _ in range(rng.randint(3, 14))) + b" end"
            for _ in range(count)]


def test_text_facts() -> None:
    assert normalise_text(b"Hello   World") == b"hello world"
    assert normalise_text(b"  \tLead\r\nX\n") == b" lead x "
    assert normalise_text(b"a \x07 b\x1bc") == b"a bc"  # control bytes vanish, spaces still squeeze
    assert normalise_text(b"caf\xc3\xa9 \xe9\x85!") == b"caf !"  # every byte >= 0x7f is dropped


@needs_clamscan
def test_text_view_differential(tmp_path: Path) -> None:
    targets, db = tmp_path / "t", tmp_path / "db"
    targets.mkdir()
    db.mkdir()
    sigs = []
    inputs = _text_inputs(60)
    for index, data in enumerate(inputs):
        (targets / f"f{index}.txt").write_bytes(data)
        sigs.append(f"N{index}:7:*:{normalise_text(data).hex()}")
    (db / "n.ndb").write_text("\n".join(sigs) + "\n")
    out = subprocess.run(["clamscan", "--allmatch", "--no-summary", "-d", str(db), str(targets)],
                         capture_output=True, text=True, timeout=120).stdout
    missing = [i for i in range(len(inputs)) if f"f{i}.txt: N{i}.UNOFFICIAL FOUND" not in out]
    assert not missing, [inputs[i] for i in missing]


_HTML_CASES = [
    b"<HTML><Head><TITLE>Hi  There</TITLE></Head>\n<BODY>\n<P>Hello   <B>World</B>\n</BODY></HTML>\n",
    b"<html><!-- a comment --><body>Text</body></html>",
    b"<html><body BGCOLOR=\"#FFFFFF\" onLoad='foo()'>x</body></html>",
    b"<html><body>&amp; &lt;x&gt; &#65;&#x42;</body></html>",
    b"<html><SCRIPT language=\"JavaScript\">var X = \"Ab\";  document.write(X);</SCRIPT></html>",
    b"<html><a href=\"http://Example.COM/Path\">Link</a></html>",
    b"<html>\n\n<p>para one</p>\n<p>para   two</p>\n</html>",
    b"<html><img SRC=x.gif ALT=\"An Image\"></html>",
    b"<html><table><tr><td>A</td><td>B</td></tr></table></html>",
    b"<html><body>Tab\there</body></html>",
    # a tag starts at any `<`: clamscan squeezes `a < b` to `a <b` and `< p>` to `<p>`
    b"<html><body>a < b and c<d and 3<4 x</body></html>",
    b"<html><p>1 < 2</p><p>x</p></html>",
    b"<html>< p>space tag</p></html>",
]


@needs_clamscan
@pytest.mark.parametrize("index", range(len(_HTML_CASES)))
def test_html_view_matches_nocomment(tmp_path: Path, index: int) -> None:
    data = _HTML_CASES[index]
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "x.ndb").write_text("Dummy.X:0:*:deadbeefcafe0102\n")
    (tmp_path / "keep").mkdir()
    target = tmp_path / "page.html"
    target.write_bytes(data)
    subprocess.run(["clamscan", "--leave-temps", f"--tempdir={tmp_path / 'keep'}", "--no-summary",
                    "-d", str(tmp_path / "db"), str(target)], capture_output=True, timeout=60, check=False)
    views = list((tmp_path / "keep").rglob("nocomment.html"))
    assert views, "clamscan kept no nocomment.html"
    assert normalise_html(data) == views[0].read_bytes()



def test_javascript_view_keeps_strings_and_drops_other_whitespace() -> None:
    from vigil.engine.normalise import html_javascript

    page = b"<p>x</p><script>var X = 1;\n document.write( 'a  b' ) ;</script><SCRIPT>f  (g)</SCRIPT>"
    assert html_javascript(page) == b"<script>var X=1;document.write('a  b');</script><script>f(g)</script>"


def test_notags_view_matches_clamscan_on_a_page() -> None:
    from vigil.engine.normalise import html_notags, normalise_html

    page = b'<html><body><p>Hello   <b>World</b></p>\n<script>var X = 1;</script><a href="http://x">Link</a>'
    assert html_notags(normalise_html(page)) == b" hello world http://x link "


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200).map(lambda b: bytes(c if c % 3 else 0x20 for c in b)))
def test_space_squeezing_keeps_the_words_and_one_space_between_and_at_the_ends(data: bytes) -> None:
    """normalise_text squeezes with a regex over the translated bytes; checked against the definition
    written another way: the words joined by single spaces, plus one space at each end that had any."""
    spaced = data.translate(normalise._TEXT_MAP, normalise._DROPPED)
    words = spaced.split()
    head = b" " if spaced.startswith(b" ") else b""
    tail = b" " if spaced.endswith(b" ") and words else b""
    expected = head + b" ".join(words) + tail
    assert normalise.normalise_text(data) == expected
