"""OOXML (docx/docm, xlsx/xlsm, pptx/pptm): zips that `engine.filetype` types by their first members.

clamscan 1.4.6 types these CL_TYPE_OOXML_WORD/_XL/_PPT (and _HWP for Hangul), so `.ldb` signatures can
target them, but scans their members as a zip's. The zip unpacker does the reading; this unpacker only
claims the OOXML types and marks members that are OLE2 compound files (`word/vbaProject.bin`,
`xl/embeddings/oleObject1.bin`...) so they get OLE2 treatment even where magic typing would differ.
"""

from __future__ import annotations

from collections.abc import Iterator

from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack.cfb import MAGIC as OLE2_MAGIC
from vigil.unpack.zip import ZipUnpacker

_ZIP = ZipUnpacker()


class OoxmlUnpacker:
    name = "ooxml"
    types = frozenset({FileType.OOXML_WORD, FileType.OOXML_XL, FileType.OOXML_PPT, FileType.OOXML_HWP})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        for child in _ZIP.children(layer, ctx):
            if bytes(child.data[:8]) == OLE2_MAGIC:
                yield Child(child.name, child.data, FileType.MSOLE2, child.info)
            else:
                yield child
