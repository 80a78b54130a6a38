"""mbox: a file of messages, each introduced by a `From ` line at the start of the file or after a blank
line. ClamAV types mbox files as CL_TYPE_MAIL and walks every message in them, so the mail unpacker calls
`split_mbox` rather than registering a type of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from vigil.layer import ByteView

#: A separator line: at offset 0, or right after an empty line (LF or CRLF line ends).
_SEPARATOR = re.compile(rb"(?:\A|(?<=\n\n)|(?<=\n\r\n))From [^\n]*(?:\n|\Z)")


def is_mbox(data: ByteView) -> bool:
    return bytes(data[:5]) == b"From "


def split_mbox(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each message's header-and-body, without its `From ` line, in file order.

    Spans index `data`, so no message is copied; a file without separators is one message.
    """
    seps = [(match.start(), match.end()) for match in _SEPARATOR.finditer(data)]
    if not seps:
        yield 0, len(data)
        return
    if seps[0][0] > 0:  # text before the first separator is kept: it may be a message of its own
        yield 0, seps[0][0]
    ends = [start for start, _ in seps[1:]] + [len(data)]
    for (_, start), end in zip(seps, ends, strict=True):
        yield start, end
