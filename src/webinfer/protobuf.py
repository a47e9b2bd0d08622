"""A minimal reader of the protobuf wire format, enough to walk ONNX files without compiled code.

It runs on memoryviews and returns slices of them, so large payloads (tensor bytes) are never
copied. Each message is described by a `Schema` that names the fields a caller wants and the wire
types each may use; other fields are skipped. Every malformation raises ModelLoadError.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import ModelLoadError

# Wire types.
VARINT, I64, LEN, I32 = 0, 1, 2, 5
_WIRE_NAMES = {0: "varint", 1: "64-bit", 2: "length-delimited", 3: "group start", 4: "group end", 5: "32-bit"}

# Accepted wire types of a field, as bit masks over the wire type numbers. Repeated numeric fields
# may come packed (one length-delimited run) or unpacked (one element per field), so they accept both.
SCALAR = 1 << VARINT
BYTES = 1 << LEN
FLOAT = 1 << I32
INTS = SCALAR | BYTES
FLOATS = FLOAT | BYTES
DOUBLES = (1 << I64) | BYTES

_MASK64 = (1 << 64) - 1
_FLOAT = struct.Struct("<f")


@dataclass(frozen=True)
class Schema:
    """The fields of one message type that a caller reads: number -> (name, accepted wire types)."""

    message: str
    fields: dict[int, tuple[str, int]]


def iter_fields(view: memoryview, offset: int, schema: Schema) -> Iterator[tuple[str, int, Any, int]]:
    """Yield (name, wire_type, value, value_offset) for the fields of `schema` found in `view`.

    The value is an int for varints, else a slice of `view` (4 or 8 bytes for fixed-width fields);
    it is typed Any because the schema, checked here, already fixes which one a caller gets.

    `view` is a 'B'-format memoryview holding one message; `offset` is where it starts in the whole
    file, so errors and nested messages can report absolute byte positions.
    """
    pos = 0
    end = len(view)
    fields = schema.fields
    while pos < end:
        field_pos = offset + pos
        key, pos = read_varint(view, pos, offset)
        number = key >> 3
        wire_type = key & 7
        if wire_type == VARINT:
            start = pos
            value: int | memoryview
            value, pos = read_varint(view, pos, offset)
        elif wire_type == LEN:
            length, pos = read_varint(view, pos, offset)
            if length > end - pos:
                name = fields[number][0] if number in fields else str(number)
                raise ModelLoadError(
                    f"{schema.message} field '{name}' length {length} exceeds remaining "
                    f"{end - pos} bytes at byte {offset + pos}"
                )
            start = pos
            pos += length
            value = view[start:pos]
        elif wire_type in (I32, I64):
            start = pos
            pos += 4 if wire_type == I32 else 8
            if pos > end:
                raise ModelLoadError(f"truncated {_WIRE_NAMES[wire_type]} field at byte {offset + start}")
            value = view[start:pos]
        elif wire_type in (3, 4):
            raise ModelLoadError(f"protobuf groups are not supported (field {number} at byte {field_pos})")
        else:
            raise ModelLoadError(f"invalid wire type {wire_type} at byte {field_pos}")
        if number == 0:
            raise ModelLoadError(f"invalid field number 0 at byte {field_pos}")
        spec = fields.get(number)
        if spec is None:
            continue
        name, accepted = spec
        if not (accepted >> wire_type) & 1:
            raise ModelLoadError(
                f"{schema.message} field '{name}' has wire type {_WIRE_NAMES[wire_type]} "
                f"at byte {field_pos}, which its type does not allow"
            )
        yield name, wire_type, value, offset + start


def read_varint(view: memoryview, pos: int, offset: int) -> tuple[int, int]:
    """Decode the varint at `pos`; return its value (unsigned 64-bit) and the position after it."""
    end = len(view)
    if pos < end:
        byte = view[pos]
        if byte < 0x80:
            return byte, pos + 1
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise ModelLoadError(f"truncated varint at byte {offset + pos}")
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise ModelLoadError(f"varint longer than 10 bytes at byte {offset + pos}")


def varints(view: memoryview, offset: int) -> list[int]:
    """Decode a packed run of varints (unsigned 64-bit values)."""
    out: list[int] = []
    append = out.append
    pos = 0
    end = len(view)
    while pos < end:
        value = view[pos]
        if value < 0x80:
            pos += 1
        else:
            value, pos = read_varint(view, pos, offset)
        append(value)
    return out


def signed(value: int) -> int:
    """Reinterpret a decoded varint as int64 (protobuf sign-extends negative int32/int64 to 64 bits)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def float32(view: memoryview) -> float:
    """The float held by a 32-bit field."""
    return _FLOAT.unpack(view)[0]


def text(view: memoryview, offset: int) -> str:
    """Decode a string field, which protobuf requires to be UTF-8."""
    try:
        return str(view, "utf-8")
    except UnicodeDecodeError as e:
        raise ModelLoadError(f"invalid UTF-8 in string at byte {offset + e.start}") from None
