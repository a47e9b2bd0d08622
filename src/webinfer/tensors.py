"""Conversion between user values and the byte buffers backends read and write.

With numpy importable, inputs are numpy arrays (or anything numpy.asarray takes) and outputs are
numpy arrays, as with onnxruntime. Without numpy (Pyodide offline has none) inputs are Python
buffers: a memoryview cast to the input's shape, an array.array (its shape taken from the model's
static shape), or a JS typed array; outputs are memoryviews cast to the output's format and shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import dtypes
from .errors import InputError
from .graph import ValueInfo

try:
    import numpy as np
except ImportError:  # the browser without numpy: plain buffers
    np = None  # type: ignore[assignment]


@dataclass
class Feed:
    shape: tuple[int, ...]
    buffer: memoryview
    keep: Any  # the object whose memory the buffer views


@dataclass
class Output:
    value: Any
    buffer: memoryview


def _check_shape(vi: ValueInfo, shape: tuple[int, ...]) -> None:
    if vi.shape is None:
        return
    if len(shape) != len(vi.shape):
        raise InputError(f"input '{vi.name}' has rank {len(shape)} {shape}, expected rank {len(vi.shape)}")
    for axis, (got, want) in enumerate(zip(shape, vi.shape, strict=True)):
        if isinstance(want, int) and want >= 0 and got != want:
            raise InputError(f"input '{vi.name}' has shape {shape}, expected {tuple(vi.shape)} (axis {axis})")


def _dtype_error(vi: ValueInfo, got: str) -> InputError:
    expected = dtypes.info(vi.dtype)
    return InputError(
        f"input '{vi.name}' has dtype {got}, expected {expected.numpy_name} ({expected.onnx_type})"
    )


def to_input(vi: ValueInfo, value: Any) -> Feed:
    """Check one feed against the model's declaration and expose its bytes without copying."""
    if np is not None and not isinstance(value, memoryview):
        return _numpy_input(vi, value)
    return _buffer_input(vi, value)


def _numpy_input(vi: ValueInfo, value: Any) -> Feed:
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype != np.dtype(dtypes.info(vi.dtype).numpy_name):
        raise _dtype_error(vi, str(array.dtype))
    _check_shape(vi, tuple(array.shape))
    array = np.ascontiguousarray(array)
    return Feed(tuple(array.shape), _bytes_of(array), array)


def _buffer_input(vi: ValueInfo, value: Any) -> Feed:
    if hasattr(value, "to_py"):  # a JS typed array in Pyodide
        value = value.to_py()
    try:
        view = memoryview(value)
    except TypeError:
        raise InputError(
            f"input '{vi.name}': expected a buffer (memoryview, array.array), got {type(value)}"
        ) from None
    expected = dtypes.info(vi.dtype)
    if view.itemsize != expected.itemsize or dtypes.format_dtype(view.format, view.itemsize) != vi.dtype:
        raise _dtype_error(vi, f"'{view.format}' ({view.itemsize} bytes)")
    if not view.c_contiguous:
        raise InputError(f"input '{vi.name}' is not C-contiguous")
    shape = tuple(view.shape or ())
    declared = vi.shape or ()
    if view.ndim <= 1 and len(declared) != 1:
        if not all(isinstance(d, int) for d in declared):
            raise InputError(
                f"input '{vi.name}' has symbolic dims {declared}: pass a memoryview cast to its shape"
            )
        if math.prod(declared) != view.nbytes // view.itemsize:  # type: ignore[arg-type]
            raise InputError(f"input '{vi.name}' has {len(view)} elements, expected shape {tuple(declared)}")
        shape = tuple(declared)  # type: ignore[arg-type]
    _check_shape(vi, shape)
    return Feed(shape, view.cast("B") if view.nbytes else memoryview(b""), value)


def new_output(dtype: int, shape: tuple[int, ...]) -> Output:
    info = dtypes.info(dtype)
    if np is not None:
        array = np.empty(shape, dtype=info.numpy_name)
        return Output(array, _bytes_of(array))
    raw = memoryview(bytearray(math.prod(shape) * info.itemsize))
    return Output(raw.cast(info.struct_char, shape) if raw.nbytes else raw, raw)


def _bytes_of(array: Any) -> memoryview:
    """A flat byte view of a contiguous numpy array (empty arrays cannot be cast)."""
    return memoryview(array).cast("B") if array.size else memoryview(bytearray())
