"""The work behind `vigil update` (imported only when it runs; the parser is vigil.cli.update)."""

from __future__ import annotations

import argparse
import os

from vigil.update import activate, minisign, pipeline, trust
from vigil.update.config import ConfigError, UpdateConfig, load_config


def config_from(args: argparse.Namespace) -> UpdateConfig:
    if os.path.exists(args.config):
        config = load_config(args.config)
    elif args.root:
        config = UpdateConfig(root=args.root, trust_store=args.trust_store or "")
    else:
        raise ConfigError(f"{args.config}: not found (give --config or --root)")
    overrides = {"root": args.root, "trust_store": args.trust_store}
    values = {k: v for k, v in overrides.items() if v}
    if values:
        config = UpdateConfig(
            root=values.get("root", config.root),
            trust_store=values.get("trust_store", config.trust_store),
            keep=config.keep,
            policy=config.policy,
            daemon_socket=config.daemon_socket,
            sources=config.sources,
        )
    return config


def _trust_key(config: UpdateConfig, args: argparse.Namespace) -> int:
    with open(args.trust_key, encoding="utf-8") as fh:
        key_text = fh.read()
    if args.rotation_sig:
        with open(args.rotation_sig, encoding="utf-8") as fh:
            key = trust.apply_rotation(config.trust_store, key_text, fh.read())
    else:
        key = minisign.parse_public_key(key_text)
        trust.add_key(config.trust_store, key)
    print(f"trusted key {key.id_hex} in {config.trust_store}")
    return 0


def _status(config: UpdateConfig) -> int:
    current = activate.current_dir(config.root)
    print(f"active: {current or '(none)'}")
    for name, version in sorted(activate.read_state(current).versions.items()):
        print(f"  {name} {version}")
    print("history: " + " ".join(activate.history(config.root)))
    return 0


def act(config: UpdateConfig, args: argparse.Namespace) -> int:
    if args.trust_key:
        return _trust_key(config, args)
    if args.status:
        return _status(config)
    if args.rollback:
        outcome = pipeline.rollback(config)
    elif args.from_file:
        outcome = pipeline.import_bundle(config, args.from_file, allow_downgrade=args.allow_downgrade)
    else:
        outcome = pipeline.run_update(config, allow_downgrade=args.allow_downgrade)
    for message in outcome.messages:
        print(message)
    print(f"active: {outcome.active}" if outcome.changed else "database is up to date")
    return 0
