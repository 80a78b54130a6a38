"""What on-access protection does with a detection besides blocking: report it, or quarantine it."""

from __future__ import annotations

import os
import threading

from vigil.actions.quarantine import QuarantineError, Vault
from vigil.watch.config import WatchConfig
from vigil.watch.events import EventLog


class QuarantineAction:
    """Moves a detected file into the vault, but only if the path still names the inode that was
    scanned (a file swapped after the scan is left alone). The vault is opened lazily in the thread that
    uses it (SQLite connections belong to one thread)."""

    def __init__(self, vault_dir: str, log: EventLog, db_version: str) -> None:
        self.vault_dir = vault_dir
        self._log = log
        self._db_version = db_version
        self._local = threading.local()
        self.count = 0

    def _vault(self) -> Vault:
        vault: Vault | None = getattr(self._local, "vault", None)
        if vault is None:
            vault = Vault.open(self.vault_dir, recover=False)
            self._local.vault = vault
        return vault

    def __call__(self, path: str, info: os.stat_result, name: str) -> None:
        try:
            entry = self._vault().quarantine(path, name, expected=(info.st_dev, info.st_ino),
                                             db_version=self._db_version)
        except (QuarantineError, OSError) as exc:
            self._log.emit("error", path, reason=f"quarantine failed: {exc}")
            return
        self.count += 1
        self._log.emit("quarantined", path, virus=name, id=entry.id)


def quarantine_action(config: WatchConfig, log: EventLog, db_version: str) -> QuarantineAction | None:
    """The quarantine responder when the config asks for one; opening the vault first completes any
    operation a crash interrupted, and each recovery is logged."""
    if config.action != "quarantine":
        return None
    from vigil.actions.quarantine import default_vault_dir

    vault = Vault.open(config.vault or default_vault_dir())
    for note in vault.notes:
        log.emit("recovered", reason=note)
    vault.close()
    return QuarantineAction(vault.root, log, db_version)
