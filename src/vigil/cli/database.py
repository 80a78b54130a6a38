"""The database of one `vigil scan` run: its facts at once, the compiled SignatureDB on first real need.

A rescan of an unchanged tree is answered by the persistent scan cache, which needs only the database's
version, its cache scope and its signature count. Those are in the compiled cache's manifest, so such a
run reads that small file instead of mapping the database and importing the matchers; the database is
loaded the moment one file has to be scanned.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vigil.scheduler import Deferred
from vigil.signatures import cached_facts
from vigil.signatures.storekey import DatabaseFacts

if TYPE_CHECKING:
    from vigil.engine.cached import CacheOracle
    from vigil.engine.scancache import ScanCache
    from vigil.signatures.database import SignatureDB
    from vigil.types import ScanSettings


class RunDatabase:
    def __init__(self, args: argparse.Namespace, *, defer: bool) -> None:
        self._args = args
        self.deferred = Deferred(self._load)
        facts = cached_facts(args.database or None, detect_pua=args.detect_pua) if defer else None
        self.facts = facts if facts is not None else _facts_of(self.get())

    def get(self) -> SignatureDB:
        db = self.deferred.get()
        assert db is not None
        return db  # type: ignore[return-value]

    def _load(self) -> SignatureDB:
        from vigil.signatures import load_database

        return load_database(self._args.database or None, detect_pua=self._args.detect_pua)

    def oracle(self, cache: ScanCache, settings: ScanSettings) -> CacheOracle:
        """Answers unchanged files from the cache with this database's facts (no hash index: a verdict
        stamped with other hash signatures goes to an engine, which re-checks it)."""
        from vigil.engine.cached import CacheOracle
        from vigil.engine.scancache import scope_for

        facts = self.facts
        return CacheOracle(cache, scope_for(facts.content_version, settings), facts.hashes_version, settings,
                           facts.version)


def _facts_of(db: SignatureDB) -> DatabaseFacts:
    return DatabaseFacts(db.version, db.content_version, db.hashes_version, db.signature_count, db.warnings)
