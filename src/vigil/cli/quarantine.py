"""`vigil quarantine list|show|restore|delete|purge`: look after the quarantine vault.

Ids may be shortened to any unique prefix. `--json` prints one JSON object per entry (list/show) or per
outcome. Exit codes: 0 done, 1 refused (the entry or target is left as it was), 2 usage or vault error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vigil.cli.commands import Command

if TYPE_CHECKING:
    from vigil.actions.quarantine import Entry, Vault


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--vault", metavar="DIR", default=None,
                        help="vault directory (default $VIGIL_QUARANTINE_DIR or /var/lib/vigil/quarantine)")
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="list quarantined files")
    sub.add_parser("show", help="show one entry").add_argument("id")
    restore = sub.add_parser("restore", help="put a file back (same bytes, mode, owner, mtime)")
    restore.add_argument("id")
    restore.add_argument("--force", action="store_true", help="replace an existing file at the target")
    restore.add_argument("--to", metavar="PATH", help="restore to PATH instead of the original path")
    sub.add_parser("delete", help="delete one entry for good").add_argument("id")
    purge = sub.add_parser("purge", help="delete entries older than --older-than DAYS (default: all)")
    purge.add_argument("--older-than", type=float, metavar="DAYS", default=None)
    return parser


def _record(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id, "state": entry.state, "path": os.fsdecode(entry.path), "detection": entry.detection,
        "size": entry.size, "sha256": entry.sha256, "mode": f"{entry.mode:04o}", "uid": entry.uid,
        "gid": entry.gid, "mtime_ns": entry.mtime_ns, "quarantined_at": entry.quarantined_at,
        "db_version": entry.db_version, "engine_version": entry.engine_version,
    }


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds")


def _print(args: argparse.Namespace, record: dict[str, Any], line: str) -> None:
    print(json.dumps(record) if args.json else line)


def _list(vault: Vault, args: argparse.Namespace) -> int:
    for entry in vault.entries():
        record = _record(entry)
        _print(args, record, f"{entry.id[:12]}  {_when(entry.quarantined_at)}  {entry.detection}  "
               f"{record['path']}")
    return 0


def _show(vault: Vault, args: argparse.Namespace) -> int:
    record = _record(vault.lookup(args.id))
    _print(args, record, "\n".join(f"{key}: {value}" for key, value in record.items()))
    return 0


def _restore(vault: Vault, args: argparse.Namespace) -> int:
    entry = vault.lookup(args.id)
    target = os.fsdecode(vault.restore(entry.id, force=args.force, to=args.to))
    _print(args, {"id": entry.id, "restored": target}, f"{entry.id[:12]}: restored to '{target}'")
    return 0


def _delete(vault: Vault, args: argparse.Namespace) -> int:
    entry = vault.lookup(args.id)
    vault.delete(entry.id)
    _print(args, {"id": entry.id, "deleted": True}, f"{entry.id[:12]}: deleted")
    return 0


def _purge(vault: Vault, args: argparse.Namespace) -> int:
    seconds = None if args.older_than is None else args.older_than * 86400
    count = vault.purge(seconds)
    _print(args, {"purged": count}, f"purged {count} entries")
    return 0


_ACTIONS: dict[str, Callable[[Vault, argparse.Namespace], int]] = {
    "list": _list, "show": _show, "restore": _restore, "delete": _delete, "purge": _purge,
}


def run(args: argparse.Namespace) -> int:
    from vigil.actions.quarantine import QuarantineError, Vault
    from vigil.actions.quarantine_crypto import BlobError

    try:
        vault = Vault.open(args.vault)
    except (QuarantineError, OSError) as exc:
        print(f"vigil quarantine: {exc}", file=sys.stderr)
        return 2
    with vault:
        for note in vault.notes:
            print(note, file=sys.stderr)
        try:
            return _ACTIONS[args.action](vault, args)
        except (QuarantineError, BlobError, OSError) as exc:
            print(f"vigil quarantine: {exc}", file=sys.stderr)
            return 1


COMMAND = Command("quarantine", "list, restore or delete quarantined files", configure, run)
