"""vigild configuration: clamd.conf (so an existing file works unchanged) or Vigil's TOML.

clamd refuses to start on an unknown key; vigild warns instead, so a clamd.conf with options Vigil does
not implement still starts the daemon. The OnAccess* keys are the ones clamonacc reads from clamd.conf;
vigild runs that protection itself (onaccess.py).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.sources import WalkPolicy
from vigil.types import ScanLimits, ScanSettings


class ConfigError(ValueError):
    """A value that cannot be parsed (bad size, bad boolean); names the key."""


@dataclass(slots=True)
class DaemonConfig:
    database_directory: str | None = None  # None: Vigil's bundled database
    local_socket: str | None = None
    local_socket_mode: int = 0o666
    fix_stale_socket: bool = True
    tcp_socket: int | None = None
    tcp_addr: list[str] = field(default_factory=list)
    stream_max_length: int = 100 * 1024 * 1024
    max_threads: int = 10
    max_connection_queue_length: int = 200
    read_timeout: float = 120.0
    command_read_timeout: float = 30.0
    idle_timeout: float = 30.0
    exclude_path: list[str] = field(default_factory=list)
    max_directory_recursion: int = 15
    follow_directory_symlinks: bool = False
    follow_file_symlinks: bool = False
    cross_filesystems: bool = True
    max_scan_size: int = 400 * 1024 * 1024
    max_file_size: int = 100 * 1024 * 1024
    max_recursion: int = 17
    max_files: int = 10_000
    max_scan_time: int = 120_000
    alert_exceeds_max: bool = False
    allow_all_match_scan: bool = True
    detect_pua: bool = False
    log_file: str | None = None
    log_verbose: bool = False
    pid_file: str | None = None
    foreground: bool = False
    debug: bool = False
    workers: int = 0  # 0: min(MaxThreads, CPUs)
    disable_cache: bool = False
    cache_size: int = 65536
    on_access_include_path: list[str] = field(default_factory=list)
    on_access_mount_path: list[str] = field(default_factory=list)
    on_access_exclude_path: list[str] = field(default_factory=list)
    on_access_exclude_uname: list[str] = field(default_factory=list)
    on_access_exclude_uid: list[int] = field(default_factory=list)
    on_access_exclude_root_uid: bool = False
    on_access_prevention: bool = False  # yes: permission events (block); no: scan after write (notify)
    on_access_max_file_size: int = 5 * 1024 * 1024
    on_access_disable_ddd: bool = False
    on_access_deny_on_error: bool = False
    on_access_curl_timeout: int = 5000  # ms: clamonacc's wait for clamd; here the scan budget per open
    on_access_quarantine: bool = False
    on_access_quarantine_directory: str | None = None  # None: $VIGIL_QUARANTINE_DIR or the default vault
    warnings: list[str] = field(default_factory=list)

    @property
    def on_access(self) -> bool:
        """On-access protection runs when something to watch is configured (as clamonacc starts)."""
        return bool(self.on_access_include_path or self.on_access_mount_path)

    def scan_settings(self, *, allmatch: bool = False) -> ScanSettings:
        limits = ScanLimits(max_filesize=self.max_file_size, max_scansize=self.max_scan_size,
                            max_files=self.max_files, max_recursion=self.max_recursion,
                            max_scantime_ms=self.max_scan_time)
        return ScanSettings(limits=limits, allmatch=allmatch, alert_exceeds_max=self.alert_exceeds_max,
                            detect_pua=self.detect_pua)

    def walk_policy(self) -> WalkPolicy:
        return WalkPolicy(recursive=True, exclude=tuple(self.exclude_path),
                          max_dir_recursion=self.max_directory_recursion,
                          follow_dir_symlinks=2 if self.follow_directory_symlinks else 0,
                          follow_file_symlinks=2 if self.follow_file_symlinks else 0,
                          cross_fs=self.cross_filesystems)


_TRUE = {"yes", "true", "1", "on"}
_FALSE = {"no", "false", "0", "off"}
_SIZE_SUFFIX = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 ** 3}


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def parse_size(value: str) -> int:
    found = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[bB]?\s*", value)
    if found is None:
        raise ConfigError(f"not a size: {value!r}")
    return int(found.group(1)) * _SIZE_SUFFIX[found.group(2).lower()]


def _seconds(value: str) -> float:
    return float(int(value))


def _octal(value: str) -> int:
    return int(value, 8)


# clamd.conf key → (DaemonConfig field, converter); list fields accumulate repeated keys
_OPTIONS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "DatabaseDirectory": ("database_directory", str),
    "LocalSocket": ("local_socket", str),
    "LocalSocketMode": ("local_socket_mode", _octal),
    "FixStaleSocket": ("fix_stale_socket", parse_bool),
    "TCPSocket": ("tcp_socket", int),
    "TCPAddr": ("tcp_addr", str),
    "StreamMaxLength": ("stream_max_length", parse_size),
    "MaxThreads": ("max_threads", int),
    "MaxConnectionQueueLength": ("max_connection_queue_length", int),
    "ReadTimeout": ("read_timeout", _seconds),
    "CommandReadTimeout": ("command_read_timeout", _seconds),
    "IdleTimeout": ("idle_timeout", _seconds),
    "ExcludePath": ("exclude_path", str),
    "MaxDirectoryRecursion": ("max_directory_recursion", int),
    "FollowDirectorySymlinks": ("follow_directory_symlinks", parse_bool),
    "FollowFileSymlinks": ("follow_file_symlinks", parse_bool),
    "CrossFilesystems": ("cross_filesystems", parse_bool),
    "MaxScanSize": ("max_scan_size", parse_size),
    "MaxFileSize": ("max_file_size", parse_size),
    "MaxRecursion": ("max_recursion", int),
    "MaxFiles": ("max_files", int),
    "MaxScanTime": ("max_scan_time", int),
    "AlertExceedsMax": ("alert_exceeds_max", parse_bool),
    "AllowAllMatchScan": ("allow_all_match_scan", parse_bool),
    "DetectPUA": ("detect_pua", parse_bool),
    "LogFile": ("log_file", str),
    "LogVerbose": ("log_verbose", parse_bool),
    "PidFile": ("pid_file", str),
    "Foreground": ("foreground", parse_bool),
    "Debug": ("debug", parse_bool),
    "VigilWorkers": ("workers", int),
    "DisableCache": ("disable_cache", parse_bool),
    "CacheSize": ("cache_size", int),
    "OnAccessIncludePath": ("on_access_include_path", str),
    "OnAccessMountPath": ("on_access_mount_path", str),
    "OnAccessExcludePath": ("on_access_exclude_path", str),
    "OnAccessExcludeUname": ("on_access_exclude_uname", str),
    "OnAccessExcludeUID": ("on_access_exclude_uid", int),
    "OnAccessExcludeRootUID": ("on_access_exclude_root_uid", parse_bool),
    "OnAccessPrevention": ("on_access_prevention", parse_bool),
    "OnAccessMaxFileSize": ("on_access_max_file_size", parse_size),
    "OnAccessDisableDDD": ("on_access_disable_ddd", parse_bool),
    "OnAccessDenyOnError": ("on_access_deny_on_error", parse_bool),
    "OnAccessCurlTimeout": ("on_access_curl_timeout", int),
    "OnAccessQuarantine": ("on_access_quarantine", parse_bool),
    "OnAccessQuarantineDirectory": ("on_access_quarantine_directory", str),
}
# accepted and ignored without a warning: they only tune clamd internals or logging details
_ACCEPTED = {
    "LogTime", "LogClean", "LogSyslog", "LogFacility", "LogFileMaxSize", "LogRotate", "LogFileUnlock",
    "LocalSocketGroup", "MaxQueue", "SendBufTimeout", "SelfCheck", "ConcurrentDatabaseReload",
    "TemporaryDirectory", "User", "ExtendedDetectionInfo", "HeuristicAlerts", "ScanArchive", "ScanPE",
    "ScanELF", "ScanOLE2", "ScanPDF", "ScanSWF", "ScanHTML", "ScanXMLDOCS", "ScanHWP3", "ScanOneNote",
    "ScanMail", "Bytecode", "OfficialDatabaseOnly", "LeaveTemporaryFiles",
    # clamonacc's thread pool and retries of its clamd connection: vigild scans on-access in-process
    "OnAccessMaxThreads", "OnAccessRetryAttempts", "OnAccessExtraScanning",
}


def _assign(config: DaemonConfig, key: str, value: str) -> None:
    if key in _ACCEPTED:
        return
    option = _OPTIONS.get(key)
    if option is None:
        config.warnings.append(f"unknown option {key!r} ignored")
        return
    name, convert = option
    try:
        converted = convert(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from exc
    current = getattr(config, name)
    if isinstance(current, list):
        current.append(converted)
    else:
        setattr(config, name, converted)


def parse_clamd_conf(text: str) -> DaemonConfig:
    """clamd.conf syntax: `Key value` per line, `#` comments, a bare `Key` means yes."""
    config = DaemonConfig()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "Example":
            raise ConfigError("the 'Example' line must be removed before the daemon starts")
        _assign(config, key, value.strip() or "yes")
    _check_on_access(config)
    return config


_SNAKE = {name: key for key, (name, _) in _OPTIONS.items()}


def parse_toml(text: str) -> DaemonConfig:
    """Vigil's TOML: a `[daemon]` table (or top level) with clamd names or their snake_case fields."""
    data = tomllib.loads(text)
    table = data.get("daemon", data)
    config = DaemonConfig()
    for key, value in table.items():
        clamd_key = _SNAKE.get(key, key)
        values = value if isinstance(value, list) else [value]
        for item in values:
            text_value = ("yes" if item else "no") if isinstance(item, bool) else str(item)
            _assign(config, clamd_key, text_value)
    _check_on_access(config)
    return config


def _check_on_access(config: DaemonConfig) -> None:
    """OnAccess* settings without anything to watch do nothing: say so rather than stay silent."""
    if config.on_access:
        return
    defaults = DaemonConfig()
    for key, (name, _) in _OPTIONS.items():
        if key.startswith("OnAccess") and getattr(config, name) != getattr(defaults, name):
            config.warnings.append(f"{key} ignored: on-access protection needs OnAccessIncludePath "
                                   "or OnAccessMountPath")


def load_config(path: str | None) -> DaemonConfig:
    if path is None:
        return DaemonConfig()
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".toml"):
        try:
            return parse_toml(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    return parse_clamd_conf(text)


def replace(config: DaemonConfig, **changes: Any) -> DaemonConfig:
    return dataclasses.replace(config, **changes)
