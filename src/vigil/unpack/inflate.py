"""Deflate decoding for the unpackers, by zlib-ng.

zlib-ng is zlib's inflate with vectorised paths, behind the same API (`decompressobj`, `max_length`,
`unconsumed_tail`, `eof`). On the bench corpus's 1,145 gzip files (25 MB in, 60 MB out) it decodes in
0.14 s where the standard zlib takes 0.24 s, and deflate (gzip, zip members, PDF streams, OLE2 streams)
is the largest single cost of a first scan after the matchers. The few small streams decoded outside
the scan path (update bundles, the `.cdiff` reader) keep the standard module.
"""

from __future__ import annotations

from typing import cast

from zlib_ng import zlib_ng

MAX_WBITS = zlib_ng.MAX_WBITS
#: raised for a corrupt stream, as zlib.error is (the stub declares an instance, the module has the class)
error = cast("type[Exception]", zlib_ng.error)
Decompress = zlib_ng._Decompress
decompressobj = zlib_ng.decompressobj
