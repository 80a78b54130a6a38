"""HTTP(S) downloads for the updater: conditional, resumable, capped, retried; no identifying data.

Each URL has a cache slot (`ROOT/cache/<sha256(url)[:24]>.*`): the last complete body with its ETag and
Last-Modified, and a partial body after a broken download. A request carries a fixed `User-Agent:
Vigil/<version>` and, when the cache has them, `If-None-Match`/`If-Modified-Since` (unchanged → 304, no
body) or `Range`+`If-Range` (resume a partial body; a changed file restarts from zero). Nothing else: no
install id, no platform, no cookies. This module is the only network client in Vigil (see
docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from vigil import __version__
from vigil.errors import VigilError

USER_AGENT = f"Vigil/{__version__}"
_CHUNK = 1 << 16
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class FetchError(VigilError):
    """A download that failed for good (after retries), or would exceed its size cap."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    max_bytes: int = 512 << 20


@dataclass(slots=True)
class FetchResult:
    url: str
    path: str  # the complete body in the cache
    changed: bool  # False when the server said 304 Not Modified
    resumed: bool = False
    attempts: int = 1
    log: list[str] = field(default_factory=list)


class _Retry(Exception):
    """A transient failure worth another attempt (disconnect, timeout, 5xx)."""


@dataclass(slots=True)
class _Slot:
    body: str
    part: str
    meta: str

    def load_meta(self) -> dict[str, str]:
        try:
            with open(self.meta, encoding="utf-8") as fh:
                doc = json.load(fh)
            return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}
        except (OSError, ValueError):
            return {}

    def save_meta(self, meta: dict[str, str]) -> None:
        tmp = self.meta + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, sort_keys=True)
        os.replace(tmp, self.meta)


def _slot(cache_dir: str, url: str) -> _Slot:
    os.makedirs(cache_dir, exist_ok=True)
    base = os.path.join(cache_dir, hashlib.sha256(url.encode()).hexdigest()[:24])
    return _Slot(base + ".body", base + ".part", base + ".json")


def check_url(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http and https URLs are fetched")


def fetch(url: str, cache_dir: str, policy: FetchPolicy, *, conditional: bool = True) -> FetchResult:
    """Download `url` into its cache slot, resuming and retrying; raise FetchError when it cannot."""
    check_url(url)
    slot = _slot(cache_dir, url)
    result = FetchResult(url=url, path=slot.body, changed=True)
    for attempt in range(policy.retries + 1):
        result.attempts = attempt + 1
        try:
            return _attempt(url, slot, policy, conditional, result)
        except _Retry as exc:
            result.log.append(f"attempt {attempt + 1}: {exc}")
            if attempt < policy.retries:
                time.sleep(policy.backoff * (2**attempt))
    raise FetchError(f"{url}: giving up after {policy.retries + 1} attempts ({result.log[-1]})")


def _headers(slot: _Slot, conditional: bool) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    meta = slot.load_meta()
    partial = os.path.exists(slot.part) and os.path.getsize(slot.part) > 0
    validator = meta.get("part_etag") or meta.get("part_last_modified")
    if partial and validator:
        headers["Range"] = f"bytes={os.path.getsize(slot.part)}-"
        headers["If-Range"] = validator
    elif conditional and os.path.exists(slot.body):
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    return headers


def _attempt(
    url: str, slot: _Slot, policy: FetchPolicy, conditional: bool, result: FetchResult
) -> FetchResult:
    headers = _headers(slot, conditional)
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked in check_url
    try:
        response = urllib.request.urlopen(request, timeout=policy.timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        return _http_error(exc, url, slot, result)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Retry(f"cannot connect: {getattr(exc, 'reason', exc)}") from exc
    with response:
        resumed = response.status == http.client.PARTIAL_CONTENT and "Range" in headers
        _remember_validators(slot, response.headers)
        _receive(response, slot, policy, resumed, url)
    meta = slot.load_meta()
    meta.update({"etag": meta.pop("part_etag", ""), "last_modified": meta.pop("part_last_modified", "")})
    os.replace(slot.part, slot.body)
    slot.save_meta(meta)
    result.resumed = result.resumed or resumed
    return result


def _http_error(exc: urllib.error.HTTPError, url: str, slot: _Slot, result: FetchResult) -> FetchResult:
    exc.close()
    if exc.code == http.client.NOT_MODIFIED and os.path.exists(slot.body):
        result.changed = False
        return result
    if exc.code == http.client.REQUESTED_RANGE_NOT_SATISFIABLE:
        _drop_part(slot)
        raise _Retry("server refused the resume range; restarting")
    if exc.code in _RETRY_STATUS:
        raise _Retry(f"HTTP {exc.code}")
    raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}")


def _drop_part(slot: _Slot) -> None:
    if os.path.exists(slot.part):
        os.unlink(slot.part)
    meta = slot.load_meta()
    meta.pop("part_etag", None)
    meta.pop("part_last_modified", None)
    slot.save_meta(meta)


def _remember_validators(slot: _Slot, headers: http.client.HTTPMessage) -> None:
    meta = slot.load_meta()
    meta["part_etag"] = headers.get("ETag", "") or ""
    meta["part_last_modified"] = headers.get("Last-Modified", "") or ""
    slot.save_meta(meta)


def _receive(
    response: http.client.HTTPResponse, slot: _Slot, policy: FetchPolicy, resumed: bool, url: str
) -> None:
    """Stream the body to the partial file; keep what arrived if the connection breaks, for a resume."""
    mode = "ab" if resumed else "wb"
    have = start = os.path.getsize(slot.part) if resumed else 0
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit() and have + int(length) > policy.max_bytes:
        _drop_part(slot)
        raise FetchError(f"{url}: {have + int(length)} bytes exceeds the {policy.max_bytes}-byte cap")
    with open(slot.part, mode) as out:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (http.client.IncompleteRead, OSError) as exc:
                raise _Retry(f"connection broke after {have} bytes") from exc
            if not chunk:
                break
            have += len(chunk)
            if have > policy.max_bytes:
                out.close()
                _drop_part(slot)
                raise FetchError(f"{url}: body exceeds the {policy.max_bytes}-byte cap")
            out.write(chunk)
    if length is not None and length.isdigit() and have < start + int(length):
        raise _Retry(f"connection closed after {have} of {start + int(length)} bytes")


def fetch_head(url: str, policy: FetchPolicy, size: int) -> bytes:
    """The first `size` bytes of `url` (a Range request; a server without Range support sends it all)."""
    check_url(url)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Range": f"bytes=0-{size - 1}"}
    last = ""
    for attempt in range(policy.retries + 1):
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked
        try:
            with urllib.request.urlopen(request, timeout=policy.timeout) as response:  # noqa: S310
                return bytes(response.read(size))
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code not in _RETRY_STATUS:
                raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < policy.retries:
            time.sleep(policy.backoff * (2**attempt))
    raise FetchError(f"{url}: giving up after {policy.retries + 1} attempts ({last})")
