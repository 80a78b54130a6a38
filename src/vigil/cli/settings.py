"""Translate parsed flags into the engine's ScanSettings and the walker's WalkPolicy."""

from __future__ import annotations

import argparse
import dataclasses

from vigil.sources import WalkPolicy
from vigil.types import ScanLimits, ScanSettings

# flag dest → ScanLimits field (max_scantime is in milliseconds in both)
_LIMIT_FIELDS = {
    "max_filesize": "max_filesize",
    "max_scansize": "max_scansize",
    "max_files": "max_files",
    "max_recursion": "max_recursion",
    "max_scantime": "max_scantime_ms",
}


def scan_limits(args: argparse.Namespace) -> ScanLimits:
    given = {field: getattr(args, dest) for dest, field in _LIMIT_FIELDS.items()
             if getattr(args, dest) is not None}
    return dataclasses.replace(ScanLimits(), **given)


def scan_settings(args: argparse.Namespace) -> ScanSettings:
    encrypted = args.alert_encrypted or args.alert_encrypted_archive or args.alert_encrypted_doc
    return ScanSettings(
        limits=scan_limits(args),
        allmatch=args.allmatch,
        alert_exceeds_max=args.alert_exceeds_max,
        alert_encrypted=encrypted,
        alert_broken=args.alert_broken,
        alert_macros=args.alert_macros,
        normalize=args.normalize,
        scan_archive=args.scan_archive,
        detect_pua=args.detect_pua,
    )


def walk_policy(args: argparse.Namespace) -> WalkPolicy:
    return WalkPolicy(
        recursive=args.recursive,
        exclude=tuple(args.exclude),
        exclude_dir=tuple(args.exclude_dir),
        include=tuple(args.include),
        include_dir=tuple(args.include_dir),
        max_dir_recursion=args.max_dir_recursion,
        follow_dir_symlinks=args.follow_dir_symlinks,
        follow_file_symlinks=args.follow_file_symlinks,
        cross_fs=args.cross_fs,
    )
