"""`vigil update`: pull signed signatures, import an offline bundle, roll back, manage trusted keys.

Exit codes: 0 updated or already current, 1 the update failed or was refused (the active database is
unchanged), 2 configuration or usage error.
"""

from __future__ import annotations

import argparse
import sys

from vigil.cli.commands import Command

DEFAULT_CONFIG = "/etc/vigil/update.toml"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help=f"TOML configuration (default {DEFAULT_CONFIG})"
    )
    parser.add_argument("--root", help="database root (overrides [update] root)")
    parser.add_argument("--trust-store", help="trusted keys file (overrides [update] trust_store)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--from", dest="from_file", metavar="BUNDLE", help="import an offline bundle")
    action.add_argument("--rollback", action="store_true", help="go back to the previous database")
    action.add_argument("--trust-key", metavar="PUB", help="trust a key (with --rotation-sig: a rotation)")
    action.add_argument("--status", action="store_true", help="show the active version and history")
    parser.add_argument("--rotation-sig", metavar="SIG", help="rotation statement signed by a trusted key")
    parser.add_argument("--allow-downgrade", action="store_true", help="accept an older database")


def run(args: argparse.Namespace) -> int:
    from vigil.errors import VigilError
    from vigil.update.commands import act, config_from
    from vigil.update.config import ConfigError

    try:
        config = config_from(args)
    except ConfigError as exc:
        print(f"vigil update: error: {exc}", file=sys.stderr)
        return 2
    try:
        return act(config, args)
    except (VigilError, OSError) as exc:
        print(f"vigil update: error: {exc}; the active database is unchanged", file=sys.stderr)
        return 1


COMMAND = Command("update", "pull signed signature updates, import bundles, roll back", configure, run)
