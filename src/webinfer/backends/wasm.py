"""The wasm backend: csrc/'s C kernels compiled to one standalone WebAssembly module.

The same module runs in the browser or Node under Pyodide (the JS engine) and natively under
wasmtime (scripts/build_wasm.sh builds it). Python owns the layout of its linear memory: the weights
are placed once per session, each compiled plan gets one block (plan words, buffer tables, CONSTS,
arena) and a block for its input and output slots, and an inference is: copy the inputs in, ONE
call of wi_run_plan32, copy the outputs out. wasm32 addresses 4 GiB at most: a model whose weights
cannot be placed is refused when the session is created.

Threads: `threads=N` (N > 1) takes the threaded module and N - 1 workers where the engine can run
them (a crossOriginIsolated page or Node, under Pyodide); elsewhere the backend runs one thread,
warns once with the reason and keeps it in `threads_note`. Unset, `threads` is 1.
"""

from __future__ import annotations

import atexit
import threading
import time
import warnings
import weakref
from array import array
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..errors import BackendError
from ..plan import FIRST_IO, WEIGHTS, Plan, Step, serialize
from ..wasm.runtime import BUILD_HINT, VARIANTS, Instance, Runtime, best_module, load_runtime, module_bytes
from . import ckernels
from .base import Backend

ALIGN = 64
PAGE = 65536


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _bytes(view: memoryview) -> memoryview:
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB ({n} bytes)"


@cache
def _engine(variant: str | None, threaded: bool = False) -> tuple[Runtime, str, Any]:
    """(runtime, variant, compiled module), made once per process: sessions only instantiate."""
    runtime = load_runtime()
    if variant is None:
        variant, data = best_module(runtime, threaded)
    else:
        data = module_bytes(variant, threaded)
    return runtime, variant, runtime.compile(data)


@cache
def _warn_once(reason: str) -> None:
    warnings.warn(f"wasm backend: one thread: {reason}", RuntimeWarning, stacklevel=4)


def _threads_problem(variant: str | None) -> str | None:
    """Why the threaded module cannot run here, or None."""
    problem = _engine(variant)[0].threads_problem()
    if problem is None:
        try:
            _engine(variant, True)
        except FileNotFoundError:
            return f"the threaded wasm modules are not built: {BUILD_HINT}"
    return problem


atexit.register(_engine.cache_clear)  # wasmtime's objects must go before its ffi at interpreter exit


@dataclass
class WasmTiming:
    """Seconds of the last execute, and of its one wi_run_plan32 call: the rest is the boundary
    (copies in and out, the foreign call itself, checks)."""

    execute_s: float
    run_plan_s: float

    @property
    def boundary_s(self) -> float:
        return self.execute_s - self.run_plan_s


@dataclass
class WasmPlan:
    """A plan placed in wasm memory. `blocks` are its allocations, freed when the plan is dropped."""

    plan: Plan
    words: int  # address of the int64 plan words
    n_words: int
    pointer_table: int  # address of the buffers' uint32 addresses, in plan buffer order
    size_table: int  # address of their int64 sizes
    pointers: list[int] = field(default_factory=list)  # what the tables hold (IO: set per IO layout)
    sizes: list[int] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)
    io_block: int = 0
    weights_generation: int = -1


class WasmBackend(Backend):
    name = "wasm"

    def __init__(self, threads: int | None = None, variant: str | None = None) -> None:
        """variant picks the module ("relaxed", "simd"); default: the best the engine validates.
        `self.threads` says how many threads run, `self.threads_note` why only one if more were asked."""
        super().__init__(threads)
        if variant is not None and variant not in VARIANTS:
            raise BackendError(f"unknown wasm variant '{variant}'; choose from {list(VARIANTS)}")
        reason = self.available()
        if reason is not None:
            raise BackendError(reason)
        wanted = max(threads or 1, 1)
        self.threads_note = _threads_problem(variant) if wanted > 1 else None
        if self.threads_note:
            _warn_once(self.threads_note)
            wanted = 1
        runtime, self.variant, module = _engine(variant, wanted > 1)
        self.runtime = runtime.name
        self._wasm: Instance = runtime.instantiate(module, wanted > 1)
        self._ctx = self._wasm.call("wi_create", wanted)
        if not self._ctx:
            raise BackendError("cannot create the wasm context")
        self.threads = self._wasm.call("wi_num_threads", self._ctx)
        if self.threads > 1:
            self._wasm.start_workers(self._ctx, self.threads)
        self.max_memory = self._wasm.call("wi_max_pages") * PAGE
        self._weights, self._weights_size, self._weights_generation = 0, 0, 0
        self._lock = threading.RLock()  # one instance runs one call at a time; frees may come from GC
        self.last_timing: WasmTiming | None = None

    @classmethod
    def available(cls) -> str | None:
        try:
            _engine(None)
        except ImportError as exc:
            return f"no WebAssembly engine: {exc} (natively the wasm backend runs on `pip install wasmtime`)"
        except (FileNotFoundError, RuntimeError) as exc:
            return str(exc)
        return None

    @property
    def workers_running(self) -> int:
        """How many of the threads - 1 workers have started: a browser starts them only once the
        page yields to its event loop (until then the calling thread runs every task)."""
        return self._wasm.call("wi_workers_running", self._ctx) if self.threads > 1 else 0

    def unsupported(self, step: Step) -> str | None:
        return ckernels.unsupported(step)

    def _alloc(self, nbytes: int, what: str) -> int:
        address = self._wasm.call("wi_alloc32", nbytes) if nbytes < self.max_memory else 0
        if not address:
            raise BackendError(
                f"cannot allocate {_mib(nbytes)} for {what} in wasm memory "
                f"(wasm32 limit {_mib(self.max_memory)})"
            )
        return address

    def _free_blocks(self, blocks: list[int]) -> None:
        with self._lock:
            for address in blocks:
                self._wasm.call("wi_free", address)

    def set_weights(self, weights: memoryview) -> None:
        weights = _bytes(weights)
        if weights.nbytes >= self.max_memory:
            raise BackendError(
                f"the model's weights take {_mib(weights.nbytes)}, more than wasm32 memory can hold "
                f"({_mib(self.max_memory)}); use the native backend"
            )
        with self._lock:
            self._wasm.call("wi_clear_packed", self._ctx)  # GEMM panels packed from the old weights
            if self._weights:
                self._wasm.call("wi_free", self._weights)
                self._weights = 0
            self._weights = self._alloc(weights.nbytes, "the model's weights")
            self._wasm.write(self._weights, weights)
            self._weights_size = weights.nbytes
            self._weights_generation += 1

    def compile(self, plan: Plan) -> WasmPlan:
        ckernels.check_plan(plan)
        words = memoryview(serialize(plan.steps)).cast("B")
        n_io = len(plan.input_names) + len(plan.output_names)
        n_buffers = FIRST_IO + n_io
        offsets = [0]  # one block: words, pointer table, size table, CONSTS, arena
        for size in (words.nbytes, 4 * n_buffers, 8 * n_buffers, len(plan.consts), plan.arena_bytes):
            offsets.append(offsets[-1] + _align(size))
        with self._lock:
            base = self._alloc(offsets[-1], "a plan")
            tables = base + offsets[1], base + offsets[2]
            compiled = WasmPlan(plan, base, len(words) // 8, *tables, blocks=[base])
            weakref.finalize(compiled, self._free_blocks, compiled.blocks).atexit = False
            self._wasm.write(base, words)
            self._wasm.write(base + offsets[3], memoryview(plan.consts).cast("B"))
        compiled.pointers = [base + offsets[4], 0, base + offsets[3]] + [0] * n_io
        compiled.sizes = [plan.arena_bytes, 0, len(plan.consts)] + [-1] * n_io  # IO placed at first run
        return compiled

    def _place_io(self, compiled: WasmPlan, sizes: list[int]) -> None:
        """(Re)allocate the input/output slots for these byte sizes and rewrite the buffer tables."""
        if compiled.io_block:
            compiled.blocks.remove(compiled.io_block)
            self._wasm.call("wi_free", compiled.io_block)
            compiled.io_block = 0
        compiled.io_block = self._alloc(sum(_align(s) for s in sizes), "inputs and outputs")
        compiled.blocks.append(compiled.io_block)
        address = compiled.io_block
        for i, size in enumerate(sizes):
            compiled.pointers[FIRST_IO + i], compiled.sizes[FIRST_IO + i] = address, size
            address += _align(size)
        self._write_tables(compiled)

    def _write_tables(self, compiled: WasmPlan) -> None:
        compiled.pointers[WEIGHTS], compiled.sizes[WEIGHTS] = self._weights, self._weights_size
        compiled.weights_generation = self._weights_generation
        self._wasm.write(compiled.pointer_table, memoryview(array("I", compiled.pointers)).cast("B"))
        self._wasm.write(compiled.size_table, memoryview(array("q", compiled.sizes)).cast("B"))

    def execute(self, compiled: WasmPlan, inputs: list[memoryview], outputs: list[memoryview]) -> None:
        start = time.perf_counter()
        ckernels.check_io(compiled.plan, inputs, outputs)
        ins, outs = [_bytes(m) for m in inputs], [_bytes(m) for m in outputs]
        wasm = self._wasm
        with self._lock:
            sizes = [m.nbytes for m in ins + outs]
            if sizes != compiled.sizes[FIRST_IO:]:
                self._place_io(compiled, sizes)
            elif compiled.weights_generation != self._weights_generation:
                self._write_tables(compiled)
            for i, view in enumerate(ins):
                wasm.write(compiled.pointers[FIRST_IO + i], view)
            args = (compiled.words, compiled.n_words, compiled.pointer_table, compiled.size_table)
            call_start = time.perf_counter()
            rc = wasm.call("wi_run_plan32", self._ctx, *args, len(compiled.sizes))
            call_s = time.perf_counter() - call_start
            if rc:
                raise BackendError(wasm.read_cstring(wasm.call("wi_last_error", self._ctx)))
            for i, view in enumerate(outs):
                wasm.read_into(compiled.pointers[FIRST_IO + len(ins) + i], view)
        self.last_timing = WasmTiming(time.perf_counter() - start, call_s)
