"""Builders for mail-family test inputs: MIME messages (stdlib `email`), BinHex 4.0, uuencode and TNEF.

The stdlib lost its `binhex` module in 3.11, so the BinHex encoder is written here from the format
(header, CRC-16/XMODEM per fork, 0x90 run-length, 6-bit alphabet), independently of the decoder.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import zipfile
from email import policy
from email.message import EmailMessage

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
HQX_ALPHABET = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def message(subject: str = "test") -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "sender@example.com"
    msg["To"] = "victim@example.com"
    msg["Subject"] = subject
    return msg


def as_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=policy.SMTP)


def uuencode(data: bytes, name: str, mode: str = "644") -> bytes:
    lines = [f"begin {mode} {name}\n".encode()]
    lines += [binascii.b2a_uu(data[pos : pos + 45]) for pos in range(0, len(data), 45)]
    return b"".join([*lines, b"`\nend\n"])


def _rle(data: bytes, *, runs: bool = True) -> bytes:
    """BinHex run-length: 0x90 is always escaped as 90 00; runs of 3+ become `byte 90 count`."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        byte = data[pos]
        run = 1
        while runs and pos + run < len(data) and data[pos + run] == byte and run < 255:
            run += 1
        literal = b"\x90\x00" if byte == 0x90 else bytes([byte])
        out += literal + bytes([0x90, run]) if run >= 3 else literal * run
        pos += run
    return bytes(out)


_TO_HQX = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", HQX_ALPHABET)


def _sixbit(data: bytes) -> bytes:
    """6-bit groups, most significant first, last group zero-filled: base64 without padding, remapped."""
    return base64.b64encode(data).rstrip(b"=").translate(_TO_HQX)


def hqx_wrap(packed: bytes) -> bytes:
    """The text form of an already run-length-encoded BinHex stream."""
    body = b":" + _sixbit(packed) + b":"
    wrapped = b"\r\n".join(body[pos : pos + 64] for pos in range(0, len(body), 64))
    return b"(This file must be converted with BinHex 4.0)\r\n\r\n" + wrapped + b"\r\n"


def binhex_header(name: str, data_len: int, rsrc_len: int) -> bytes:
    raw_name = name.encode("mac_roman")
    header = bytes([len(raw_name)]) + raw_name + b"\0" + b"TEXTttxt" + b"\0\0"
    header += struct.pack(">II", data_len, rsrc_len)
    return header + struct.pack(">H", binascii.crc_hqx(header, 0))


def binhex(data: bytes, name: str, resource: bytes = b"", *, rle: bool = True) -> bytes:
    """A complete BinHex 4.0 file (marker line, colon-delimited 64-column body)."""
    stream = binhex_header(name, len(data), len(resource))
    stream += data + struct.pack(">H", binascii.crc_hqx(data, 0))
    stream += resource + struct.pack(">H", binascii.crc_hqx(resource, 0))
    return hqx_wrap(_rle(stream, runs=rle))


def _attribute(level: int, attr: int, payload: bytes) -> bytes:
    checksum = sum(payload) & 0xFFFF
    return struct.pack("<BII", level, attr, len(payload)) + payload + struct.pack("<H", checksum)


def tnef(attachments: list[tuple[str, bytes]], *, title_first: bool = True) -> bytes:
    """A minimal winmail.dat: version attribute, then RendData/Title/Data per attachment."""
    out = struct.pack("<IH", 0x223E9F78, 0x1234) + _attribute(1, 0x00089006, b"\0\0\1\0")
    for name, data in attachments:
        title = _attribute(2, 0x00018010, name.encode("cp1252") + b"\0")
        body = _attribute(2, 0x0006800F, data)
        out += _attribute(2, 0x00069002, bytes(14))
        out += title + body if title_first else body + title
    return out
