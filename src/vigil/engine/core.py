"""The Engine: one SignatureDB, one set of ScanSettings, `scan(target) -> ScanReport`."""

from __future__ import annotations

import os
import time

from vigil.engine.cached import cached_report, encode_report
from vigil.engine.scancache import FileKey, ScanCache, cache_scope
from vigil.engine.target import target_bytes
from vigil.engine.verdict import fold
from vigil.engine.walk import LayerWalk
from vigil.errors import LimitExceeded, MalformedInput, ScanError
from vigil.layer import ScanContext
from vigil.signatures.database import SignatureDB
from vigil.types import Category, ScanReport, ScanSettings, ScanTarget, Verdict


class Engine:
    def __init__(self, db: SignatureDB, settings: ScanSettings | None = None, cache: ScanCache | None = None):
        self.db = db
        self.settings = settings or ScanSettings()
        self.cache = cache
        self._scope = cache_scope(db, self.settings)

    def scan(self, target: ScanTarget) -> ScanReport:
        started = time.monotonic()
        ctx = ScanContext(self.settings.limits)
        try:
            with target_bytes(target) as opened:
                key = self._file_key(opened.fd)
                if key is not None and self.cache is not None:
                    found = self.cache.lookup(key, self._scope, self.db.hashes_version, self.db.hashes.file)
                    answer = None if found is None else cached_report(
                        target, key, found, self.settings, self.db.version, started
                    )
                    if answer is not None:
                        return answer
                report = self._scan_data(target, opened.data, ctx, started)
                if key is not None and self.cache is not None:
                    self._remember(opened.fd, key, report)
                return report
        except ScanError as exc:
            return self._report(target, ctx, started, errors=(str(exc),))
        except Exception as exc:  # noqa: BLE001 - the engine boundary: a bug must not kill a scan run
            return self._report(
                target, ctx, started, errors=(f"internal error: {type(exc).__name__}: {exc}",)
            )

    def _file_key(self, fd: int | None) -> FileKey | None:
        return FileKey.of(os.fstat(fd)) if fd is not None and self.cache is not None else None

    def _remember(self, fd: int | None, key: FileKey, report: ScanReport) -> None:
        """Cache the verdict of a file that parsed cleanly and did not change while it was read; a
        detection is kept with its full evidence."""
        if self.cache is None or fd is None or report.errors or report.issues:
            return
        if FileKey.of(os.fstat(fd)) != key:
            return
        encoded = encode_report(report) if _has_signature_hit(report) else ""
        layers = [layer.digests for layer in report.layers]
        self.cache.store(key, self._scope, self.db.hashes_version, layers, report.limits_hit, encoded)

    def _scan_data(
        self, target: ScanTarget, data: bytes | memoryview, ctx: ScanContext, started: float
    ) -> ScanReport:
        max_size = self.settings.limits.max_filesize
        if max_size > 0 and len(data) > max_size:
            ctx.note_limit("MaxFileSize")
            return self._report(target, ctx, started, size=len(data))
        walk = LayerWalk(self.db, self.settings, ctx)
        try:
            result = walk.scan_root(data, target.display, target.path)
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


def _has_signature_hit(report: ScanReport) -> bool:
    """Limit alerts alone are rebuilt from the stored limits; anything else needs the stored detections."""
    return any(d.category is not Category.LIMIT for d in report.detections)
