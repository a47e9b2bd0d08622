"""What the C kernel library of csrc/ can run: shared by the backends that run it (native, wasm).

These mirror the checks of csrc/plan.c, so a plan the C side would refuse is refused at compile
time with the ONNX node's name instead of at run time with a step number.
"""

from __future__ import annotations

from typing import Any

from .. import dtypes
from ..dtypes import DType
from ..errors import BackendError
from ..kernels import BinOp, Kernel
from ..plan import Plan, Step

_F32_ONLY = {
    Kernel.UNARY,
    Kernel.GEMM,
    Kernel.CONV,
    Kernel.POOL,
    Kernel.REDUCE,
    Kernel.SOFTMAX,
    Kernel.LAYERNORM,
    Kernel.BATCHNORM,
}
_NUMERIC = {DType.FLOAT, DType.INT32, DType.INT64}


def _binary_unsupported(op: int, a: int, b: int, y: int) -> str | None:
    """The C kernel's dtype rules (csrc/plan.c binary_types_ok)."""
    name = BinOp(op).name
    if a != b:
        return f"{name} operands differ in dtype"
    if op in (BinOp.AND, BinOp.OR):
        ok = a == y == DType.BOOL
    elif op >= BinOp.EQUAL:
        ok = y == DType.BOOL and (a in _NUMERIC or (op == BinOp.EQUAL and a == DType.BOOL))
    else:
        ok = a in _NUMERIC and y == a
    return None if ok else f"{name} on {dtypes.name(a)} -> {dtypes.name(y)} is not implemented natively"


def unsupported(step: Step) -> str | None:
    """None when the C kernels can run the step, else why not."""
    codes = [t.dtype for t in step.tensors]
    unknown = [c for c in codes if not dtypes.is_known(c)]
    if unknown:
        return f"{step.kernel.name} cannot handle dtype {dtypes.name(unknown[0])}"
    if any(len(t.shape) > 8 for t in step.tensors):
        return f"{step.kernel.name} tensors have more than 8 dims"
    params: Any = step.params
    if step.kernel in _F32_ONLY and any(c != DType.FLOAT for c in codes):
        return f"{step.kernel.name} is float32-only natively"
    if step.kernel in (Kernel.CONV, Kernel.POOL) and len(params.kernel) != 2:
        return f"{step.kernel.name} supports 2-D windows only natively"
    if step.kernel == Kernel.BINARY:
        return _binary_unsupported(params.op, *codes)
    if step.kernel == Kernel.GATHER and codes[1] not in (DType.INT32, DType.INT64):
        return "GATHER indices must be int32 or int64"
    return None


def check_plan(plan: Plan) -> None:
    """Raise a BackendError naming the first step the C kernels cannot run."""
    for step in plan.steps:
        reason = unsupported(step)
        if reason is not None:
            raise BackendError(f"{step.origin or step.kernel.name}: {reason}")


def check_io(plan: Plan, inputs: list[memoryview], outputs: list[memoryview]) -> None:
    """Raise a BackendError unless the run passes one buffer per plan input and output."""
    if len(inputs) != len(plan.input_names) or len(outputs) != len(plan.output_names):
        raise BackendError(
            f"plan takes {len(plan.input_names)} inputs and {len(plan.output_names)} outputs, "
            f"got {len(inputs)} and {len(outputs)}"
        )
