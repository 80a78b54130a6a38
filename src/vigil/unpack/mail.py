"""RFC 822 / MIME mail and mbox: every leaf part decoded and yielded, named by its filename or `part-N`.

A bounded walker of our own rather than the stdlib `email` parser: its recursion follows the attacker's
nesting, and its cost on header bombs is not ours to bound. Here multiparts are walked with an explicit
stack, header blocks and boundaries are found with linear regular expressions, and ClamAV's hard-coded
mail limits apply (values from libclamav's mbox.c; names as clamscan 1.4.6 prints them):

* `EmailLineFoldCnt`: 256 Ki consecutive folded lines in one header block;
* `EmailHeaderBytes`: 256 KiB of Content-* header text in one header block;
* `EmailHeaders`: more than 1024 Content-* headers in one header block;
* `EmailMIMEPartsPerMessage`: a structural bound on MIME entities per message. ClamAV's constant is
  1024, but clamscan 1.4.6 scans a 2,000-part message in full and stops a 10,050-part one with MaxFiles,
  so every leaf is charged to MaxFiles first and this bound (32 Ki) only backs up `--max-files=0`;
* `EmailMIMEArguments`: parameters beyond 256 in one header are ignored (clamscan 1.4.6 reports a
  300-parameter header clean, so this is noted as an issue, not a limit);
* multipart nesting counts against MaxRecursion together with the layer depth, as in clamscan
  ("parseEmailBody: hit maximum recursion level"); deeper subtrees are skipped and the limit noted.

message/rfc822 parts become children typed as mail, so forwarded mail nests through the engine's
depth budget. Text parts are also searched for uuencoded and BinHex blocks, as ClamAV does.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ByteView, Child, Layer, MemberInfo, ScanContext
from vigil.types import FileType
from vigil.unpack.encodings import (
    BINHEX_MARK,
    Decoded,
    binhex_children,
    clean_name,
    decode_base64,
    decode_qp,
    uu_blocks,
)
from vigil.unpack.mbox import is_mbox, split_mbox

MAX_LINE_FOLDS = 256 * 1024
MAX_HEADER_BYTES = 256 * 1024
MAX_HEADERS = 1024
MAX_ARGUMENTS = 256
MAX_ENTITIES = 1 << 15
MAX_NESTING = 64  # hard bound even with --max-recursion=0
MAX_BOUNDARY = 200

_HEADER_END = re.compile(rb"\n\r?\n")
_MIME_HEADER = re.compile(
    rb"^(content-(?:type|transfer-encoding|disposition))[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)",
    re.IGNORECASE | re.MULTILINE,
)
_FOLD_RUN = re.compile(rb"(?:\n[ \t][^\n]*)+")
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")
_PARAM = re.compile(r';\s*([^\s=;"]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")
_EXTENDED = re.compile(r"([^*]+)\*(\d{0,3})(\*?)")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_HEADERISH = re.compile(rb"[!-9;-~]+:")
_BINHEX_MARK = re.compile(re.escape(BINHEX_MARK))
_UU_BEGIN_LINE = re.compile(rb"^begin ", re.MULTILINE)
_UU_ENCODINGS = frozenset({"x-uuencode", "uuencode", "x-uue", "uue"})
_DECODERS: dict[str, Callable[[ByteView], Decoded]] = {"base64": decode_base64, "quoted-printable": decode_qp}


@dataclass(slots=True)
class Head:
    """What the walk needs from one entity's header block."""

    ctype: str = "text/plain"
    params: dict[str, str] = field(default_factory=dict)
    encoding: str = ""
    disposition: dict[str, str] = field(default_factory=dict)
    body_start: int = 0

    @property
    def filename(self) -> str | None:
        raw = self.disposition.get("filename") or self.params.get("name")
        name = clean_name(decode_words(raw)) if raw else ""
        return name or None


def decode_words(text: str) -> str:
    """RFC 2047 encoded words (`=?utf-8?B?...?=`) in a parameter, decoded leniently."""

    def word(match: re.Match[str]) -> str:
        payload = match.group(3).encode("latin-1", "replace")
        if match.group(2) in "Bb":
            raw = bytes(decode_base64(payload).data)
        else:
            raw = binascii.a2b_qp(payload, header=True)
        return _decode_charset(raw, match.group(1))

    return _ENCODED_WORD.sub(word, text)


def _decode_charset(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(codecs.lookup(charset.split("*")[0]).name, "replace")
    except LookupError:
        return raw.decode("latin-1")


def parse_params(value: str, ctx: ScanContext) -> dict[str, str]:
    """`; key=value` parameters with RFC 2231 continuations and charsets; at most MAX_ARGUMENTS."""
    plain: dict[str, str] = {}
    sections: dict[str, list[tuple[int, str, bool]]] = {}
    for count, match in enumerate(_PARAM.finditer(value)):
        if count >= MAX_ARGUMENTS:
            ctx.note_issue(f"mail: over {MAX_ARGUMENTS} header parameters, rest ignored (EmailMIMEArguments)")
            break
        key, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"'):
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:].removesuffix('"'))
        extended = _EXTENDED.fullmatch(key)
        if extended is None:
            plain.setdefault(key, raw)
            continue
        name, number, star = extended.groups()
        sections.setdefault(name, []).append((int(number or 0), raw, bool(star) or not number))
    for name, pieces in sections.items():
        plain[name] = _join_sections(sorted(pieces))
    return plain


def _join_sections(pieces: list[tuple[int, str, bool]]) -> str:
    charset = "us-ascii"
    out: list[str] = []
    for index, (_, raw, extended) in enumerate(pieces):
        if not extended:
            out.append(raw)
            continue
        if index == 0 and raw.count("'") >= 2:
            charset, _, raw = raw.split("'", 2)
        out.append(_decode_charset(unquote_to_bytes(raw), charset or "us-ascii"))
    return "".join(out)


def _check_folds(block: bytes) -> None:
    for run in _FOLD_RUN.finditer(block):
        if run.group().count(b"\n") >= MAX_LINE_FOLDS:
            raise LimitExceeded("EmailLineFoldCnt", f"{MAX_LINE_FOLDS} folded lines")


def parse_head(data: bytes, start: int, end: int, ctx: ScanContext) -> Head:
    """The MIME headers of the entity at data[start:end]; raises the Email* limits."""
    if data.startswith(b"\n", start) or data.startswith(b"\r\n", start):
        return Head(body_start=data.index(b"\n", start) + 1)
    found = _HEADER_END.search(data, start, end)
    block_end, body_start = (found.start() + 1, found.end()) if found else (end, end)
    block = data[start:block_end]
    _check_folds(block)
    head = Head(body_start=body_start)
    seen: set[str] = set()
    size = 0
    for count, match in enumerate(_MIME_HEADER.finditer(block), 1):
        size += len(match.group())
        if count > MAX_HEADERS:
            raise LimitExceeded("EmailHeaders", f"more than {MAX_HEADERS} MIME headers")
        if size > MAX_HEADER_BYTES:
            raise LimitExceeded("EmailHeaderBytes", f"more than {MAX_HEADER_BYTES} bytes of MIME headers")
        name = match.group(1).decode("ascii").lower()
        if name not in seen:  # the first of duplicated headers wins
            seen.add(name)
            _apply(head, name, _UNFOLD.sub("", match.group(2).decode("latin-1")).strip(), ctx)
    return head


def _apply(head: Head, name: str, value: str, ctx: ScanContext) -> None:
    first, _, rest = value.partition(";")
    if name == "content-type":
        head.ctype = first.strip().lower() or "text/plain"
        head.params = parse_params(";" + rest, ctx)
    elif name == "content-transfer-encoding":
        head.encoding = first.strip().strip('"').lower()
    else:
        head.disposition = parse_params(";" + rest, ctx)


def _delimiter(boundary: str) -> re.Pattern[bytes]:
    return re.compile(rb"^--" + re.escape(boundary.encode("latin-1")) + rb"(--)?[ \t]*\r?$", re.MULTILINE)


def _line_before(data: bytes, pos: int, floor: int) -> int:
    """Where a part ends: before the line break that precedes its delimiter line."""
    if pos > floor and data[pos - 1] == 0x0A:
        pos -= 1
        if pos > floor and data[pos - 1] == 0x0D:
            pos -= 1
    return pos


@dataclass(slots=True)
class _Message:
    """Walk state for one message: its counters, its problems and the children's name prefix."""

    data: bytes
    ctx: ScanContext
    nest_limit: int
    prefix: str = ""
    leaves: int = 0
    entities: int = 1
    over_entities: bool = False
    problems: list[str] = field(default_factory=list)

    def walk(self, start: int, end: int) -> Iterator[Child]:
        stack = [(start, end, 0)]
        while stack:
            begin, stop, nest = stack.pop()
            self.ctx.check_time()
            head = parse_head(self.data, begin, stop, self.ctx)
            boundary = head.params.get("boundary", "") if head.ctype.startswith("multipart") else ""
            if boundary and len(boundary) <= MAX_BOUNDARY:
                if nest >= self.nest_limit:
                    self.ctx.note_limit("MaxRecursion")
                    continue
                parts = self._split(boundary, head.body_start, stop)
                stack.extend((s, e, nest + 1) for s, e in reversed(parts))
                continue
            if head.ctype.startswith("multipart"):
                self.problems.append(f"multipart without a usable boundary at {begin}")
            yield from self._leaf(head, stop)
        if self.over_entities:
            raise LimitExceeded("EmailMIMEPartsPerMessage", f"more than {MAX_ENTITIES} MIME entities")

    def _split(self, boundary: str, body: int, stop: int) -> list[tuple[int, int]]:
        """Spans of the parts between delimiter lines; the preamble and epilogue are dropped."""
        parts: list[tuple[int, int]] = []
        opened: int | None = None
        closed = False
        for match in _delimiter(boundary).finditer(self.data, body, stop):
            if opened is not None:
                parts.append((opened, max(opened, _line_before(self.data, match.start(), opened))))
            if match.group(1):
                closed = True
                break
            if self.entities + len(parts) >= MAX_ENTITIES:
                self.over_entities = True
                return parts
            opened = min(match.end() + 1, stop)
        if not closed:
            self.problems.append(f"multipart {boundary!r} is not closed")
            if opened is not None:
                parts.append((opened, stop))
        self.entities += len(parts)
        return parts

    def _leaf(self, head: Head, stop: int) -> Iterator[Child]:
        body = memoryview(self.data)[head.body_start : stop]  # a view: decoders read it in place
        name = head.filename
        if head.encoding in _UU_ENCODINGS and _UU_BEGIN_LINE.search(body):
            yield from self._embedded(body)
            return
        decoder = _DECODERS.get(head.encoding)
        decoded = decoder(body) if decoder else Decoded(body)
        self.problems.extend(f"{name or 'part'}: {problem}" for problem in decoded.problems)
        hint = FileType.MAIL if head.ctype == "message/rfc822" and _HEADERISH.match(decoded.data) else None
        # `.cdb` as clamscan checks an attachment: by its file name, decoded size twice, position 0
        info = MemberInfo(len(decoded.data), len(decoded.data), False, 0) if name else None
        child = self._child(name, decoded.data, hint, info)
        if child is not None:
            yield child
        if head.encoding != "base64" and hint is None:
            yield from self._embedded(decoded.data)

    def _embedded(self, text: ByteView) -> Iterator[Child]:
        """uuencoded and BinHex files inside a text body."""
        for block in uu_blocks(text, self.ctx):
            child = self._child(block.name or None, block.data, None)
            if child is not None:
                yield child
            if not block.complete:
                self.problems.append(f"uuencoded {block.name!r} has no end line")
        if _BINHEX_MARK.search(text):
            self.leaves += 1
            try:
                for child in binhex_children(text, self.ctx, f"part-{self.leaves}"):
                    yield Child(self.prefix + child.name, child.data)
            except MalformedInput as exc:
                self.problems.append(str(exc))

    def _child(
        self, name: str | None, data: ByteView, hint: FileType | None, info: MemberInfo | None = None
    ) -> Child | None:
        """Charge and build one child; a part over MaxFileSize is skipped (noted), the rest goes on."""
        self.leaves += 1
        self.ctx.charge_file()
        try:
            self.ctx.charge_bytes(len(data))
        except LimitExceeded as exc:
            if exc.limit != "MaxFileSize":
                raise
            self.ctx.note_limit(exc.limit)
            return None
        return Child(self.prefix + (name or f"part-{self.leaves}"), data, hint, info)


def _nest_limit(layer: Layer, ctx: ScanContext) -> int:
    if ctx.limits.max_recursion <= 0:
        return MAX_NESTING
    return max(0, min(MAX_NESTING, ctx.limits.max_recursion - layer.depth))


def _root_start(data: bytes, start: int, end: int) -> int:
    """Blank lines before the first header are junk, not an empty header block."""
    while start < end and data[start] in (0x0A, 0x0D):
        start += 1
    return start


class MailUnpacker:
    name = "mail"
    types = frozenset({FileType.MAIL})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        data = bytes(layer.data)
        spans = list(split_mbox(data)) if is_mbox(data) else [(0, len(data))]
        problems: list[str] = []
        for index, (start, end) in enumerate(spans, 1):
            prefix = f"message-{index}/" if len(spans) > 1 else ""
            message = _Message(data, ctx, _nest_limit(layer, ctx), prefix)
            yield from message.walk(_root_start(data, start, end), end)
            problems += message.problems
        if problems:
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            raise MalformedInput("; ".join(problems[:3]) + more)
