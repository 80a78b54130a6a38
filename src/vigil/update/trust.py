"""The trust store: the minisign public keys whose bundles Vigil accepts, and key rotation.

The store is a text file of minisign public keys (each an `untrusted comment:` line and a base64 line),
so an operator can read it and `minisign -p` can use any entry. A new key joins only by a rotation
statement signed by a key already trusted: the new `.pub` file signed with a trusted comment of
`vigil-key-rotation new=<ID> retire=<yes|no>`. Trusted comments are domain-separated (`vigil-bundle` vs
`vigil-key-rotation`), so a bundle signature can never be replayed as a key endorsement or back.
"""

from __future__ import annotations

import os
import tempfile

from vigil.errors import DatabaseError
from vigil.update import minisign
from vigil.update.minisign import PublicKey, SecretKey, SignatureInvalid

ROTATION_PREFIX = "vigil-key-rotation"


def load_store(path: str) -> list[PublicKey]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read trust store: {exc.strerror or exc}") from exc
    return parse_store(text, path)


def parse_store(text: str, source: str = "trust store") -> list[PublicKey]:
    keys: list[PublicKey] = []
    comment = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("untrusted comment:"):
            comment = stripped + "\n"
            continue
        try:
            keys.append(minisign.parse_public_key(comment + stripped))
        except SignatureInvalid as exc:
            raise DatabaseError(f"{source}: {exc}") from exc
        comment = ""
    return keys


def save_store(path: str, keys: list[PublicKey]) -> None:
    """Write atomically: a crash mid-write must not leave a store that trusts nothing (or something else)."""
    text = "".join(key.to_text() for key in keys)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".trust.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def add_key(path: str, key: PublicKey) -> None:
    """Trust `key` outright (first install, or an operator's own decision)."""
    keys = load_store(path) if os.path.exists(path) else []
    if all(k.key_id != key.key_id for k in keys):
        keys.append(key)
    save_store(path, keys)


def sign_rotation(old: SecretKey, new: PublicKey, *, retire_old: bool) -> str:
    comment = f"{ROTATION_PREFIX} new={new.id_hex} retire={'yes' if retire_old else 'no'}"
    return minisign.sign(old, new.to_text().encode(), comment).to_text()


def apply_rotation(path: str, new_key_text: str, signature_text: str) -> PublicKey:
    """Add the key in `new_key_text` if a trusted key signed it as a rotation; maybe retire the signer."""
    keys = load_store(path)
    new = minisign.parse_public_key(new_key_text)
    signature = minisign.parse_signature(signature_text)
    signer = minisign.verify(keys, new_key_text.encode(), signature)
    fields = signature.trusted_comment.split()
    if not fields or fields[0] != ROTATION_PREFIX or f"new={new.id_hex}" not in fields:
        raise SignatureInvalid("signature is not a key rotation statement for this key")
    if all(k.key_id != new.key_id for k in keys):
        keys.append(new)
    if "retire=yes" in fields:
        keys = [k for k in keys if k.key_id != signer.key_id]
    save_store(path, keys)
    return new
