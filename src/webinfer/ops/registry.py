"""The operator registry: one class per ONNX op (or op family), found by (domain, op_type).

An op parses its attributes once into a frozen record, infers output dtypes/shapes for concrete input
shapes, and lowers itself to kernel steps through a Lowering (see lowering.py). Backends never see ONNX
ops, only kernels, so adding an op touches this package alone unless it needs a new kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ShapeError, UnsupportedOpError
from ..graph import Node, TensorInfo

if TYPE_CHECKING:
    from ..lowering import Lowering


class Op:
    """Base class: subclasses override what differs; `node` is kept for error messages."""

    op_types: ClassVar[tuple[str, ...]] = ()
    domain: ClassVar[str] = ""
    # Inputs whose *values* inference needs (shape vectors, axes, clip bounds): must be constants.
    value_inputs: ClassVar[tuple[int, ...]] = ()

    def __init__(self, node: Node, opset: int) -> None:
        self.node = node
        self.opset = opset
        self.parse(node)

    def parse(self, node: Node) -> None:
        """Read attributes into fields; raise UnsupportedOpError for variants that are not handled."""

    def infer(self, ins: list[TensorInfo | None]) -> list[TensorInfo]:
        raise NotImplementedError

    def lower(self, lw: Lowering, ins: list[str], outs: list[str]) -> None:
        raise NotImplementedError

    # helpers for subclasses
    @staticmethod
    def padded(ins: list[TensorInfo | None], n: int) -> list[TensorInfo | None]:
        """The first n inputs, None standing for the omitted optional ones."""
        return [*ins, *[None] * n][:n]

    def attr(self, name: str, default: Any = None) -> Any:
        return self.node.attrs.get(name, default)

    def fail(self, message: str) -> ShapeError:
        return ShapeError(f"{self.node.describe()}: {message}")

    def unsupported(self, message: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"{self.node.describe()}: {message}")


_REGISTRY: dict[tuple[str, str], type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: make an Op subclass findable by each of its op_types."""
    for op_type in cls.op_types:
        key = (cls.domain, op_type)
        if key in _REGISTRY:
            raise RuntimeError(f"op {op_type} registered twice")
        _REGISTRY[key] = cls
    return cls


def _domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def create(node: Node, opsets: dict[str, int]) -> Op:
    """Instantiate the op for a node, or fail naming the op type and the node."""
    domain = _domain(node.domain)
    cls = _REGISTRY.get((domain, node.op_type))
    if cls is None:
        where = f" (domain '{node.domain}')" if domain else ""
        raise UnsupportedOpError(f"unsupported op {node.op_type}{where}: {node.describe()}")
    opset = opsets.get(node.domain, opsets.get(domain, opsets.get("ai.onnx", opsets.get("", 1))))
    return cls(node, opset)


def supported_ops() -> list[str]:
    return sorted(op for _, op in _REGISTRY)
