"""ClamAV's digital-signature math for database containers.

ClamAV writes RSA signatures as a little-endian base-64 *number* (not RFC 4648 base64), so both checks share
one decoder. The header DSIG is textbook RSA over the payload MD5 (no padding); the `.info` DSIG is
RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt, 256-byte block) over the SHA-256 of the `.info` lines
before it.

Keys are parameters, defaulting to the public keys built into libclamav, so tests can sign with a local key
and exercise the same code path an official database takes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
_DIGIT = {ch: value for value, ch in enumerate(_ALPHABET)}
_MD5_LEN = 16
_SHA256_LEN = 32
_PSS_SALT_LEN = 32
_PSS_BLOCK = 2048 // 8
_PSS_DB_LEN = _PSS_BLOCK - _SHA256_LEN - 1
_PSS_TRAILER = 0xBC


@dataclass(frozen=True, slots=True)
class RsaKey:
    """An RSA public key as libclamav stores it: two decimal constants."""

    n: int
    e: int


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The pair of keys a container check needs: one for the header DSIG, one for the `.info` DSIG."""

    header: RsaKey
    info: RsaKey


# Public facts from libclamav: dsig.c (CLI_NSTR/CLI_ESTR, 1024 bits) and readdb.c (INFO_NSTR/INFO_ESTR).
OFFICIAL_HEADER_KEY = RsaKey(
    n=int(
        "1186409955516453426030700016584531897515277744120277437465994057432431426074641447673610606406558447"
        "4976078889002228342492276248891756555100246777110966959818941043469903453223222862159108950817859142"
        "8456220796841621637175567590476666928698770143328137383952820383197532047771780196576957695822641224"
        "262693037"
    ),
    e=100001027,
)
OFFICIAL_INFO_KEY = RsaKey(
    n=int(
        "1108889498304854547365955610662719492392894179179504762059165869741358104332271591217249680652538105"
        "5880964520618400224333320534660299233983755341740679502866829909679955734391392668378361221524205396"
        "6310901051516412708572770803107343209516537005089417174191687239425078907029047027075874516216910507"
        "5430785038339986534648720379846417853739221140278648135982446119723110289541509377039421666632448459"
        "3935762408468516826633192140826667923494822045805347809932848454845886971706424360558667862775876072"
        "0594377033653802091016977385775154769350854694552799941131459779940846183284821510131423933733163375"
        "19977244732747977"
    ),
    e=100002049,
)
OFFICIAL_KEYS = SigningKeys(header=OFFICIAL_HEADER_KEY, info=OFFICIAL_INFO_KEY)


def decode_number(text: str) -> int:
    """Read ClamAV's base-64 number: the first character carries the least significant six bits."""
    value = 0
    for position, ch in enumerate(text):
        digit = _DIGIT.get(ch)
        if digit is None:
            raise ValueError(f"invalid DSIG character {ch!r}")
        value |= digit << (6 * position)
    return value


def encode_number(value: int) -> str:
    """Inverse of `decode_number`; sigtool-side, used to build signed test containers."""
    if value < 0:
        raise ValueError("cannot encode a negative number")
    digits = []
    while value:
        digits.append(_ALPHABET[value & 63])
        value >>= 6
    return "".join(digits) or _ALPHABET[0]


def rsa_recover(dsig: str, key: RsaKey, length: int) -> bytes:
    """Apply the public exponent and keep the low `length` bytes, big-endian, as libclamav does."""
    plain = pow(decode_number(dsig), key.e, key.n)
    return (plain % (1 << (8 * length))).to_bytes(length, "big")


def verify_header_dsig(md5_hex: str, dsig: str, key: RsaKey = OFFICIAL_HEADER_KEY) -> bool:
    """True when the header DSIG decodes to the payload MD5 (given as 32 hex digits)."""
    if len(md5_hex) != 2 * _MD5_LEN or not md5_hex[:1].isalnum():
        return False
    try:
        recovered = rsa_recover(dsig, key, _MD5_LEN)
    except ValueError:
        return False
    return hmac.compare_digest(recovered.hex(), md5_hex.lower())


def _mgf1_sha256(seed: bytes, length: int) -> bytes:
    """PKCS #1 MGF1 with SHA-256: the mask generator PSS uses."""
    out = b"".join(
        hashlib.sha256(seed + counter.to_bytes(4, "big")).digest() for counter in range((length + 31) // 32)
    )
    return out[:length]


def verify_info_dsig(sha256: bytes, dsig: str, key: RsaKey = OFFICIAL_INFO_KEY) -> bool:
    """True when the `.info` DSIG is a PSS signature of `sha256` under libclamav's exact rules.

    Written out rather than delegated to a crypto library because libclamav's check differs from RFC 8017
    at the edges (a 2047-bit key with a fixed 256-byte block, only the top bit masked, the salt found by the
    first 0x01) and a signature ClamAV accepts must be accepted here too.
    """
    try:
        block = rsa_recover(dsig, key, _PSS_BLOCK)
    except ValueError:
        return False
    if block[-1] != _PSS_TRAILER:
        return False
    masked, digest = block[:_PSS_DB_LEN], block[_PSS_DB_LEN : _PSS_DB_LEN + _SHA256_LEN]
    data = bytearray(a ^ b for a, b in zip(masked, _mgf1_sha256(digest, _PSS_DB_LEN), strict=True))
    data[0] &= 0x7F
    marker = data.find(b"\x01")
    if marker < 0 or len(data) - (marker + 1) != _PSS_SALT_LEN:
        return False
    salt = bytes(data[marker + 1 :])
    expected = hashlib.sha256(bytes(8) + sha256 + salt).digest()
    return hmac.compare_digest(expected, digest)
