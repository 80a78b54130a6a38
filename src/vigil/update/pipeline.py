"""`vigil update` end to end: stage, pull each source, verify, test-load, activate, notify.

Any failure before activation discards the staging directory: the active database is untouched and the
caller gets the reason. Activation is the rename of the `current` link (see activate.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.errors import DatabaseError, VigilError
from vigil.signatures import load_database
from vigil.signatures.dsig import OFFICIAL_KEYS, SigningKeys
from vigil.update import activate, clamav, trust
from vigil.update.config import Source, UpdateConfig
from vigil.update.fetch import FetchError, fetch
from vigil.update.install import UpdateContext, install_bundle, install_rules, verify_bundle
from vigil.update.minisign import PublicKey, SignatureInvalid
from vigil.update.notify import NotifyError, request_reload


@dataclass(slots=True)
class Outcome:
    changed: bool
    active: str | None
    messages: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _test_load(directory: str) -> None:
    """The new database must load as the scanner will load it, or it is never activated."""
    load_database([directory])


def _trust(config: UpdateConfig) -> list[PublicKey]:
    return trust.load_store(config.trust_store) if config.trust_store else []


def _bundle_source(ctx: UpdateContext, source: Source) -> bool:
    errors: list[str] = []
    cache = os.path.join(ctx.config.root, "cache")
    for base in source.urls:
        url = base.rstrip("/") + "/" + source.file
        try:
            body = fetch(url, cache, ctx.config.policy)
            sig = fetch(url + ".minisig", cache, ctx.config.policy)
            with open(body.path, "rb") as fh, open(sig.path, encoding="utf-8", errors="replace") as sh:
                bundle = verify_bundle(fh.read(), sh.read(), ctx.trust, ctx.limits)
            return install_bundle(ctx, bundle)
        except (FetchError, DatabaseError, SignatureInvalid) as exc:
            errors.append(str(exc))
    raise DatabaseError(f"{source.name}: no mirror worked: {'; '.join(errors)}")


def _yara_source(ctx: UpdateContext, source: Source) -> bool:
    cache = os.path.join(ctx.config.root, "cache")
    url = source.urls[0]
    body = fetch(url, cache, ctx.config.policy)
    signature = None
    if source.minisig:
        with open(fetch(url + ".minisig", cache, ctx.config.policy).path, encoding="utf-8") as sh:
            signature = sh.read()
    with open(body.path, "rb") as fh:
        return install_rules(ctx, source.name, fh.read(), signature, source.sha256)


_SOURCES: dict[str, Callable[[UpdateContext, Source], bool]] = {
    "bundle": _bundle_source,
    "cvd": clamav.update_cvd_source,
    "yara": _yara_source,
}


def _run(
    config: UpdateConfig,
    work: Callable[[UpdateContext], bool],
    *,
    allow_downgrade: bool,
    clamav_keys: SigningKeys,
    label: str,
) -> Outcome:
    os.makedirs(config.root, exist_ok=True)
    staging = activate.stage(config.root)
    ctx = UpdateContext(
        config=config,
        staging=staging,
        state=activate.read_state(activate.current_dir(config.root)),
        trust=_trust(config),
        allow_downgrade=allow_downgrade,
        clamav_keys=clamav_keys,
    )
    outcome = Outcome(changed=False, active=activate.current_dir(config.root), messages=ctx.messages)
    try:
        changed = work(ctx)
    except BaseException:
        activate.discard(staging)
        raise
    if not changed:
        activate.discard(staging)
        return outcome
    activate.write_state(staging, ctx.state)
    start = time.perf_counter()
    outcome.active = activate.commit(config.root, staging, label, _test_load, config.keep)
    outcome.timings["activate"] = time.perf_counter() - start
    outcome.changed = True
    _notify(config, outcome)
    return outcome


def run_update(
    config: UpdateConfig, *, allow_downgrade: bool = False, clamav_keys: SigningKeys = OFFICIAL_KEYS
) -> Outcome:
    """Pull every configured source into one new database version."""

    def work(ctx: UpdateContext) -> bool:
        changed = False
        for source in config.sources:
            changed |= _SOURCES[source.type](ctx, source)
        return changed

    return _run(config, work, allow_downgrade=allow_downgrade, clamav_keys=clamav_keys, label="update")


def import_bundle(config: UpdateConfig, path: str, *, allow_downgrade: bool = False) -> Outcome:
    """`vigil update --from BUNDLE`: the bundle and `BUNDLE.minisig` from a USB stick or a private share."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(config.policy.max_bytes + 1)
        with open(path + ".minisig", encoding="utf-8", errors="replace") as sh:
            signature = sh.read()
    except OSError as exc:
        raise DatabaseError(f"{exc.filename}: {exc.strerror}") from exc
    if len(data) > config.policy.max_bytes:
        raise DatabaseError(f"{path}: larger than the {config.policy.max_bytes}-byte cap")

    def work(ctx: UpdateContext) -> bool:
        return install_bundle(ctx, verify_bundle(data, signature, ctx.trust, ctx.limits))

    return _run(config, work, allow_downgrade=allow_downgrade, clamav_keys=OFFICIAL_KEYS, label="offline")


def rollback(config: UpdateConfig) -> Outcome:
    start = time.perf_counter()
    active = activate.rollback(config.root)
    outcome = Outcome(changed=True, active=active, messages=[f"rolled back to {os.path.basename(active)}"])
    outcome.timings["rollback"] = time.perf_counter() - start
    _notify(config, outcome)
    return outcome


def _notify(config: UpdateConfig, outcome: Outcome) -> None:
    if not config.daemon_socket:
        return
    try:
        request_reload(config.daemon_socket)
        outcome.messages.append(f"daemon at {config.daemon_socket} is reloading")
    except NotifyError as exc:
        outcome.messages.append(f"warning: {exc}")


__all__ = ["Outcome", "VigilError", "import_bundle", "rollback", "run_update"]
