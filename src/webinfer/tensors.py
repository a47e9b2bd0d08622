"""Conversion between user values (numpy arrays) and the byte buffers backends read and write.

Kept apart from the session so that a numpy-free variant for the browser replaces one module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import dtypes
from .errors import InputError
from .graph import ValueInfo


@dataclass
class Feed:
    shape: tuple[int, ...]
    buffer: memoryview
    keep: Any  # the contiguous array the buffer views


@dataclass
class Output:
    value: Any
    buffer: memoryview


def to_input(vi: ValueInfo, value: Any) -> Feed:
    """Check one feed against the model's declaration and expose its bytes without copying."""
    expected = dtypes.info(vi.dtype)
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype != np.dtype(expected.numpy_name):
        raise InputError(
            f"input '{vi.name}' has dtype {array.dtype}, "
            f"expected {expected.numpy_name} ({expected.onnx_type})"
        )
    if vi.shape is not None:
        if array.ndim != len(vi.shape):
            raise InputError(
                f"input '{vi.name}' has rank {array.ndim} {array.shape}, expected rank {len(vi.shape)}"
            )
        for axis, (got, want) in enumerate(zip(array.shape, vi.shape, strict=True)):
            if isinstance(want, int) and want >= 0 and got != want:
                raise InputError(
                    f"input '{vi.name}' has shape {array.shape}, expected {tuple(vi.shape)} (axis {axis})"
                )
    array = np.ascontiguousarray(array)
    return Feed(tuple(array.shape), memoryview(array).cast("B") if array.size else memoryview(b""), array)


def new_output(dtype: int, shape: tuple[int, ...]) -> Output:
    array = np.empty(shape, dtype=dtypes.info(dtype).numpy_name)
    return Output(array, memoryview(array).cast("B") if array.size else memoryview(bytearray()))
