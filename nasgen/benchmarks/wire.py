"""TFRecord framing and protobuf wire format, read without TensorFlow or protobuf.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little-endian) | uint32 masked CRC32C(length bytes) | data | uint32 masked CRC32C(data)

CRC32C is the Castagnoli CRC (reflected polynomial 0x82F63B78); "masked" rotates it right by
15 bits and adds 0xA282EAD8. No CRC32C package is a dependency of nasgen, and a byte-at-a-time
loop in Python checks about 2 MB/s (minutes for the 0.5 GB NAS-Bench-101 file), so the CRCs of
a batch of records are computed together with numpy: records sorted by length, byte column
``j`` updates the CRC registers of the records longer than ``j`` (a slice, not a mask).

Protobuf messages are decoded field by field (:func:`message_fields`); the caller knows the
schema and converts raw values (:func:`as_double`, :func:`as_int32`).
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np

from nasgen.errors import DataError

CASTAGNOLI = 0x82F63B78
MASK_DELTA = 0xA282EAD8
# Records whose CRCs are computed together: bounds the padded byte matrix (batch x longest record).
CRC_BATCH = 4096
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(CASTAGNOLI), table >> 1).astype(np.uint32)
    return table


CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli) of ``data``; ``crc32c(b"123456789") == 0xE3069283``."""
    return int(crc32c_batch([data])[0])


def crc32c_batch(blobs: Sequence[bytes]) -> np.ndarray:
    """CRC32C of each of ``blobs`` (uint32 array), all computed together."""
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    order = np.argsort(-lengths, kind="stable")
    longest = int(lengths.max(initial=0))
    padded = np.zeros((len(blobs), longest), dtype=np.uint8)
    for row, index in enumerate(order):
        padded[row, :lengths[index]] = np.frombuffer(blobs[index], dtype=np.uint8)
    # longer_than[j]: how many (sorted) records have a byte at column j
    longer_than = np.searchsorted(-lengths[order], -np.arange(longest), side="left")
    crc = np.full(len(blobs), 0xFFFFFFFF, dtype=np.uint32)
    for column in range(longest):
        active = int(longer_than[column])
        register = crc[:active]
        crc[:active] = CRC_TABLE[(register ^ padded[:active, column]) & 0xFF] ^ (register >> 8)
    result = np.empty_like(crc)
    result[order] = crc ^ np.uint32(0xFFFFFFFF)
    return result


def masked(crc: np.ndarray) -> np.ndarray:
    """TFRecord's masked form of CRC32C values (uint32 array)."""
    crc = np.asarray(crc, dtype=np.uint32)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(MASK_DELTA)


def frame(data: Sequence[bytes]) -> bytes:
    """``data`` framed as TFRecord records (what TensorFlow's TFRecordWriter writes)."""
    lengths = [struct.pack("<Q", len(d)) for d in data]
    length_crcs, data_crcs = masked(crc32c_batch(lengths)), masked(crc32c_batch(data))
    return b"".join(length + struct.pack("<I", lc) + d + struct.pack("<I", dc)
                    for length, lc, d, dc in zip(lengths, length_crcs.tolist(), data, data_crcs.tolist()))


def _check_crcs(path: Path, first: int, batch: list[tuple[bytes, int, bytes, int]]) -> None:
    headers, header_crcs, blobs, data_crcs = zip(*batch)
    for what, blobs_, recorded in (("length", headers, header_crcs), ("data", blobs, data_crcs)):
        wrong = np.flatnonzero(masked(crc32c_batch(blobs_)) != np.asarray(recorded, dtype=np.uint32))
        if len(wrong):
            raise DataError(f"{path} is corrupt: record {first + int(wrong[0])} fails its {what} CRC32C check; "
                            "download the file again")


def read_records(path: "str | Path") -> Iterator[bytes]:
    """The data of each record of the TFRecord file ``path``, in file order; a truncated file or a
    failing CRC raises :class:`DataError` naming the record. (Checking CRCs costs about a quarter
    of the time of reading NAS-Bench-101 records; not worth an option to skip it.)"""
    path = Path(path)
    with open(path, "rb") as f:
        batch: list[tuple[bytes, int, bytes, int]] = []
        count = 0
        for record in _frames(path, f):
            batch.append(record)
            if len(batch) == CRC_BATCH:
                _check_crcs(path, count, batch)
                yield from (data for _, _, data, _ in batch)
                count += len(batch)
                batch = []
        if batch:
            _check_crcs(path, count, batch)
        yield from (data for _, _, data, _ in batch)


def _frames(path: Path, f: BinaryIO) -> Iterator[tuple[bytes, int, bytes, int]]:
    """(length bytes, length CRC, data, data CRC) of each record."""
    index = 0
    while header := f.read(_HEADER.size):
        if len(header) < _HEADER.size:
            raise DataError(f"{path} is truncated inside the header of record {index}; download the file again")
        length, length_crc = _HEADER.unpack(header)
        data = f.read(length)
        footer = f.read(_FOOTER.size)
        if len(data) < length or len(footer) < _FOOTER.size:
            raise DataError(f"{path} is truncated inside record {index} (or is not a TFRecord file: its header "
                            f"announces {length} bytes); download the file again")
        yield header[:8], length_crc, data, _FOOTER.unpack(footer)[0]
        index += 1


# Protobuf wire types.
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


def _varint(buffer: bytes, position: int) -> tuple[int, int]:
    value = buffer[position]
    if value < 0x80:  # field keys and short lengths: one byte, the common case by far
        return value, position + 1
    value = shift = 0
    while True:
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def message_fields(buffer: bytes) -> Iterator[tuple[int, int, "int | bytes"]]:
    """``(field number, wire type, raw value)`` of each field of a serialized protobuf message:
    an int for varints, the bytes of fixed64 / fixed32 / length-delimited fields (nested
    messages, strings, packed arrays). Group wire types (deprecated) raise ``ValueError``."""
    position, end = 0, len(buffer)
    while position < end:
        key, position = _varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, position = _varint(buffer, position)
        elif wire_type in (FIXED64, FIXED32):
            size = 8 if wire_type == FIXED64 else 4
            value, position = buffer[position:position + size], position + size
        elif wire_type == LENGTH_DELIMITED:
            size, position = _varint(buffer, position)
            value, position = buffer[position:position + size], position + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type} (field {number})")
        if position > end:
            raise ValueError(f"protobuf message truncated in field {number}")
        yield number, wire_type, value


_DOUBLE = struct.Struct("<d")


def as_double(raw: bytes) -> float:
    return _DOUBLE.unpack(raw)[0]


def as_int32(raw: int) -> int:
    """A varint-encoded int32 (negative values are sign-extended to 64 bits on the wire)."""
    return raw - (1 << 64) if raw >= 1 << 63 else raw
