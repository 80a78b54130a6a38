"""Tell a running vigild (or clamd) to reload its database, in the clamd protocol: `zRELOAD\\0`.

The address is a unix socket path or `tcp:HOST:PORT`. The daemon answers `RELOADING`; it keeps serving
with the old database until the new one is loaded, so no request is dropped.
"""

from __future__ import annotations

import socket

from vigil.errors import VigilError

_TIMEOUT = 10.0
_MAX_REPLY = 4096


class NotifyError(VigilError):
    """The daemon could not be reached or did not acknowledge the reload."""


def _connect(address: str) -> socket.socket:
    if address.startswith("tcp:"):
        host, _, port = address[4:].rpartition(":")
        return socket.create_connection((host, int(port)), timeout=_TIMEOUT)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(_TIMEOUT)
    sock.connect(address)
    return sock


def request_reload(address: str) -> str:
    """Send the reload command and return the daemon's reply (`RELOADING`)."""
    try:
        with _connect(address) as sock:
            sock.sendall(b"zRELOAD\0")
            reply = b""
            while b"\0" not in reply and len(reply) < _MAX_REPLY:
                chunk = sock.recv(_MAX_REPLY)
                if not chunk:
                    break
                reply += chunk
    except (OSError, ValueError) as exc:
        raise NotifyError(f"cannot reach the daemon at {address}: {exc}") from exc
    text = reply.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    if text != "RELOADING":
        raise NotifyError(f"daemon at {address} answered {text!r} instead of RELOADING")
    return text
