"""RTF: embedded objects (`{\\object ... {\\*\\objdata <hex>}}`) decoded to their OLE1 payloads.

The `\\objdata` destination holds an OLE1 object as hex digits (with `\\binN` runs of raw bytes allowed
in between). Its native data is the child: the wrapped file for Packager objects (`object 1/clam.exe`),
otherwise the native bytes as they are (usually an OLE2 file, typed and unpacked in turn). Exploit
documents often skip the OLE1 header and put a bare OLE2 file in `\\objdata`; that is yielded as is.
Tokenising is one regex pass, so a large or deeply nested document costs linear time, and nesting
depth is only counted, never recursed on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack import ole1
from vigil.unpack.cfb import MAGIC as OLE2_MAGIC

_TOKEN = re.compile(
    rb"(?P<bin>\\bin(?P<n>-?\d{1,10}) ?)|(?P<open>\{)|(?P<close>\})|(?P<hex>[0-9A-Fa-f]+)"
    rb"|\\'[0-9A-Fa-f]{0,2}|\\[a-zA-Z]{1,32}(?:-?\d{1,10})? ?|\\.?|[^\\{}0-9A-Fa-f]+",
    re.S,
)
_OBJDATA = re.compile(rb"\\objdata")


def _objdata(data: bytes, pos: int, budget: int) -> tuple[bytes, bool]:
    """Bytes of the `\\objdata` destination from `pos`, and whether its group closed.

    Hex digits are decoded; `\\binN` copies N raw bytes; other control words are skipped. Stops once
    the output passes `budget` so the caller's charge reports the limit.
    """
    depth = 0
    digits = bytearray()
    out = bytearray()
    while (token := _TOKEN.match(data, pos)) is not None and token.end() > pos:
        pos = token.end()
        kind = token.lastgroup
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if depth < 0:
                return _flush(digits, out), True
        elif kind == "hex":
            digits += token.group()
        elif kind == "bin":
            _flush(digits, out)
            size = max(0, int(token.group("n")))
            out += data[pos : pos + size]
            pos += size
        if len(digits) // 2 + len(out) > budget:
            break
    return _flush(digits, out), False


def _flush(digits: bytearray, out: bytearray) -> bytes:
    even = len(digits) - len(digits) % 2
    out += bytes.fromhex(digits[:even].decode("ascii"))
    del digits[:even]
    return bytes(out)


def _payload(raw: bytes, label: str) -> tuple[str, bytes]:
    """The file an OLE1 object carries: Packager contents, other native data, or a bare OLE2 file."""
    if raw[:8] == OLE2_MAGIC:
        return label, raw
    native = ole1.parse_object(raw)
    if native.class_name.lower().startswith("package"):
        package = ole1.parse_package(native.data)
        return f"{label}/{package.name}", package.data
    return f"{label}/{native.class_name or 'native'}", native.data


class RtfUnpacker:
    name = "rtf"
    types = frozenset({FileType.RTF})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        data = bytes(layer.data)
        damaged: list[str] = []
        for index, found in enumerate(_OBJDATA.finditer(data), 1):
            ctx.check_time()
            label = f"object {index}"
            raw, closed = _objdata(data, found.end(), ctx.remaining_bytes())
            if not closed:
                damaged.append(f"{label} unterminated")
            try:
                name, payload = _payload(raw, label)
            except MalformedInput as exc:
                damaged.append(f"{label}: {exc}")
                name, payload = label, raw
            if not payload:
                continue
            ctx.charge_file()
            ctx.charge_bytes(len(payload))
            yield Child(name, payload)
        if damaged:
            raise MalformedInput(f"{layer.name}: {'; '.join(damaged)[:500]}")
