"""ONNX operators. Importing the modules registers their ops (the list is explicit on purpose)."""

from . import conv, elementwise, linear, reduce, shape_ops
from .registry import Op, TensorInfo, create, supported_ops

__all__ = [
    "Op",
    "TensorInfo",
    "conv",
    "create",
    "elementwise",
    "linear",
    "reduce",
    "shape_ops",
    "supported_ops",
]
