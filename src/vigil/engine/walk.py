"""The layer loop: type, hash, allow-list, unpack children (depth first), then match the layer itself.

Children are scanned before their parent's own bytes because clamscan reports a member's match ahead of
a body signature on the container (observed with a zip). In default mode the walk stops at the first
layer that yields a match; with allmatch it visits everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.engine import filetype
from vigil.engine.hashing import Digests, digest_all
from vigil.engine.matching import CONTAINER_AS, RANK_CONTAINER, LayerMatcher
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, Layer, MemberInfo, ScanContext
from vigil.signatures.database import SignatureDB
from vigil.signatures.match import container as members
from vigil.types import FileType, LayerInfo, Match, ScanSettings
from vigil.unpack.registry import unpacker_for


@dataclass(slots=True)
class WalkResult:
    matches: list[Match] = field(default_factory=list)
    layers: list[LayerInfo] = field(default_factory=list)
    root_digests: Digests | None = None


@dataclass(slots=True)
class LayerWalk:
    db: SignatureDB
    settings: ScanSettings
    ctx: ScanContext
    result: WalkResult = field(default_factory=WalkResult)

    @property
    def done(self) -> bool:
        return bool(self.result.matches) and not self.settings.allmatch

    def scan_root(self, data: bytes | memoryview, name: str, source_path: str | None = None) -> WalkResult:
        root = Layer(data=data, name=name, file_type=self._identify(data), depth=0, source_path=source_path)
        self.visit(root)
        return self.result

    def visit(self, layer: Layer) -> None:
        self.ctx.check_time()
        digests = digest_all(layer.data, self.db.digests_for(len(layer.data)))
        if self.result.root_digests is None:
            self.result.root_digests = digests
        self.result.layers.append(
            LayerInfo(
                layer.path,
                layer.file_type,
                digests.size,
                layer.depth,
                digests.sha256.hex(),
                digests.md5.hex(),
                digests.sha1.hex(),
            )
        )
        if self._allow_listed(digests):
            return
        if self.settings.scan_archive:
            self._visit_children(layer)
            if self.done:
                return
        matcher = LayerMatcher(self.db, layer, digests, self.settings.normalize)
        matches = sorted(matcher.run(), key=lambda m: m.rank)
        self.result.matches.extend(matches if self.settings.allmatch else matches[:1])
        for ftype in matcher.rescan_as:
            if self.done:
                return
            self._visit_child(layer, Child(layer.name, layer.data, ftype))

    def _visit_children(self, layer: Layer) -> None:
        unpacker = unpacker_for(layer.file_type, self.settings.disabled_unpackers)
        if unpacker is None:
            return
        try:
            for child in unpacker.children(layer, self.ctx):
                if child.info is not None and self.db.containers:
                    self._match_member(layer, child.name, child.info)
                if not child.listed_only and not self.done:
                    self._visit_child(layer, child)
                if self.done:
                    return
        except LimitExceeded as exc:
            self.ctx.note_limit(exc.limit)
        except MalformedInput as exc:
            self.ctx.note_issue(f"{layer.path}: {exc}")

    def _match_member(self, container: Layer, name: str, info: MemberInfo) -> None:
        """`.cdb` signatures on a member's directory entry, before its bytes are scanned, as clamscan
        checks them: a hit names the member, and in default mode it is the scan's only detection."""
        container_type = CONTAINER_AS.get(container.file_type, container.file_type)
        hits = members.matching(self.db.containers, container_type, len(container.data), name, info)
        for sig in hits:
            self.result.matches.append(
                Match(sig.meta.reported, "container", sig.meta.origin, f"{container.path}>{name}",
                      rank=(RANK_CONTAINER,))
            )
            if not self.settings.allmatch:
                return

    def _visit_child(self, parent: Layer, child: Child) -> None:
        depth = parent.depth + 1
        try:
            self.ctx.check_depth(depth)
        except LimitExceeded as exc:
            self.ctx.note_limit(exc.limit)
            return
        ftype = child.type_hint or self._identify(child.data)
        self.visit(Layer(data=child.data, name=child.name, file_type=ftype, depth=depth, parent=parent))

    def _identify(self, data: bytes | memoryview) -> FileType:
        return filetype.identify(data, self.db.magic)  # type: ignore[arg-type]

    def _allow_listed(self, digests: Digests) -> bool:
        allow = self.db.allow
        if not allow:
            return False
        return any(allow.allows(algo, digests.get(algo), digests.size) for algo in allow.algos)


