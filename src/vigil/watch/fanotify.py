"""A thin ctypes binding of Linux fanotify(7): init, mark, read events, answer permission events.

Only what on-access protection needs. Constants are the kernel's UAPI values (linux/fanotify.h).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

# fanotify_init flags
FAN_CLOEXEC = 0x01
FAN_NONBLOCK = 0x02
FAN_CLASS_NOTIF = 0x00
FAN_CLASS_CONTENT = 0x04
FAN_UNLIMITED_QUEUE = 0x10
FAN_UNLIMITED_MARKS = 0x20

# fanotify_mark flags
FAN_MARK_ADD = 0x01
FAN_MARK_REMOVE = 0x02
FAN_MARK_DONT_FOLLOW = 0x04
FAN_MARK_ONLYDIR = 0x08
FAN_MARK_MOUNT = 0x10
FAN_MARK_IGNORED_MASK = 0x20
FAN_MARK_IGNORED_SURV_MODIFY = 0x40
FAN_MARK_FILESYSTEM = 0x100

# event mask bits
FAN_CLOSE_WRITE = 0x08
FAN_Q_OVERFLOW = 0x4000
FAN_OPEN_PERM = 0x10000
FAN_OPEN_EXEC_PERM = 0x40000
FAN_EVENT_ON_CHILD = 0x08000000
PERMISSION_EVENTS = FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM

# responses
FAN_ALLOW = 0x01
FAN_DENY = 0x02

FAN_NOFD = -1
METADATA_VERSION = 3
AT_FDCWD = -100
_METADATA = struct.Struct("=IBBHQii")
_RESPONSE = struct.Struct("=iI")

_libc = ctypes.CDLL(None, use_errno=True)
_init = getattr(_libc, "fanotify_init", None)
_mark = getattr(_libc, "fanotify_mark", None)
if _init is not None and _mark is not None:
    _init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    _init.restype = ctypes.c_int
    _mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
    _mark.restype = ctypes.c_int


@dataclass(frozen=True, slots=True)
class Event:
    mask: int
    fd: int
    pid: int

    @property
    def is_permission(self) -> bool:
        return bool(self.mask & PERMISSION_EVENTS)


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def init(flags: int, event_f_flags: int) -> int:
    if _init is None:
        raise OSError(errno.ENOSYS, "fanotify_init: libc has no fanotify")
    return _check(int(_init(flags, event_f_flags)), "fanotify_init")


def mark(fan_fd: int, flags: int, mask: int, path: str | bytes) -> None:
    if _mark is None:
        raise OSError(errno.ENOSYS, "fanotify_mark: libc has no fanotify")
    _check(int(_mark(fan_fd, flags, mask, AT_FDCWD, os.fsencode(path))), f"fanotify_mark {path!r}")


def available() -> tuple[bool, str]:
    """Can this process open a permission-class fanotify group? (False, why) if not."""
    try:
        fd = init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
    except OSError as exc:
        reason = {errno.ENOSYS: "kernel without fanotify", errno.EPERM: "needs CAP_SYS_ADMIN (run as root)",
                  errno.EINVAL: "kernel without permission events"}.get(exc.errno or 0, str(exc))
        return False, reason
    os.close(fd)
    return True, ""


def parse(buffer: bytes) -> Iterator[Event]:
    offset = 0
    while offset + _METADATA.size <= len(buffer):
        event_len, version, _reserved, _meta_len, mask, fd, pid = _METADATA.unpack_from(buffer, offset)
        if version != METADATA_VERSION:
            raise OSError(errno.EPROTO, f"fanotify metadata version {version}, expected {METADATA_VERSION}")
        yield Event(mask, fd, pid)
        offset += max(event_len, _METADATA.size)


def respond(fan_fd: int, fd: int, response: int) -> None:
    os.write(fan_fd, _RESPONSE.pack(fd, response))
