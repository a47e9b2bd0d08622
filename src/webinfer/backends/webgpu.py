"""The webgpu backend: every step as a WGSL compute shader generated for the plan, on a WebGPU device.

compile() turns a plan into GPU state once: shaders specialised to its shapes (GEMM/CONV tiles tuned
on the device within a time budget and cached), pipelines, one bind group and one uniform slot per
step (a split-K step: two dispatches sharing the plan's scratch buffer), the ARENA and CONSTS
buffers, one buffer for the inputs and one for the outputs. An inference is then ONE round trip of
the device interface (`GPU.run`, or `GPU.launch` for `start`): write the inputs, ONE command encoder
with ONE compute pass and ONE submit, ONE readback of the outputs (with the status words through
which kernels report errors such as a Gather index out of range). The device code is written
against webgpu/gpu.py, so it runs wherever that interface has an adapter (wgpu-py natively;
navigator.gpu in the browser).
"""

from __future__ import annotations

import math
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .. import dtypes
from ..errors import BackendError
from ..kernels import Kernel
from ..plan import ARENA, Plan, Step, TensorRef
from ..webgpu import codegen, matmul, wgsl
from ..webgpu.gpu import GPU, Binding, BufferKind, Copy, Dispatch, GPUUnavailable, Trip, open_gpu
from ..webgpu.shader import Shader
from ..webgpu.tuning import Problem, Tile, Tuner, TuningCache, budget_from_env, cache_path
from .base import Backend, Started

IO_ALIGN = 256  # inputs and outputs each start at a multiple of this in their shared buffer
_STATUS_OK = struct.pack("<I", wgsl.OK)  # written to a plan's status word before each run


def _round4(n: int) -> int:
    return -(-n // 4) * 4


def _round16(n: int) -> int:
    """Storage buffers and their bindings come in whole vec4s: shaders may view them as arrays of
    vec4<u32> (wgsl.py), whose length ignores a partial tail."""
    return -(-n // 16) * 16


def _flat_bytes(view: memoryview) -> memoryview:
    if view.format == "B" and view.ndim == 1:
        return view
    return view.cast("B") if view.nbytes else memoryview(b"")


@dataclass(frozen=True)
class _Place:
    """Where a plan buffer lives on the device: a GPU buffer (shared slot key), its start and size."""

    key: str
    buffer: Any
    base: int
    size: int


@dataclass
class WebGPUPlan:
    plan: Plan
    trip: Trip  # what each run submits: every step's dispatches in order, the copies to readback
    by_step: list[list[Dispatch]]  # the dispatches per step (a split-K step has two)
    inputs: list[tuple[int, int]]  # (byte offset in the input buffer, bytes) per graph input
    outputs: list[tuple[int, int]]  # the same in the output buffer
    input_buffer: Any
    status: Any  # None when no step can fail at run time
    status_bytes: int
    keep: list[Any] = field(default_factory=list)  # buffers only bind groups reference
    tuning_s: float = 0.0  # seconds spent timing tile candidates during compile


class WebGPUBackend(Backend):
    name = "webgpu"

    def __init__(self, threads: int | None = None, tune_budget_s: float | None = None) -> None:
        """tune_budget_s: seconds of GEMM/CONV tuning per plan (default: $WEBINFER_WEBGPU_TUNE, else 5;
        0 turns tuning off)."""
        super().__init__(threads)
        try:
            self.gpu: GPU = open_gpu()
        except GPUUnavailable as exc:
            raise BackendError(str(exc)) from exc
        self.tune_budget_s = budget_from_env() if tune_budget_s is None else tune_budget_s
        self._weights = self.gpu.buffer(16, BufferKind.STORAGE)
        self._weights_size = 0
        self._probe = self.gpu.buffer(16, BufferKind.READBACK)  # tuning's completion wait
        self._lock = threading.Lock()
        self.tuning_s = 0.0  # tuning time of all plans compiled so far

    @classmethod
    def available(cls) -> str | None:
        try:
            open_gpu()
        except GPUUnavailable as exc:
            return str(exc)
        return None

    @classmethod
    def adapter_name(cls) -> str:
        return open_gpu().name

    def unsupported(self, step: Step) -> str | None:
        return codegen.unsupported(step, self.gpu.limits)

    def set_weights(self, weights: memoryview) -> None:
        data = _flat_bytes(weights)
        if len(data) > self.gpu.limits.max_buffer_bytes:
            raise BackendError(
                f"the weights ({len(data)} bytes) exceed the device's largest buffer "
                f"({self.gpu.limits.max_buffer_bytes} bytes)"
            )
        self._weights = self._storage(data)
        self._weights_size = len(data)

    def _storage(self, data: bytes | memoryview, size: int = 0) -> Any:
        """A storage buffer holding data (padded to 4 bytes), at least `size` bytes and never empty."""
        buffer = self.gpu.buffer(max(16, _round16(max(len(data), size))), BufferKind.STORAGE)
        if len(data):
            self.gpu.write(buffer, 0, bytes(data) + bytes(-len(data) % 4))
        return buffer

    # ---- compile ----

    def compile(self, plan: Plan) -> WebGPUPlan:
        for step in plan.steps:
            reason = self.unsupported(step)
            if reason is not None:
                raise BackendError(f"{step.origin or step.kernel.name}: {reason}")
        in_layout = _io_layout([r.nbytes for r in plan.input_refs])
        out_layout = _io_layout([r.nbytes for r in plan.output_refs])
        in_buffer = self._storage(b"", _extent(in_layout))
        out_size = _extent(out_layout)
        out_buffer = self._storage(b"", out_size)
        places = [
            _Place("arena", self._storage(b"", plan.arena_bytes), 0, plan.arena_bytes),
            _Place("weights", self._weights, 0, self._weights_size),
            _Place("consts", self._storage(plan.consts), 0, len(plan.consts)),
            *(_Place("in", in_buffer, o, n) for o, n in in_layout),
            *(_Place("out", out_buffer, o, n) for o, n in out_layout),
        ]
        n_steps = len(plan.steps)
        uniforms = self.gpu.buffer(max(1, n_steps) * wgsl.UNIFORM_SLOT, BufferKind.UNIFORM)
        layouts = [self._layout(step, places) for step in plan.steps]
        for i, (step, (_, bindings)) in enumerate(zip(plan.steps, layouts, strict=True)):
            self.gpu.write(uniforms, i * wgsl.UNIFORM_SLOT, _uniform(step, bindings, places, i))
        status_bytes = 4 * (1 + 2 * n_steps)
        status = self._storage(b"", status_bytes)
        tiles, tuning_s = self._tiles(plan.steps, layouts, uniforms, status)
        self.tuning_s += tuning_s
        steps = zip(plan.steps, layouts, tiles, strict=True)
        shaders = [codegen.generate(step, slots, self.gpu.limits, tile) for step, (slots, _), tile in steps]
        # split-K's partial products: one buffer for the plan, sized for its largest split step
        scratch_bytes = max((s.scratch_bytes for s in shaders), default=0)
        scratch = self._storage(b"", scratch_bytes) if scratch_bytes else None
        by_step = [
            self._dispatches(shader, bindings, uniforms, i, status, scratch)
            for i, (shader, (_, bindings)) in enumerate(zip(shaders, layouts, strict=True))
        ]
        any_status = any(s.status for s in shaders)
        readback = self.gpu.buffer(out_size + status_bytes, BufferKind.READBACK)
        copies = [Copy(out_buffer, 0, readback, 0, out_size)] if out_size else []
        if any_status:
            copies.append(Copy(status, 0, readback, out_size, status_bytes))
        return WebGPUPlan(
            plan,
            Trip([d for step in by_step for d in step], copies, readback, sum(c.size for c in copies)),
            by_step,
            in_layout,
            out_layout,
            in_buffer,
            status if any_status else None,
            status_bytes,
            [p.buffer for p in places[:3]] + [out_buffer, uniforms, *([scratch] if scratch else [])],
            tuning_s,
        )

    def _layout(self, step: Step, places: list[_Place]) -> tuple[tuple[int, ...], list[Binding]]:
        """Each tensor's binding slot (one per GPU buffer the step touches) and the bound ranges."""
        where = step.origin or step.kernel.name
        first_output = len(places) - sum(1 for p in places if p.key == "out")
        keys: list[str] = []
        extents: dict[str, list[tuple[int, int, Any]]] = {}
        for i, t in enumerate(step.tensors):
            if not 0 <= t.buffer < len(places):
                raise BackendError(f"{where}: tensor in buffer {t.buffer}, but the plan has {len(places)}")
            place = places[t.buffer]
            if t.offset < 0 or t.offset + t.nbytes > place.size:
                raise BackendError(
                    f"{where}: tensor at bytes [{t.offset}, {t.offset + t.nbytes}) lies outside "
                    f"buffer {t.buffer} of {place.size} bytes"
                )
            if i == len(step.tensors) - 1 and t.buffer != ARENA and t.buffer < first_output:
                raise BackendError(f"{where}: writes buffer {t.buffer}, which is read-only")
            if place.key not in keys:
                keys.append(place.key)
            extents.setdefault(place.key, []).append((place.base + t.offset, t.nbytes, place.buffer))
        _check_strides(step, where)
        align, bindings = self.gpu.limits.binding_alignment, []
        for slot, key in enumerate(keys):
            lo = min(start for start, _, _ in extents[key]) // align * align
            hi = _round16(max(start + n for start, n, _ in extents[key]))
            if hi - lo > self.gpu.limits.max_binding_bytes:
                raise BackendError(
                    f"{where}: its tensors span {hi - lo} bytes of one buffer; the device binds at most "
                    f"{self.gpu.limits.max_binding_bytes}"
                )
            bindings.append(Binding(slot, extents[key][0][2], lo, max(4, hi - lo)))
        return tuple(keys.index(places[t.buffer].key) for t in step.tensors), bindings

    def _dispatches(
        self, shader: Shader, bindings: list[Binding], uniforms: Any, index: int, status: Any, scratch: Any
    ) -> list[Dispatch]:
        """A step's dispatch, and a split-K product's summing one after it; both bind `scratch` (at
        least shader.scratch_bytes), which the split steps of a plan share, as they run in turn."""
        if shader.scratch_bytes:
            bindings = [*bindings, Binding(wgsl.SCRATCH_BINDING, scratch, 0, _round16(shader.scratch_bytes))]
        return [self._dispatch(s, bindings, uniforms, index, status) for s in (shader, shader.then) if s]

    def _dispatch(
        self, shader: Shader, bindings: list[Binding], uniforms: Any, index: int, status: Any
    ) -> Dispatch:
        try:
            pipeline = self.gpu.pipeline(shader.source)
        except ValueError as exc:
            raise BackendError(f"the device rejected a generated shader: {exc}\n{shader.source}") from exc
        size = wgsl.uniform_size(list(shader.operands), shader.status)
        entries = [*bindings, Binding(wgsl.UNIFORM_BINDING, uniforms, index * wgsl.UNIFORM_SLOT, size)]
        if shader.status:
            entries.append(Binding(wgsl.STATUS_BINDING, status, 0, _round4(4 * (1 + 2 * (index + 1)))))
        return Dispatch(pipeline, self.gpu.bind_group(pipeline, entries), shader.groups)

    # ---- tuning ----

    def _tiles(
        self,
        steps: list[Step],
        layouts: list[tuple[tuple[int, ...], list[Binding]]],
        uniforms: Any,
        status: Any,
    ) -> tuple[list[Tile | None], float]:
        """Tiles for the GEMM/CONV steps (None for the others), tuned where the cache has none."""
        problems = {i: p for i, step in enumerate(steps) if (p := matmul.problem(step)) is not None}
        if not problems:
            return [None] * len(steps), 0.0
        first = {p.signature: i for i, p in reversed(problems.items())}
        cache = TuningCache(cache_path())
        tuner = Tuner(self.gpu.name, self.gpu.limits, cache, self.tune_budget_s, self.gpu.software)

        def measure(problem: Problem, tile: Tile) -> float:
            i = first[problem.signature]
            shader = codegen.generate(steps[i], layouts[i][0], self.gpu.limits, tile)
            scratch = self._storage(b"", shader.scratch_bytes) if shader.scratch_bytes else None
            try:
                dispatches = self._dispatches(shader, layouts[i][1], uniforms, i, status, scratch)
            except BackendError:
                return math.inf
            return self._time(dispatches)

        chosen = tuner.choose(list(problems.values()), measure)
        by_step = dict(zip(problems, chosen, strict=True))
        return [by_step.get(i) for i in range(len(steps))], tuner.spent_s

    def kernel_seconds(self, compiled: WebGPUPlan, min_seconds: float = 0.03) -> float:
        """Seconds per run of a compiled plan's kernels alone (no transfers): for benchmarks."""
        return self._time(compiled.trip.dispatches, min_seconds)

    def step_seconds(self, compiled: WebGPUPlan) -> list[float]:
        """Seconds per run of each step's kernels alone: a profile."""
        return [self._time(dispatches) for dispatches in compiled.by_step]

    def _time(self, dispatches: list[Dispatch], min_seconds: float = 0.03) -> float:
        """Seconds per run of the dispatches: the better of two batches of repeats in one submit,
        each about min_seconds (so the submit and readback round trip spreads over the repeats),
        after a warm-up run (any lazy shader compilation) and a run that sizes the batches. Taking
        the better batch keeps a stall of the host from ranking a fast candidate last."""

        probe = [Copy(self._weights, 0, self._probe, 0, 4)]

        def run(reps: int) -> float:
            start = time.perf_counter()
            self.gpu.run([], Trip(dispatches * reps, probe, self._probe, 4))
            return (time.perf_counter() - start) / reps

        run(1)
        reps = max(1, min(200, int(min_seconds / max(run(1), 1e-6))))
        return min(run(reps), run(reps))

    # ---- execute ----

    def execute(self, compiled: WebGPUPlan, inputs: list[memoryview], outputs: list[memoryview]) -> None:
        writes = _writes(compiled, inputs, outputs)
        with self._lock:
            raw = self.gpu.run(writes, compiled.trip)
        _unpack(compiled, raw, outputs)

    def start(self, compiled: WebGPUPlan, inputs: list[memoryview], outputs: list[memoryview]) -> Started:
        writes = _writes(compiled, inputs, outputs)
        with self._lock:
            pending = self.gpu.launch(writes, compiled.trip)

        def finish(value: Any) -> None:
            _unpack(compiled, self.gpu.settle(pending, value), outputs)

        return Started(pending.wait, finish)


def _writes(
    compiled: WebGPUPlan, inputs: list[memoryview], outputs: list[memoryview]
) -> list[tuple[Any, int, bytes | memoryview]]:
    """A run's host-to-device writes: the inputs (their sizes checked) and the status word's reset."""
    plan = compiled.plan
    if len(inputs) != len(plan.input_names) or len(outputs) != len(plan.output_names):
        raise BackendError(
            f"plan takes {len(plan.input_names)} inputs and {len(plan.output_names)} outputs, "
            f"got {len(inputs)} and {len(outputs)}"
        )
    writes: list[tuple[Any, int, bytes | memoryview]] = []
    for (offset, nbytes), view in zip(compiled.inputs, inputs, strict=True):
        data = _flat_bytes(view)
        if len(data) != nbytes:
            raise BackendError(f"an input has {len(data)} bytes; the plan expects {nbytes}")
        if nbytes:  # the caller's bytes as they are (both adapters copy them synchronously)
            whole = data if nbytes % 4 == 0 else bytes(data) + bytes(-nbytes % 4)
            writes.append((compiled.input_buffer, offset, whole))
    if compiled.status is not None:
        writes.append((compiled.status, 0, _STATUS_OK))
    return writes


def _unpack(compiled: WebGPUPlan, raw: memoryview, outputs: list[memoryview]) -> None:
    """The readback into the outputs, once the status words say the kernels succeeded."""
    if compiled.status is not None:
        _raise_failure(compiled.plan, raw[compiled.trip.size - compiled.status_bytes :])
    for (offset, nbytes), out in zip(compiled.outputs, outputs, strict=True):
        _flat_bytes(out)[:] = raw[offset : offset + nbytes]


def _io_layout(sizes: list[int]) -> list[tuple[int, int]]:
    """(offset, size) of each tensor packed at IO_ALIGN boundaries (a valid binding offset anywhere)."""
    layout, at = [], 0
    for n in sizes:
        layout.append((at, n))
        at += -(-max(n, 1) // IO_ALIGN) * IO_ALIGN
    return layout


def _extent(layout: list[tuple[int, int]]) -> int:
    return _round4(max([o + n for o, n in layout], default=0))


def _uniform(step: Step, bindings: list[Binding], places: list[_Place], index: int) -> bytes:
    """The step's Offsets struct: where each tensor starts in its binding (in its offset unit), then
    the step's index (read by shaders that report errors, beyond the struct of the others)."""
    slots = {b.buffer: b.offset for b in bindings}
    words = []
    for t, start in zip(step.tensors, codegen.starts(step), strict=True):
        place = places[t.buffer]
        at = place.base + t.offset - slots[place.buffer] + start * dtypes.info(t.dtype).itemsize
        words.append(at // wgsl.offset_unit(t.dtype))
    return struct.pack(f"<{len(words) + 1}I", *words, index)


def _reach(numel: int, start: int, dims: tuple[int, ...], strides: tuple[int, ...]) -> str | None:
    """Why a strided walk leaves its tensor (None when it stays inside), as the reference checks."""
    if not math.prod(dims):
        return None
    ends = [(d - 1) * s for d, s in zip(dims, strides, strict=True)]
    lo, hi = start + sum(min(0, e) for e in ends), start + sum(max(0, e) for e in ends)
    return (
        None
        if lo >= 0 and hi < numel
        else f"strided access to elements [{lo}, {hi}] of a {numel}-element tensor"
    )


def _check_strides(step: Step, where: str) -> None:
    """The GPU clamps stray reads silently, so walks outside a tensor are refused at compile time."""
    p: Any = step.params
    t: tuple[TensorRef, ...] = step.tensors
    walks = []
    if step.kernel == Kernel.COPY:
        walks = [(t[0], p.src_start, p.dims, p.src_strides), (t[1], p.dst_start, p.dims, p.dst_strides)]
    elif step.kernel == Kernel.BINARY:
        walks = [(t[0], 0, p.dims, p.a_strides), (t[1], 0, p.dims, p.b_strides)]
    elif step.kernel == Kernel.WHERE:
        walks = [
            (x, 0, p.dims, s) for x, s in zip(t[:3], (p.c_strides, p.x_strides, p.y_strides), strict=True)
        ]
    elif step.kernel == Kernel.GEMM:
        a_size, b_size = p.M * p.K, p.K * p.N
        walks = [
            (t[0], 0, (*p.batch_dims, a_size), (*p.a_strides, 1)),
            (t[1], 0, (*p.batch_dims, b_size), (*p.b_strides, 1)),
        ]
    for ref, start, dims, strides in walks:
        problem = _reach(ref.numel, start, tuple(dims), tuple(strides))
        if problem:
            raise BackendError(f"{where} ({step.kernel.name}): {problem}")


def _raise_failure(plan: Plan, status: memoryview) -> None:
    """The first step that reported a run-time error, as a BackendError naming its node."""
    (failed,) = struct.unpack_from("<I", status)
    if failed == wgsl.OK:  # every run: read one word, not the plan's 1 + 2 per step
        return
    step = plan.steps[failed]
    lo, hi = struct.unpack_from("<II", status, 4 * (1 + 2 * failed))
    if step.kernel == Kernel.GATHER:
        value = struct.unpack("<q", struct.pack("<II", lo, hi))[0]
        axis = step.params.axis_dim  # type: ignore[attr-defined]
        message = f"gather index {value} is outside [-{axis}, {axis})"
    else:
        message = codegen.DIVISION_BY_ZERO
    raise BackendError(f"{step.origin or step.kernel.name} ({step.kernel.name}): {message}")
