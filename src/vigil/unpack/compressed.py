"""Single-stream compressors (gzip, bzip2, xz/lzma): one child each, inflated against the scan budget.

Compressor bombs reach 1032:1 (gzip), ~10^6:1 (bzip2) and ~7000:1 (xz), so the declared or apparent
size is never trusted: output is produced in bounded chunks and decoding stops with LimitExceeded as
soon as it would pass `ctx.remaining_bytes()`. Concatenated streams are decoded as one child, as
gunzip/bunzip2/xz do. A gzip holding a tar yields the tar bytes as one child; the engine types it and
recurses, matching ClamAV's gz -> tar -> members layering.
"""

from __future__ import annotations

import bz2
import lzma
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ByteView, Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack import inflate

#: Output chunk per decoder call: small enough that a bomb is caught early, large enough to be fast.
CHUNK = 1 << 20

_GZ_MAGIC = b"\x1f\x8b"
_BZ_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_FEXTRA, _FNAME = 0x04, 0x08


_SELF_BUFFERING = (bz2.BZ2Decompressor, lzma.LZMADecompressor)


class _Stream:
    """One decoder behind a uniform bounded-output interface (zlib hands back input, bz2/lzma keep it)."""

    def __init__(self, decoder: inflate.Decompress | bz2.BZ2Decompressor | lzma.LZMADecompressor) -> None:
        self._decoder = decoder
        self._pending = b""

    def step(self, data: bytes, room: int) -> bytes:
        decoder = self._decoder
        if isinstance(decoder, _SELF_BUFFERING):
            return decoder.decompress(data, max_length=room)
        chunk = decoder.decompress(self._pending + data, room)
        self._pending = decoder.unconsumed_tail
        return chunk

    @property
    def eof(self) -> bool:
        return self._decoder.eof

    @property
    def unused_data(self) -> bytes:
        return self._decoder.unused_data

    @property
    def starved(self) -> bool:
        """True when no more output can come without more input."""
        decoder = self._decoder
        if isinstance(decoder, _SELF_BUFFERING):
            return decoder.needs_input
        return not self._pending


DecoderFactory = Callable[[], "inflate.Decompress | bz2.BZ2Decompressor | lzma.LZMADecompressor"]


@dataclass(slots=True)
class Decoded:
    """Output of a bounded decode: the bytes, and whether every stream ended cleanly."""

    data: bytes
    complete: bool
    error: str = ""


def _decode_stream(stream: _Stream, data: bytes, ctx: ScanContext, out: list[bytes], produced: int) -> int:
    """Run one stream to its end or to the end of its input; returns the new output total."""
    budget = ctx.remaining_bytes()
    feed = data
    while True:
        ctx.check_time()
        chunk = stream.step(feed, min(CHUNK, budget - produced + 1))
        feed = b""
        produced += len(chunk)
        if produced > budget:
            ctx.charge_bytes(produced)  # raises MaxFileSize or MaxScanSize, whichever is the binding one
            raise LimitExceeded("MaxScanSize", f"{produced} bytes")
        out.append(chunk)
        if stream.eof or (not chunk and stream.starved):
            return produced


def decode_bounded(
    data: ByteView, factory: DecoderFactory, ctx: ScanContext, *, magic: bytes = b""
) -> Decoded:
    """Decode `data` without passing the budget; streams that follow and start with `magic` are appended.

    Does not charge the bytes it returns: the caller charges them with `ctx.charge_bytes` once the
    child is complete, so the charge and the child stay one-to-one. Trailing bytes that are not another
    stream are ignored, as gunzip does.
    """
    out: list[bytes] = []
    produced = 0
    rest = bytes(data)
    while True:
        stream = _Stream(factory())
        try:
            produced = _decode_stream(stream, rest, ctx, out, produced)
        except (inflate.error, OSError, lzma.LZMAError, EOFError) as exc:
            return Decoded(b"".join(out), False, str(exc))
        if not stream.eof:
            return Decoded(b"".join(out), False, "truncated stream")
        rest = stream.unused_data
        if not magic or not rest.startswith(magic):
            return Decoded(b"".join(out), True)


def _gzip_name(data: ByteView, fallback: str) -> str:
    """The FNAME header if present (a label only: never used as a path)."""
    head = bytes(data[:10])
    if len(head) < 10 or head[:2] != _GZ_MAGIC or not head[3] & _FNAME:
        return fallback
    pos = 10
    if head[3] & _FEXTRA:
        xlen = int.from_bytes(bytes(data[10:12]), "little")
        pos = 12 + xlen
    end = bytes(data[pos : pos + 4096]).find(b"\0")
    if end <= 0:
        return fallback
    return bytes(data[pos : pos + end]).decode("latin-1")


def _strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    base = re.split(r"[>/\\]", name)[-1]
    for suffix in suffixes:
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base


def _single_child(
    layer: Layer, ctx: ScanContext, factory: DecoderFactory, name: str, magic: bytes
) -> Iterator[Child]:
    """Charge, decode within budget, yield the one child; MalformedInput after a partial one."""
    ctx.charge_file()
    decoded = decode_bounded(layer.data, factory, ctx, magic=magic)
    if not decoded.data and not decoded.complete:
        raise MalformedInput(f"{layer.name}: {decoded.error}")
    ctx.charge_bytes(len(decoded.data))
    yield Child(name=name, data=decoded.data)
    if not decoded.complete:
        raise MalformedInput(f"{layer.name}: {decoded.error}")


class GzipUnpacker:
    name = "gzip"
    types = frozenset({FileType.GZ})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        name = _gzip_name(layer.data, _strip_suffix(layer.name, (".gz", ".tgz", ".z")))
        if layer.name.lower().endswith(".tgz") and name == _strip_suffix(layer.name, (".tgz",)):
            name += ".tar"
        return _single_child(layer, ctx, _gzip_decoder, name, _GZ_MAGIC)


def _gzip_decoder() -> inflate.Decompress:
    return inflate.decompressobj(16 + inflate.MAX_WBITS)


class Bzip2Unpacker:
    name = "bzip2"
    types = frozenset({FileType.BZ})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        name = _strip_suffix(layer.name, (".bz2", ".tbz2", ".tbz", ".bz"))
        return _single_child(layer, ctx, bz2.BZ2Decompressor, name, _BZ_MAGIC)


class XzUnpacker:
    name = "xz"
    types = frozenset({FileType.XZ})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        name = _strip_suffix(layer.name, (".xz", ".txz", ".lzma"))
        return _single_child(layer, ctx, lambda: lzma.LZMADecompressor(lzma.FORMAT_AUTO), name, _XZ_MAGIC)
