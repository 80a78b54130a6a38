"""`vigil update` configuration (TOML): where the database lives, whom to trust, where to pull from.

The keys and an example are in docs/updates.md. Unknown keys are ignored so an older Vigil can read a
newer file; wrong types and unknown source types are errors naming the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

from vigil.errors import VigilError
from vigil.update.fetch import FetchPolicy, check_url

DEFAULT_CONFIG = "/etc/vigil/update.toml"  # also in vigil.cli.update
_TYPES = ("bundle", "cvd", "yara")


class ConfigError(VigilError):
    """The update configuration is unreadable or wrong; the message names the key."""


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    type: str
    urls: tuple[str, ...]
    file: str = ""
    databases: tuple[str, ...] = ("daily", "main", "bytecode")
    unsigned: bool = False
    sha256: str = ""
    minisig: bool = False


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    root: str
    trust_store: str
    keep: int = 3
    policy: FetchPolicy = field(default_factory=FetchPolicy)
    daemon_socket: str = ""
    sources: tuple[Source, ...] = field(default_factory=tuple)


def load_config(path: str) -> UpdateConfig:
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(doc, path)


def parse_config(doc: dict[str, object], where: str = "config") -> UpdateConfig:
    update = doc.get("update", {})
    if not isinstance(update, dict):
        raise ConfigError(f"{where}: [update] must be a table")
    try:
        policy = FetchPolicy(
            timeout=float(update.get("timeout", 30)),
            retries=int(update.get("retries", 3)),
            backoff=float(update.get("backoff", 1.0)),
            max_bytes=int(update.get("max_bytes", 512 << 20)),
        )
        config = UpdateConfig(
            root=str(update["root"]),
            trust_store=str(update.get("trust_store", "")),
            keep=int(update.get("keep", 3)),
            policy=policy,
            daemon_socket=str(update.get("daemon_socket", "")),
            sources=tuple(_source(s, where) for s in _list(doc.get("sources", []), where)),
        )
    except KeyError as exc:
        raise ConfigError(f"{where}: [update] {exc.args[0]} is required") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return config


def _list(value: object, where: str) -> list[dict[str, object]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where}: [[sources]] must be an array of tables")
    return value


def _source(raw: dict[str, object], where: str) -> Source:
    name, kind = str(raw.get("name", "")), str(raw.get("type", ""))
    if not name.isidentifier():
        raise ConfigError(f"{where}: source name {name!r} must be a simple identifier")
    if kind not in _TYPES:
        raise ConfigError(f"{where}: source {name}: type must be one of {', '.join(_TYPES)}")
    urls = raw.get("urls", [raw["url"]] if "url" in raw else [])
    if not isinstance(urls, list) or not urls:
        raise ConfigError(f"{where}: source {name}: urls must be a non-empty list")
    for url in urls:
        check_url(str(url))
    databases = raw.get("databases", ["daily", "main", "bytecode"])
    if not isinstance(databases, list):
        raise ConfigError(f"{where}: source {name}: databases must be a list")
    return Source(
        name=name,
        type=kind,
        urls=tuple(str(u) for u in urls),
        file=str(raw.get("file", f"{name}.tar.gz")),
        databases=tuple(str(d) for d in databases),
        unsigned=bool(raw.get("unsigned", False)),
        sha256=str(raw.get("sha256", "")).lower(),
        minisig=bool(raw.get("minisig", False)),
    )
