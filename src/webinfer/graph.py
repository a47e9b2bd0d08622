"""The engine's own model representation, independent of the protobuf classes of the onnx package.

The loader fills it from the wire format; passes rewrite it; the lowering turns it into kernel steps.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

from . import dtypes

Dim = int | str | None  # concrete size, symbolic name, or unknown


class Sized:
    """Element count and byte size of anything with a dtype and a concrete shape."""

    dtype: int
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * dtypes.info(self.dtype).itemsize


@dataclass
class TensorData(Sized):
    """A constant tensor: little-endian bytes, usually a zero-copy view into the model file."""

    dtype: int
    shape: tuple[int, ...]
    data: memoryview

    @classmethod
    def from_values(cls, dtype: int, shape: tuple[int, ...], values: list[Any]) -> TensorData:
        """A small constant built from Python values (folded shapes, axes, scalars)."""
        data = struct.pack(f"<{len(values)}{dtypes.info(dtype).struct_char}", *values)
        return cls(dtype, tuple(shape), memoryview(data))

    def reshaped(self, shape: tuple[int, ...]) -> TensorData:
        return TensorData(self.dtype, tuple(shape), self.data)

    def tolist(self) -> list[Any]:
        """Flat Python values (used for small int tensors such as shapes and axes)."""
        fmt: Any = dtypes.info(self.dtype).struct_char
        return self.data.cast("B").cast(fmt).tolist()


@dataclass
class ValueInfo:
    name: str
    dtype: int
    shape: tuple[Dim, ...] | None  # None: rank unknown


@dataclass
class Node:
    op_type: str
    name: str
    inputs: list[str]  # "" marks an omitted optional input
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""

    def describe(self) -> str:
        """How errors name a node: its op type and its name (or first output when unnamed)."""
        return f"{self.op_type} node '{self.name or (self.outputs[0] if self.outputs else '?')}'"


@dataclass
class Graph:
    name: str
    nodes: list[Node]
    inputs: list[ValueInfo]  # graph inputs that are not initializers
    outputs: list[ValueInfo]
    initializers: dict[str, TensorData] = field(default_factory=dict)
    value_info: dict[str, ValueInfo] = field(default_factory=dict)


@dataclass
class Model:
    graph: Graph
    opsets: dict[str, int]  # domain ("" = ai.onnx) -> version
    ir_version: int = 0
    producer_name: str = ""

    @property
    def opset(self) -> int:
        return self.opsets.get("", self.opsets.get("ai.onnx", 1))


@dataclass
class TensorInfo:
    """What inference knows of a tensor: dtype, concrete shape and, for constants, the bytes."""

    dtype: int
    shape: tuple[int, ...]
    const: TensorData | None = None

    def values(self) -> list[Any]:
        """The constant's flat values (shape vectors, axes, scalars); only valid for constants."""
        assert self.const is not None
        return self.const.tolist()
