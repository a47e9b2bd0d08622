"""The native backend: the C kernels of csrc/ behind cffi, one foreign call per plan run.

The C side validates every plan again (offsets, shapes, dtypes) before touching memory, so a bad
plan surfaces as a BackendError carrying the C message, never as a crash. Buffers cross the
boundary without copies: numpy arrays and memoryviews are passed by pointer.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from .. import dtypes
from ..dtypes import DType
from ..errors import BackendError
from ..kernels import BinOp, Kernel
from ..plan import CONSTS, FIRST_IO, WEIGHTS, Plan, Step, serialize
from .base import Backend

try:
    from .._webinfer_native import ffi, lib
except ImportError as exc:  # not built: the backend reports itself unavailable
    ffi = lib = None
    _IMPORT_ERROR: str | None = f"the native extension is not built ({exc}); run `pip install -e .`"
else:
    _IMPORT_ERROR = None

ISAS = {"generic": 0, "avx2": 1, "avx512": 2}
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


def _alloc(nbytes: int) -> Any:
    """A 64-byte aligned C buffer, freed with its Python owner."""
    ptr = lib.wi_alloc(nbytes)
    if ptr == ffi.NULL:
        raise BackendError(f"cannot allocate {nbytes} bytes")
    return ffi.gc(ffi.cast("uint8_t *", ptr), lib.wi_free, size=nbytes)


@dataclass
class NativePlan:
    """A serialised plan with the buffers it owns and the pointer/size tables of its runs."""

    plan: Plan
    words: Any  # int64_t[]
    arena: Any
    consts: Any
    buffers: Any  # uint8_t *[]: arena, weights, consts, inputs..., outputs...
    sizes: Any  # int64_t[]


class NativeBackend(Backend):
    name = "native"

    def __init__(self, threads: int | None = None, isa: str | None = None) -> None:
        """isa limits the instruction set ("generic", "avx2", "avx512"); default: the best the CPU has."""
        super().__init__(threads)
        reason = self.available()
        if reason is not None:
            raise BackendError(reason)
        ctx = lib.wi_create(threads or os.cpu_count() or 1)
        if ctx == ffi.NULL:
            raise BackendError("cannot create the native context")
        self._ctx = ffi.gc(ctx, lib.wi_destroy)
        if isa is not None:
            if isa not in ISAS:
                raise BackendError(f"unknown isa '{isa}'; choose from {sorted(ISAS)}")
            lib.wi_select_isa(self._ctx, ISAS[isa])
        self.threads = lib.wi_num_threads(self._ctx)
        self._weights = _alloc(0)
        self._weights_size = 0
        self._lock = threading.Lock()  # a context runs one plan at a time

    @classmethod
    def available(cls) -> str | None:
        return _IMPORT_ERROR

    @property
    def isa(self) -> str:
        """The instruction set the kernels use."""
        code = lib.wi_select_isa(self._ctx, -1)
        return next(name for name, value in ISAS.items() if value == code)

    def unsupported(self, step: Step) -> str | None:
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

    def set_weights(self, weights: memoryview) -> None:
        lib.wi_clear_packed(self._ctx)  # weight matrices packed for the GEMM kernels, keyed by address
        src = ffi.from_buffer("uint8_t[]", weights)
        self._weights = _alloc(len(src))
        self._weights_size = len(src)
        ffi.memmove(self._weights, src, len(src))

    def compile(self, plan: Plan) -> NativePlan:
        for step in plan.steps:
            reason = self.unsupported(step)
            if reason is not None:
                raise BackendError(f"{step.origin or step.kernel.name}: {reason}")
        words = serialize(plan.steps)
        consts = _alloc(len(plan.consts))
        ffi.memmove(consts, plan.consts, len(plan.consts))
        n_buffers = FIRST_IO + len(plan.input_names) + len(plan.output_names)
        compiled = NativePlan(
            plan,
            ffi.from_buffer("int64_t[]", words),  # keeps `words` alive
            _alloc(plan.arena_bytes),
            consts,
            ffi.new("uint8_t *[]", n_buffers),
            ffi.new("int64_t[]", n_buffers),
        )
        compiled.buffers[0], compiled.sizes[0] = compiled.arena, plan.arena_bytes
        compiled.buffers[CONSTS], compiled.sizes[CONSTS] = consts, len(plan.consts)
        return compiled

    def execute(self, compiled: NativePlan, inputs: list[memoryview], outputs: list[memoryview]) -> None:
        plan = compiled.plan
        if len(inputs) != len(plan.input_names) or len(outputs) != len(plan.output_names):
            raise BackendError(
                f"plan takes {len(plan.input_names)} inputs and {len(plan.output_names)} outputs, "
                f"got {len(inputs)} and {len(outputs)}"
            )
        views = [ffi.from_buffer("uint8_t[]", m) for m in inputs]
        views += [ffi.from_buffer("uint8_t[]", m, require_writable=True) for m in outputs]
        buffers, sizes = compiled.buffers, compiled.sizes
        with self._lock:
            buffers[WEIGHTS], sizes[WEIGHTS] = self._weights, self._weights_size
            for i, view in enumerate(views):
                buffers[FIRST_IO + i], sizes[FIRST_IO + i] = view, len(view)
            rc = lib.wi_run_plan(self._ctx, compiled.words, len(compiled.words), buffers, sizes, len(sizes))
            if rc != 0:
                raise BackendError(ffi.string(lib.wi_last_error(self._ctx)).decode("utf-8", "replace"))
