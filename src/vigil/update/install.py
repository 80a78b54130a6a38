"""Putting verified content into a staging directory: bundles, YARA packs, ClamAV containers.

Every source owns the files it installed (recorded in the state file), so one source can replace its
set without touching another's, and two sources can never claim the same file name.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from vigil.errors import DatabaseError, VigilError
from vigil.signatures.dsig import OFFICIAL_KEYS, SigningKeys
from vigil.update import activate, minisign
from vigil.update.activate import State
from vigil.update.bundle import Bundle, BundleLimits, read_bundle
from vigil.update.config import UpdateConfig
from vigil.update.minisign import PublicKey, SignatureInvalid

BUNDLE_COMMENT = "vigil-bundle"
RULES_COMMENT = "vigil-rules"


class UpdateRefused(VigilError):
    """A verified update that policy refuses (a downgrade, a name clash)."""


@dataclass(slots=True)
class UpdateContext:
    config: UpdateConfig
    staging: str
    state: State
    trust: list[PublicKey]
    allow_downgrade: bool = False
    clamav_keys: SigningKeys = OFFICIAL_KEYS
    messages: list[str] = field(default_factory=list)

    @property
    def limits(self) -> BundleLimits:
        return BundleLimits(max_bytes=self.config.policy.max_bytes * 8)


def bundle_comment(name: str, version: int, created: int) -> str:
    return f"{BUNDLE_COMMENT} name={name} version={version} created={created}"


def verify_bundle(data: bytes, signature_text: str, trust: list[PublicKey], limits: BundleLimits) -> Bundle:
    """Signature first (over the raw bytes, before any parsing), then the manifest and digests."""
    if not trust:
        raise SignatureInvalid("the trust store has no keys")
    signature = minisign.parse_signature(signature_text)
    minisign.verify(trust, data, signature)
    fields = signature.trusted_comment.split()
    if not fields or fields[0] != BUNDLE_COMMENT:
        raise SignatureInvalid("signature is not a Vigil bundle signature")
    bundle = read_bundle(data, limits=limits)
    expected = bundle_comment(bundle.manifest.name, bundle.manifest.version, bundle.manifest.created)
    if signature.trusted_comment != expected:
        raise SignatureInvalid("signed name/version do not match the bundle manifest")
    return bundle


def check_version(ctx: UpdateContext, name: str, version: int) -> bool:
    """True if `version` should be installed; refuse an older one unless downgrades are allowed."""
    have = ctx.state.versions.get(name)
    if have is None or version > have:
        return True
    if version == have:
        ctx.messages.append(f"{name}: version {version} is already active")
        return False
    if not ctx.allow_downgrade:
        raise UpdateRefused(
            f"{name}: version {version} is older than the active {have} (use --allow-downgrade)"
        )
    ctx.messages.append(f"{name}: downgrading from {have} to {version}")
    return True


def replace_files(ctx: UpdateContext, source: str, files: dict[str, bytes]) -> None:
    """Swap the staging directory's files owned by `source` for `files`."""
    for name in files:
        owner = ctx.state.owner(name)
        if owner not in (None, source):
            raise UpdateRefused(f"{source}: file {name} already belongs to source {owner}")
    for name in ctx.state.files.get(source, []):
        if name not in files:
            activate.remove_file(ctx.staging, name)
    for name, data in files.items():
        activate.write_file(ctx.staging, name, data)
    ctx.state.files[source] = sorted(files)


def install_bundle(ctx: UpdateContext, bundle: Bundle) -> bool:
    manifest = bundle.manifest
    if not check_version(ctx, manifest.name, manifest.version):
        return False
    replace_files(ctx, manifest.name, bundle.files)
    ctx.state.versions[manifest.name] = manifest.version
    ctx.messages.append(f"{manifest.name}: installing version {manifest.version} ({len(bundle.files)} files)")
    return True


def install_rules(ctx: UpdateContext, source: str, data: bytes, signature_text: str | None, pin: str) -> bool:
    """A YARA pack: pinned by SHA-256 and/or signed (`vigil-rules` comment); installed as SOURCE.yar."""
    if pin and hashlib.sha256(data).hexdigest() != pin:
        raise DatabaseError(f"{source}: rule pack SHA-256 does not match the configured pin")
    if signature_text is not None:
        signature = minisign.parse_signature(signature_text)
        minisign.verify(ctx.trust, data, signature)
        if not signature.trusted_comment.startswith(RULES_COMMENT):
            raise SignatureInvalid(f"{source}: signature is not a rule pack signature")
    name = f"{source}.yar"
    current = os.path.join(ctx.staging, name)
    if os.path.exists(current) and ctx.state.owner(name) == source:
        with open(current, "rb") as fh:
            if fh.read() == data:
                ctx.messages.append(f"{source}: rule pack unchanged")
                return False
    replace_files(ctx, source, {name: data})
    ctx.state.versions[source] = ctx.state.versions.get(source, 0) + 1
    ctx.messages.append(f"{source}: installing rule pack ({len(data)} bytes)")
    return True
