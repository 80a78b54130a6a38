"""The Engine: one SignatureDB, one set of ScanSettings, `scan(target) -> ScanReport`.

Every front end (CLI, daemon, on-access, web, cluster) builds an Engine once and feeds it targets.
"""

from __future__ import annotations

import time

from vigil.engine.target import target_bytes
from vigil.engine.verdict import LIMIT_PREFIX, fold
from vigil.engine.walk import LayerWalk
from vigil.errors import LimitExceeded, MalformedInput, ScanError
from vigil.layer import ScanContext
from vigil.signatures.database import SignatureDB
from vigil.types import ScanReport, ScanSettings, ScanTarget, Verdict

__all__ = ["LIMIT_PREFIX", "Engine"]


class Engine:
    def __init__(self, db: SignatureDB, settings: ScanSettings | None = None) -> None:
        self.db = db
        self.settings = settings or ScanSettings()

    def scan(self, target: ScanTarget) -> ScanReport:
        started = time.monotonic()
        ctx = ScanContext(self.settings.limits)
        try:
            with target_bytes(target) as data:
                return self._scan_data(target, data, ctx, started)
        except ScanError as exc:
            return self._report(target, ctx, started, errors=(str(exc),))
        except Exception as exc:  # noqa: BLE001 - the engine boundary: a bug must not kill a scan run
            return self._report(
                target, ctx, started, errors=(f"internal error: {type(exc).__name__}: {exc}",)
            )

    def _scan_data(
        self, target: ScanTarget, data: bytes | memoryview, ctx: ScanContext, started: float
    ) -> ScanReport:
        max_size = self.settings.limits.max_filesize
        if max_size > 0 and len(data) > max_size:
            ctx.note_limit("MaxFileSize")
            return self._report(target, ctx, started, size=len(data))
        walk = LayerWalk(self.db, self.settings, ctx)
        try:
            result = walk.scan_root(data, target.display)
        except LimitExceeded as exc:
            ctx.note_limit(exc.limit)
            result = walk.result
        except MalformedInput as exc:
            ctx.note_issue(str(exc))
            result = walk.result
        detections = fold(result.matches, ctx, self.settings, target.display)
        digests = result.root_digests
        return ScanReport(
            target=target.display,
            verdict=Verdict.INFECTED if detections else Verdict.CLEAN,
            detections=detections,
            size=len(data),
            sha256=digests.sha256.hex() if digests else "",
            layers=tuple(result.layers),
            limits_hit=tuple(ctx.limits_hit),
            issues=tuple(ctx.issues),
            elapsed=time.monotonic() - started,
            db_version=self.db.version,
        )

    def _report(
        self,
        target: ScanTarget,
        ctx: ScanContext,
        started: float,
        *,
        size: int = 0,
        errors: tuple[str, ...] = (),
    ) -> ScanReport:
        detections = fold((), ctx, self.settings, target.display)
        verdict = Verdict.INFECTED if detections else (Verdict.ERROR if errors else Verdict.CLEAN)
        return ScanReport(
            target=target.display,
            verdict=verdict,
            detections=detections,
            size=size,
            sha256="",
            limits_hit=tuple(ctx.limits_hit),
            issues=tuple(ctx.issues),
            errors=errors,
            elapsed=time.monotonic() - started,
            db_version=self.db.version,
        )
