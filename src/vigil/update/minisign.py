"""Ed25519 signatures in minisign's file format, so `minisign -V` can check what Vigil signs.

Facts of the format (minisign 0.11): a public key is `untrusted comment:` plus base64 of
`"Ed" || key id (8) || public key (32)`; a signature file is four lines: `untrusted comment:`, base64 of
`algorithm (2) || key id (8) || signature (64)`, `trusted comment:`, base64 of a global signature over
`signature || trusted comment`. Algorithm `Ed` signs the message itself; `ED` signs its BLAKE2b-512
digest (minisign's default, which lets huge files be signed in one pass). Vigil verifies both and signs
with `ED`. A secret key is stored unencrypted (KDF algorithm zero) so unattended signing works; keep it
off update hosts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vigil.errors import VigilError

_KEY_ALG = b"Ed"
_PURE = b"Ed"
_PREHASHED = b"ED"
_KDF_NONE = b"\0\0"
_CHECKSUM_ALG = b"B2"
_UNTRUSTED = "untrusted comment: "
_TRUSTED = "trusted comment: "
_KEYID_LEN = 8
_SIG_LEN = 64
_PK_LEN = 32
_SK_LEN = 64
_SALT_LEN = 32
_LIMITS_LEN = 16
_CHECKSUM_LEN = 32
_MAX_COMMENT = 1024


class SignatureInvalid(VigilError):
    """A signature or key that does not parse or does not verify; the message says which."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    key_id: bytes
    raw: bytes
    comment: str = "minisign public key"

    @property
    def id_hex(self) -> str:
        """The key id as minisign prints it (the 8 bytes read as a little-endian number)."""
        return self.key_id[::-1].hex().upper()

    def to_text(self) -> str:
        blob = base64.b64encode(_KEY_ALG + self.key_id + self.raw).decode()
        return f"{_UNTRUSTED}{self.comment}\n{blob}\n"


@dataclass(frozen=True, slots=True)
class SecretKey:
    key_id: bytes
    seed: bytes

    def public(self, comment: str = "") -> PublicKey:
        raw = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()
        return PublicKey(
            self.key_id, raw, comment or f"minisign public key {self.key_id[::-1].hex().upper()}"
        )

    def to_text(self) -> str:
        pk = self.public().raw
        checksum = hashlib.blake2b(
            _KEY_ALG + self.key_id + self.seed + pk, digest_size=_CHECKSUM_LEN
        ).digest()
        body = (
            _KEY_ALG
            + _KDF_NONE
            + _CHECKSUM_ALG
            + bytes(_SALT_LEN + _LIMITS_LEN)
            + self.key_id
            + self.seed
            + pk
            + checksum
        )
        return f"{_UNTRUSTED}minisign secret key (unencrypted)\n{base64.b64encode(body).decode()}\n"


@dataclass(frozen=True, slots=True)
class Signature:
    algorithm: bytes
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes
    untrusted_comment: str = "signature from vigil secret key"

    def to_text(self) -> str:
        blob = base64.b64encode(self.algorithm + self.key_id + self.signature).decode()
        glob = base64.b64encode(self.global_signature).decode()
        return f"{_UNTRUSTED}{self.untrusted_comment}\n{blob}\n{_TRUSTED}{self.trusted_comment}\n{glob}\n"


def generate_key() -> SecretKey:
    return SecretKey(key_id=os.urandom(_KEYID_LEN), seed=os.urandom(32))


def _b64(line: str, what: str) -> bytes:
    try:
        return base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(f"{what}: not base64") from exc


def _comment_lines(text: str, what: str) -> list[str]:
    lines = [line.rstrip("\r") for line in text.splitlines()]
    if not lines or not lines[0].startswith(_UNTRUSTED):
        raise SignatureInvalid(f"{what}: missing '{_UNTRUSTED.strip()}' line")
    return lines


def parse_public_key(text: str) -> PublicKey:
    """Parse a `.pub` file, or the bare base64 line minisign's `-P` takes."""
    lines = [line for line in text.splitlines() if line.strip()]
    comment = "minisign public key"
    if lines and lines[0].startswith(_UNTRUSTED):
        comment = lines[0][len(_UNTRUSTED) :]
        lines = lines[1:]
    if not lines:
        raise SignatureInvalid("public key: empty")
    blob = _b64(lines[0], "public key")
    if len(blob) != 2 + _KEYID_LEN + _PK_LEN or blob[:2] != _KEY_ALG:
        raise SignatureInvalid("public key: not an Ed25519 minisign key")
    return PublicKey(blob[2 : 2 + _KEYID_LEN], blob[2 + _KEYID_LEN :], comment)


def parse_secret_key(text: str) -> SecretKey:
    lines = _comment_lines(text, "secret key")
    if len(lines) < 2:
        raise SignatureInvalid("secret key: truncated")
    blob = _b64(lines[1], "secret key")
    head = 2 + 2 + 2 + _SALT_LEN + _LIMITS_LEN
    if len(blob) != head + _KEYID_LEN + _SK_LEN + _CHECKSUM_LEN or blob[:2] != _KEY_ALG:
        raise SignatureInvalid("secret key: not an Ed25519 minisign key")
    if blob[2:4] != _KDF_NONE:
        raise SignatureInvalid(
            "secret key: encrypted keys are not supported (create it with `vigil db keygen`)"
        )
    key_id = blob[head : head + _KEYID_LEN]
    sk = blob[head + _KEYID_LEN : head + _KEYID_LEN + _SK_LEN]
    key = SecretKey(key_id, sk[:32])
    if key.public().raw != sk[32:]:
        raise SignatureInvalid("secret key: corrupt (public half does not match)")
    return key


def parse_signature(text: str) -> Signature:
    lines = _comment_lines(text, "signature")
    if len(lines) < 4 or not lines[2].startswith(_TRUSTED):
        raise SignatureInvalid("signature: expected 4 lines with a trusted comment")
    blob = _b64(lines[1], "signature")
    if len(blob) != 2 + _KEYID_LEN + _SIG_LEN or blob[:2] not in (_PURE, _PREHASHED):
        raise SignatureInvalid("signature: unknown algorithm or wrong length")
    glob = _b64(lines[3], "global signature")
    if len(glob) != _SIG_LEN:
        raise SignatureInvalid("global signature: wrong length")
    return Signature(
        algorithm=blob[:2],
        key_id=blob[2 : 2 + _KEYID_LEN],
        signature=blob[2 + _KEYID_LEN :],
        trusted_comment=lines[2][len(_TRUSTED) :],
        global_signature=glob,
        untrusted_comment=lines[0][len(_UNTRUSTED) :],
    )


def _signed_bytes(algorithm: bytes, message: bytes) -> bytes:
    return hashlib.blake2b(message).digest() if algorithm == _PREHASHED else message


def sign(key: SecretKey, message: bytes, trusted_comment: str, *, prehash: bool = True) -> Signature:
    """Sign `message`; the trusted comment is covered by the global signature, so it can carry metadata."""
    if "\n" in trusted_comment or len(trusted_comment) > _MAX_COMMENT:
        raise SignatureInvalid("trusted comment must be one line under 1 KiB")
    private = Ed25519PrivateKey.from_private_bytes(key.seed)
    algorithm = _PREHASHED if prehash else _PURE
    sig = private.sign(_signed_bytes(algorithm, message))
    glob = private.sign(sig + trusted_comment.encode())
    return Signature(algorithm, key.key_id, sig, trusted_comment, glob)


def verify(keys: list[PublicKey], message: bytes, signature: Signature) -> PublicKey:
    """Return the key that made `signature` over `message` (and its trusted comment) or raise."""
    key = next((k for k in keys if k.key_id == signature.key_id), None)
    if key is None:
        raise SignatureInvalid(f"signed by unknown key {signature.key_id[::-1].hex().upper()}")
    public = Ed25519PublicKey.from_public_bytes(key.raw)
    try:
        public.verify(signature.signature, _signed_bytes(signature.algorithm, message))
    except InvalidSignature as exc:
        raise SignatureInvalid("signature does not match the data") from exc
    try:
        public.verify(signature.global_signature, signature.signature + signature.trusted_comment.encode())
    except InvalidSignature as exc:
        raise SignatureInvalid("trusted comment was altered") from exc
    return key
