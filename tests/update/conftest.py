"""Fixtures for update tests: a real HTTP mirror on 127.0.0.1, signing keys, config builders."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from vigil.signatures.dsig import RsaKey, SigningKeys, encode_number
from vigil.update import minisign, trust
from vigil.update.bundle import build_bundle
from vigil.update.config import Source, UpdateConfig
from vigil.update.fetch import FetchPolicy
from vigil.update.install import bundle_comment

EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"


@dataclass
class Mirror:
    """Files served by path; a log of (path, headers); paths to cut off half-way on their next GET."""

    files: dict[str, bytes] = field(default_factory=dict)
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    cut_once: set[str] = field(default_factory=set)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def requests(self, path: str) -> list[dict[str, str]]:
        return [headers for logged, headers in self.log if logged == path]


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:16] + '"'


def _handler(mirror: Mirror) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            mirror.log.append((self.path, {k: v for k, v in self.headers.items()}))
            data = mirror.files.get(self.path)
            if data is None:
                self._reply(404, b"", {})
                return
            etag = _etag(data)
            if self.headers.get("If-None-Match") == etag:
                self._reply(304, b"", {"ETag": etag}, body=False)
                return
            start, end = self._range(data, etag)
            if start is None:
                self._full(data, etag)
                return
            chunk = data[start : end + 1]
            headers = {"ETag": etag, "Content-Range": f"bytes {start}-{end}/{len(data)}"}
            self._reply(206, chunk, headers)

        def _range(self, data: bytes, etag: str) -> tuple[int | None, int]:
            spec = self.headers.get("Range", "")
            if_range = self.headers.get("If-Range")
            if not spec.startswith("bytes=") or (if_range is not None and if_range != etag):
                return None, 0
            first, _, last = spec[6:].partition("-")
            return int(first), min(int(last) if last else len(data) - 1, len(data) - 1)

        def _full(self, data: bytes, etag: str) -> None:
            if self.path in mirror.cut_once:
                mirror.cut_once.discard(self.path)
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._reply(200, data, {"ETag": etag})

        def _reply(self, code: int, data: bytes, headers: dict[str, str], body: bool = True) -> None:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            if body:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    state = Mirror()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="session")
def signing_key() -> minisign.SecretKey:
    return minisign.generate_key()


@pytest.fixture(scope="session")
def other_key() -> minisign.SecretKey:
    return minisign.generate_key()


def make_bundle(
    key: minisign.SecretKey, version: int, files: dict[str, bytes], name: str = "vigil"
) -> tuple[bytes, str]:
    data = build_bundle(files, name=name, version=version, created=1_700_000_000 + version)
    signature = minisign.sign(key, data, bundle_comment(name, version, 1_700_000_000 + version))
    return data, signature.to_text()


def hdb(*names: str) -> bytes:
    return b"".join(f"{hashlib.md5(n.encode()).hexdigest()}:{len(n)}:{n}\n".encode() for n in names)


@dataclass
class Setup:
    root: Path
    store: Path
    config_path: Path

    def config(self, mirror: Mirror, sources: tuple[Source, ...], **policy: float) -> UpdateConfig:
        return UpdateConfig(
            root=str(self.root),
            trust_store=str(self.store),
            keep=3,
            policy=FetchPolicy(
                timeout=5,
                retries=int(policy.get("retries", 2)),
                backoff=0.05,
                max_bytes=int(policy.get("max_bytes", 64 << 20)),
            ),
            sources=sources,
        )


@pytest.fixture
def setup(tmp_path: Path, signing_key: minisign.SecretKey) -> Setup:
    store = tmp_path / "trusted-keys"
    trust.add_key(str(store), signing_key.public())
    return Setup(root=tmp_path / "db", store=store, config_path=tmp_path / "update.toml")


def write_config(setup: Setup, mirror: Mirror, extra: str = "", max_bytes: int = 64 << 20) -> str:
    setup.config_path.write_text(
        f'[update]\nroot = "{setup.root}"\ntrust_store = "{setup.store}"\nkeep = 3\n'
        f"timeout = 5\nretries = 2\nbackoff = 0.05\nmax_bytes = {max_bytes}\n{extra}\n"
        f'[[sources]]\nname = "vigil"\ntype = "bundle"\nurls = ["{mirror.url}"]\nfile = "vigil.tar.gz"\n'
    )
    return str(setup.config_path)


@dataclass(frozen=True)
class ClamSigner:
    """Stand-in for ClamAV's signing service: a 2048-bit key making `.info`/cdiff-style PSS DSIGs."""

    key: rsa.RSAPrivateKey

    @property
    def keys(self) -> SigningKeys:
        numbers = self.key.public_key().public_numbers()
        public = RsaKey(n=numbers.n, e=numbers.e)
        return SigningKeys(header=public, info=public)

    def sign(self, digest: bytes) -> str:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = self.key.sign(digest, pss, utils.Prehashed(hashes.SHA256()))
        return encode_number(int.from_bytes(signature, "big"))


@pytest.fixture(scope="session")
def clam_signer() -> ClamSigner:
    return ClamSigner(rsa.generate_private_key(public_exponent=65537, key_size=2048))
