"""A safe, explicit serialisation of signature records for the compiled-database cache.

Records are frozen dataclasses of ints, strings, bytes, enums and tuples. They are written as JSON with
type tags and read back only into classes on an allow-list, so a tampered cache file can fail to load
but can never run code (which is why this is not pickle).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from vigil.errors import DatabaseError

_Encoded = Any


@cache
def _registry() -> dict[str, type]:
    """Every class a cache file may name; imported lazily to keep this module dependency-free."""
    from vigil.signatures import hexpattern, logic, offsets, records
    from vigil.signatures.formats import cdb, ftm, ldb, ndb
    from vigil.signatures.match import content
    from vigil.types import FileType, HashAlgo, Origin

    classes: list[type] = [
        FileType, HashAlgo, Origin, records.SigMeta, records.AllowHash, records.HashScope,
        hexpattern.HexPattern, hexpattern.Modifiers, offsets.Offset, ndb.BodySig, content.ContentEntry,
        ldb.TargetDescription, ldb.ContentSub, ldb.PcreSub, ldb.ByteCompareSub, ldb.MacroSub, ldb.LogicalSig,
        logic.Count, logic.Ref, logic.Binary, logic.Block, ftm.MagicRule, cdb.ContainerSig,
    ]  # fmt: skip
    return {cls.__name__: cls for cls in classes}


def encode(value: object) -> _Encoded:
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        encoder = _ENCODERS[type(value)] = _encoder_for(type(value))
    return encoder(value)


def _encoder_for(cls: type) -> Callable[[Any], _Encoded]:
    """An encoder per class, made once: saving 100k records spent most of its time in
    `dataclasses.fields` and `is_dataclass` when they ran for every value."""
    name = cls.__name__
    if issubclass(cls, enum.Enum):
        return lambda value: {"e": name, "v": value.value}
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_"))
        same_as = _SAME_AS.get(name)
        if same_as is None:
            return lambda value: {"d": name, "f": {field: encode(getattr(value, field)) for field in names}}
        return lambda value: {"d": name, "f": _fields_with_refs(value, names, same_as)}
    raise DatabaseError(f"cannot cache a value of type {name}")


#: Fields written as a reference to another field of the same record when the two are equal: a static
#: hex pattern's hyperscan prefilter is its regex, and storing it once saves a third of a large
#: database's record bytes (and the time to encode them when an update is activated).
_SAME_AS: dict[str, tuple[tuple[str, str], ...]] = {"HexPattern": (("prefilter", "regex"),)}
_REF = "="


def _fields_with_refs(
    value: Any, names: tuple[str, ...], same_as: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    refs = {field: other for field, other in same_as if getattr(value, field) == getattr(value, other)}
    return {field: {_REF: refs[field]} if field in refs else encode(getattr(value, field)) for field in names}


_ENCODERS: dict[type, Callable[[Any], _Encoded]] = {
    type(None): lambda v: v,
    bool: lambda v: v,
    int: lambda v: v,
    float: lambda v: v,
    str: lambda v: v,
    bytes: lambda v: {"b": base64.b64encode(v).decode("ascii")},
    tuple: lambda v: {"t": [encode(x) for x in v]},
    list: lambda v: [encode(x) for x in v],
    frozenset: lambda v: {"s": [encode(x) for x in sorted(v)]},
}


def decode(data: _Encoded) -> Any:
    if isinstance(data, list):
        return [decode(x) for x in data]
    if not isinstance(data, dict):
        return data
    tag = next(iter(data))
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise DatabaseError(f"unknown tag {tag!r} in cached database")
    return decoder(data)


def _decode_class(data: dict[str, Any], key: str) -> type:
    cls = _registry().get(data[key])
    if cls is None:
        raise DatabaseError(f"cached database names an unknown class {data[key]!r}")
    return cls


def _decode_dataclass(data: dict[str, Any]) -> Any:
    cls = _decode_class(data, "d")
    fields = data["f"]
    values = {name: decode(value) for name, value in fields.items() if not _is_ref(value)}
    for name, value in fields.items():
        if _is_ref(value):
            values[name] = values[value[_REF]]  # a KeyError (dangling reference) is a corrupt record
    return cls(**values)


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and _REF in value


def _decode_enum(data: dict[str, Any]) -> Any:
    return _decode_class(data, "e")(data["v"])


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "b": lambda d: base64.b64decode(d["b"]),
    "t": lambda d: tuple(decode(x) for x in d["t"]),
    "s": lambda d: frozenset(decode(x) for x in d["s"]),
    "e": _decode_enum,
    "d": _decode_dataclass,
}


_JSON = json.JSONEncoder(separators=(",", ":"))


def dumps_lines(values: Sequence[object]) -> tuple[bytes, list[int]]:
    """One JSON document per value, concatenated, with start offsets: values decode one at a time."""
    offsets: list[int] = []
    chunks: list[bytes] = []
    position = 0
    for value in values:
        offsets.append(position)
        chunk = _JSON.encode(encode(value)).encode("utf-8")
        chunks.append(chunk)
        position += len(chunk)
    offsets.append(position)
    return b"".join(chunks), offsets


def loads_one(blob: bytes | memoryview, start: int, end: int) -> Any:
    try:
        return decode(json.loads(bytes(blob[start:end])))
    except (ValueError, TypeError, KeyError) as exc:
        raise DatabaseError(f"corrupt cached record: {exc}") from exc
