"""webinfer: an ONNX inference engine whose same Python code runs natively and in Pyodide."""

from .errors import (
    BackendError,
    InputError,
    ModelLoadError,
    ShapeError,
    UnsupportedModelError,
    UnsupportedOpError,
    WebinferError,
)
from .session import InferenceSession, MemoryReport, NodeArg

__version__ = "0.1.0"
__all__ = [
    "BackendError",
    "InferenceSession",
    "InputError",
    "MemoryReport",
    "ModelLoadError",
    "NodeArg",
    "ShapeError",
    "UnsupportedModelError",
    "UnsupportedOpError",
    "WebinferError",
]
