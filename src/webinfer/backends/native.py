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

from ..errors import BackendError
from ..plan import CONSTS, FIRST_IO, WEIGHTS, Plan, Step, serialize
from . import ckernels
from .base import Backend

try:
    from .._webinfer_native import ffi, lib
except ImportError as exc:  # not built: the backend reports itself unavailable
    ffi = lib = None
    _IMPORT_ERROR: str | None = f"the native extension is not built ({exc}); run `pip install -e .`"
else:
    _IMPORT_ERROR = None

ISAS = {"generic": 0, "avx2": 1, "avx512": 2}


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
        return ckernels.unsupported(step)

    def set_weights(self, weights: memoryview) -> None:
        lib.wi_clear_packed(self._ctx)  # weight matrices packed for the GEMM kernels, keyed by address
        src = ffi.from_buffer("uint8_t[]", weights)
        self._weights = _alloc(len(src))
        self._weights_size = len(src)
        ffi.memmove(self._weights, src, len(src))

    def compile(self, plan: Plan) -> NativePlan:
        ckernels.check_plan(plan)
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
        ckernels.check_io(compiled.plan, inputs, outputs)
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
