"""`vigil scan --quarantine`: the vault as one more file action next to --move/--copy/--remove.

The vault is opened once per process (and repaired then); errors become `ActionError`, which the scan
command already reports and counts like a failed --move.
"""

from __future__ import annotations

import os

from vigil.actions.move import ActionResult
from vigil.actions.quarantine import QuarantineError, Vault, default_vault_dir
from vigil.errors import ActionError

_OPEN: dict[str, Vault] = {}


def _vault(directory: str | None) -> Vault:
    root = os.path.realpath(directory or default_vault_dir())
    if root not in _OPEN:
        _OPEN[root] = Vault.open(root)
    return _OPEN[root]


def quarantine_file(path: str, detection: str, *, vault_dir: str | None = None,
                    db_version: str = "") -> ActionResult:
    """Move `path` into the vault; `destination` is `quarantine:<id>`."""
    try:
        entry = _vault(vault_dir).quarantine(path, detection, db_version=db_version)
    except (QuarantineError, OSError) as exc:
        raise ActionError(str(exc)) from exc
    return ActionResult(os.fsdecode(entry.path), f"quarantine:{entry.id}")
