"""ONNX tensor element types: codes, sizes and struct/numpy names, without importing numpy."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class DType(IntEnum):
    """TensorProto.DataType codes (the numbers are ONNX's, so they go straight into plans)."""

    FLOAT = 1
    UINT8 = 2
    INT8 = 3
    UINT16 = 4
    INT16 = 5
    INT32 = 6
    INT64 = 7
    STRING = 8
    BOOL = 9
    FLOAT16 = 10
    DOUBLE = 11
    UINT32 = 12
    UINT64 = 13


@dataclass(frozen=True)
class DTypeInfo:
    itemsize: int
    struct_char: str  # format char for struct/array (little-endian assumed)
    numpy_name: str
    onnx_type: str  # as onnxruntime spells it in NodeArg.type


_INFO: dict[DType, DTypeInfo] = {
    DType.FLOAT: DTypeInfo(4, "f", "float32", "tensor(float)"),
    DType.UINT8: DTypeInfo(1, "B", "uint8", "tensor(uint8)"),
    DType.INT8: DTypeInfo(1, "b", "int8", "tensor(int8)"),
    DType.UINT16: DTypeInfo(2, "H", "uint16", "tensor(uint16)"),
    DType.INT16: DTypeInfo(2, "h", "int16", "tensor(int16)"),
    DType.INT32: DTypeInfo(4, "i", "int32", "tensor(int32)"),
    DType.INT64: DTypeInfo(8, "q", "int64", "tensor(int64)"),
    DType.BOOL: DTypeInfo(1, "?", "bool", "tensor(bool)"),
    DType.FLOAT16: DTypeInfo(2, "e", "float16", "tensor(float16)"),
    DType.DOUBLE: DTypeInfo(8, "d", "float64", "tensor(double)"),
    DType.UINT32: DTypeInfo(4, "I", "uint32", "tensor(uint32)"),
    DType.UINT64: DTypeInfo(8, "Q", "uint64", "tensor(uint64)"),
}

_BY_NUMPY = {info.numpy_name: dt for dt, info in _INFO.items()}
_BY_ONNX_TYPE = {info.onnx_type: dt for dt, info in _INFO.items()}


def info(dtype: int) -> DTypeInfo:
    """Facts about an element type; raises KeyError for STRING and unknown codes."""
    return _INFO[DType(dtype)]


def is_known(dtype: int) -> bool:
    try:
        return DType(dtype) in _INFO
    except ValueError:
        return False


def from_numpy_name(name: str) -> DType:
    return _BY_NUMPY[name]


def from_onnx_type(onnx_type: str) -> DType:
    """'tensor(float)' -> DType.FLOAT."""
    return _BY_ONNX_TYPE[onnx_type]


_FORMATS = {"f": DType.FLOAT, "d": DType.DOUBLE, "e": DType.FLOAT16, "b": DType.INT8, "B": DType.UINT8,
            "?": DType.BOOL, "h": DType.INT16, "H": DType.UINT16}  # fmt: skip
_SIGNED_INTS = {4: DType.INT32, 8: DType.INT64}
_UNSIGNED_INTS = {4: DType.UINT32, 8: DType.UINT64}


def format_dtype(fmt: str, itemsize: int) -> int | None:
    """The element type of a buffer-protocol format ('f', '<q', 'l', ...); C long varies by platform."""
    fmt = fmt.lstrip("@=<")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    if fmt in ("i", "l", "q", "n"):
        return _SIGNED_INTS.get(itemsize)
    if fmt in ("I", "L", "Q", "N"):
        return _UNSIGNED_INTS.get(itemsize)
    return None


def name(dtype: int) -> str:
    try:
        return DType(dtype).name.lower()
    except ValueError:
        return f"dtype#{dtype}"
