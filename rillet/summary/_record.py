"""TFRecord framing, the container of TensorBoard event files.

Each record is ``length (uint64 LE) | masked_crc(length) (uint32 LE) | data |
masked_crc(data) (uint32 LE)``, where the checksum is CRC-32C (Castagnoli) "masked" so that
a CRC of data that itself holds CRCs does not look degenerate.

>>> hex(crc32c(b"123456789"))  # the standard CRC-32C check value
'0xe3069283'
"""

from __future__ import annotations

import struct

_POLY = 0x82F63B78  # the Castagnoli polynomial, bit-reversed (the CRC runs LSB first)
_MASK_DELTA = 0xA282EAD8


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    """The CRC-32C of ``data``: one table lookup per byte."""
    crc, table = 0xFFFFFFFF, _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """Rotate the CRC right by 15 bits and add a constant, as TFRecord does."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord holding ``data``."""
    header = struct.pack("<Q", len(data))
    return b"".join(
        [
            header,
            struct.pack("<I", masked_crc32c(header)),
            data,
            struct.pack("<I", masked_crc32c(data)),
        ]
    )
