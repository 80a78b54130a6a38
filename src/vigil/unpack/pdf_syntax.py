"""A small PDF value parser: dictionaries, arrays, names, strings, numbers and `n g R` references.

Only what the PDF unpacker needs to find streams, their filters and JavaScript. Nesting is capped at
MAX_DEPTH (deeper is MalformedInput, not a RecursionError), and every loop advances through the input,
so the cost is linear in the bytes parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vigil.errors import MalformedInput

MAX_DEPTH = 64
_SPACE = re.compile(rb"(?:[\x00\t\n\x0c\r ]+|%[^\r\n]*)*")
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)")
_REF_TAIL = re.compile(rb"\s+(\d{1,10})\s+R(?![A-Za-z])")
_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
_KEYWORD = re.compile(rb"[A-Za-z]+")
_HEX_BODY = re.compile(rb"<([^>]*)>?")
_CONSTANTS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}


@dataclass(frozen=True, slots=True)
class Ref:
    num: int
    gen: int


@dataclass(frozen=True, slots=True)
class Keyword:
    word: str


PdfValue = dict[str, object] | list[object] | bytes | str | int | float | Ref | Keyword | None


def _name(raw: bytes) -> str:
    """A name with its `#xx` escapes resolved (attackers write /J#61vaScript)."""
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes.fromhex(m.group(1).decode()), raw).decode("latin-1")


class Parser:
    """Reads one value at a time from `data`; `pos` is where the next one starts."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def skip_space(self) -> None:
        found = _SPACE.match(self.data, self.pos)
        self.pos = found.end() if found else self.pos

    def value(self, depth: int = 0) -> PdfValue:
        if depth > MAX_DEPTH:
            raise MalformedInput(f"PDF: objects nested deeper than {MAX_DEPTH}")
        self.skip_space()
        data, pos = self.data, self.pos
        head = data[pos : pos + 2]
        if head == b"<<":
            return self._dict(depth)
        if head[:1] == b"[":
            return self._array(depth)
        if head[:1] == b"(":
            return self._literal()
        if head[:1] == b"<":
            return self._hex()
        if head[:1] == b"/":
            found = _NAME.match(data, pos)
            assert found is not None
            self.pos = found.end()
            return _name(found.group(1))
        return self._atom()

    def _dict(self, depth: int) -> dict[str, object]:
        self.pos += 2
        result: dict[str, object] = {}
        while True:
            self.skip_space()
            if self.data.startswith(b">>", self.pos) or self.pos >= len(self.data):
                self.pos += 2
                return result
            key = self.value(depth + 1)
            if not isinstance(key, str):
                continue  # junk where a key should be: skip it, as readers do
            result[key] = self.value(depth + 1)

    def _array(self, depth: int) -> list[object]:
        self.pos += 1
        items: list[object] = []
        while True:
            self.skip_space()
            if self.pos >= len(self.data) or self.data[self.pos] == ord("]"):
                self.pos += 1
                return items
            if self.data.startswith(b">>", self.pos):
                return items  # unbalanced: let the enclosing dictionary end
            items.append(self.value(depth + 1))

    def _literal(self) -> bytes:
        data, pos, nest = self.data, self.pos + 1, 1
        out = bytearray()
        while pos < len(data):
            char = data[pos]
            pos += 1
            if char == 0x5C and pos < len(data):  # backslash
                pos = self._escape(out, pos)
                continue
            nest += (char == 0x28) - (char == 0x29)
            if nest == 0:
                break
            out.append(char)
        self.pos = pos
        return bytes(out)

    def _escape(self, out: bytearray, pos: int) -> int:
        data = self.data
        char = data[pos]
        if char in _ESCAPES:
            out += _ESCAPES[char]
            return pos + 1
        if 0x30 <= char <= 0x37:
            digits = re.match(rb"[0-7]{1,3}", data[pos : pos + 3])
            assert digits is not None
            out.append(int(digits.group(), 8) & 0xFF)
            return pos + len(digits.group())
        if char in (0x0D, 0x0A):  # line continuation
            return pos + (2 if data[pos : pos + 2] == b"\r\n" else 1)
        out.append(char)
        return pos + 1

    def _hex(self) -> bytes:
        found = _HEX_BODY.match(self.data, self.pos)
        assert found is not None
        self.pos = found.end()
        digits = re.sub(rb"[^0-9A-Fa-f]", b"", found.group(1))
        return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii"))

    def _atom(self) -> int | float | Ref | Keyword | None:
        data, pos = self.data, self.pos
        number = _NUMBER.match(data, pos)
        if number is not None:
            self.pos = number.end()
            text = number.group()
            if b"." in text:
                return float(text)
            ref = _REF_TAIL.match(data, self.pos)
            if ref is not None and text.isdigit():
                self.pos = ref.end()
                return Ref(int(text), int(ref.group(1)))
            return int(text)
        word = _KEYWORD.match(data, pos)
        if word is None:
            self.pos = pos + 1  # a stray delimiter: step over it
            return None
        self.pos = word.end()
        word_text = word.group().decode("ascii")
        if word_text in _CONSTANTS:
            return _CONSTANTS[word_text]
        return Keyword(word_text)
