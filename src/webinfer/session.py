"""InferenceSession: the onnxruntime-style entry point.

Creation loads and checks the model, packs the weights once and hands them to the backend; `run`
validates the feeds, fetches (or builds, once per input-shape set) the plan and executes it with a
single backend call. `run_async` and `start` are the same run for callers that await the device's
promise themselves (the browser).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import dtypes
from .backends import choice, create_backend
from .backends.base import Started
from .compiler import build_plan
from .errors import BackendError, InputError
from .graph import Dim, Model, TensorData, ValueInfo
from .onnx_reader import load_model
from .plan import Plan, plan_flops
from .program import prepare
from .tensors import new_output, to_input


@dataclass(frozen=True)
class NodeArg:
    """Mirrors onnxruntime.NodeArg: dynamic dims are their symbolic name (str) or None."""

    name: str
    shape: list[Dim]
    type: str


@dataclass(frozen=True)
class MemoryReport:
    weights_bytes: int
    arena_bytes: int  # peak intermediate memory of the current plan
    intermediate_bytes: int  # what the intermediates would take without sharing


def _node_arg(vi: ValueInfo) -> NodeArg:
    type_name = dtypes.info(vi.dtype).onnx_type if dtypes.is_known(vi.dtype) else f"tensor({vi.dtype})"
    return NodeArg(vi.name, list(vi.shape) if vi.shape is not None else [], type_name)


class InferenceSession:
    def __init__(
        self,
        path_or_bytes: str | os.PathLike[str] | bytes,
        backend: str = "auto",
        threads: int | None = None,
        **_ort_compat: Any,  # accepts sess_options/providers so onnxruntime call sites work unchanged
    ) -> None:
        self._model = load_model(path_or_bytes)
        self._program, weights = prepare(self._model)
        self._weights_bytes = len(weights)
        # auto starts on a CPU backend; with a hardware GPU it may move to webgpu at the first plan,
        # so it keeps the weights until then (self._pending).
        self._pending: tuple[choice.Survey, memoryview] | None = None
        if backend == "auto":
            found = choice.survey()
            self._choice = choice.decide(found, None)
            if found.needs_plan:
                self._pending = (found, memoryview(weights))
            backend = found.cpu
        else:
            self._choice = choice.Choice(backend, "named by the caller")
        self._backend = create_backend(backend, threads)
        self._backend.set_weights(memoryview(weights))
        self._plans: dict[tuple, tuple[Plan, Any]] = {}
        self._last_plan: Plan | None = None
        self._queue: Any = None  # run_async's asyncio.Lock, made on first use (asyncio loads lazily)
        graph = self._model.graph
        static = all(
            vi.shape is not None and all(isinstance(d, int) for d in vi.shape) for vi in graph.inputs
        )
        if static and not self._program.value_inputs:  # build the only plan now: errors surface at load
            self.plan_for_shapes({vi.name: tuple(vi.shape) for vi in graph.inputs})  # type: ignore[arg-type]

    @property
    def model(self) -> Model:
        return self._model

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def backend_choice(self) -> choice.Choice:
        """Why the session runs on its backend and not on the others (auto's rule: backends/choice.py)."""
        return self._choice

    @property
    def threads(self) -> int | None:
        """Threads the backend actually runs with (it may use fewer than asked)."""
        return self._backend.threads

    @property
    def plans_per_shape(self) -> bool:
        """Whether plans depend on the input shapes alone (no input's values decide shapes): then a
        run with input shapes seen before builds and compiles nothing."""
        return not self._program.value_inputs

    def get_inputs(self) -> list[NodeArg]:
        return [_node_arg(vi) for vi in self._model.graph.inputs]

    def get_outputs(self) -> list[NodeArg]:
        return [_node_arg(vi) for vi in self._model.graph.outputs]

    def get_providers(self) -> list[str]:
        return [self._backend.name]

    def memory_report(self) -> MemoryReport:
        plan = self._last_plan
        return MemoryReport(
            self._weights_bytes, plan.arena_bytes if plan else 0, plan.intermediate_bytes if plan else 0
        )

    def plan_for_shapes(self, shapes: dict[str, tuple[int, ...]]) -> Plan:
        """The plan for given input shapes (built on first use); exposed for `webinfer info`."""
        return self._plan_for({name: (tuple(shape), None) for name, shape in shapes.items()})[0]

    def run(
        self, output_names: list[str] | None, input_feed: dict[str, Any], run_options: Any = None
    ) -> list[Any]:
        compiled, feeds, outputs, pick = self._prepare(output_names, input_feed)
        self._backend.execute(compiled, feeds, [o.buffer for o in outputs])
        return pick()

    async def run_async(
        self, output_names: list[str] | None, input_feed: dict[str, Any], run_options: Any = None
    ) -> list[Any]:
        """`run` for async Python (onnxruntime-web's `await session.run(...)`): under Pyodide the
        webgpu backend's wait is awaited, not blocked on, so no JSPI is needed to wait; runs of one
        session are queued. Elsewhere it runs synchronously."""
        if self._queue is None:
            import asyncio

            self._queue = asyncio.Lock()
        async with self._queue:
            started = self.start(output_names, input_feed)
            return started.finish(None if started.wait is None else await started.wait())

    def start(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> Started:
        """A run in two halves for callers that await the device themselves (webinfer-core.mjs's
        runAsync: awaiting in JS costs microseconds where Pyodide's run_sync costs ~0.1 ms): await
        `wait()` when `wait` is not None, then `finish(value)` returns what `run` would."""
        compiled, feeds, outputs, pick = self._prepare(output_names, input_feed)
        started = self._backend.start(compiled, feeds, [o.buffer for o in outputs])

        def finish(value: Any) -> list[Any]:
            started.finish(value)
            return pick()

        return Started(started.wait, finish)

    def _prepare(
        self, output_names: list[str] | None, input_feed: dict[str, Any]
    ) -> tuple[Any, list[memoryview], list[Any], Callable[[], list[Any]]]:
        """What a run needs, everything checked before it starts: the compiled plan, the input
        buffers, fresh outputs and a function picking the requested ones once they are written."""
        graph = self._model.graph
        expected = {vi.name for vi in graph.inputs}
        unknown = sorted(set(input_feed) - expected)
        if unknown:
            raise InputError(f"unknown input name(s) {unknown}; the model's inputs are {sorted(expected)}")
        missing = [vi.name for vi in graph.inputs if vi.name not in input_feed]
        if missing:
            raise InputError(f"missing input(s) {missing}")
        names = [o.name for o in graph.outputs]
        wanted = list(range(len(names)))
        if output_names is not None:
            for name in output_names:
                if name not in names:
                    raise InputError(f"unknown output name '{name}'; the model's outputs are {names}")
            wanted = [names.index(name) for name in output_names]
        feeds = [to_input(vi, input_feed[vi.name]) for vi in graph.inputs]
        plan, compiled = self._plan_for(
            {
                vi.name: (f.shape, bytes(f.buffer) if vi.name in self._program.value_inputs else None)
                for vi, f in zip(graph.inputs, feeds, strict=True)
            }
        )
        outputs = [new_output(ref.dtype, plan.output_refs[j].shape) for j, ref in enumerate(plan.output_refs)]
        return compiled, [f.buffer for f in feeds], outputs, lambda: [outputs[j].value for j in wanted]

    def _plan_for(self, inputs: dict[str, tuple[tuple[int, ...], bytes | None]]) -> tuple[Plan, Any]:
        """Plans are cached per input shapes (and values of inputs that decide shapes)."""
        key = tuple(inputs[vi.name] for vi in self._model.graph.inputs)
        cached = self._plans.get(key)
        if cached is None:
            shapes = {name: shape for name, (shape, _) in inputs.items()}
            values = {
                vi.name: TensorData(vi.dtype, inputs[vi.name][0], memoryview(inputs[vi.name][1]))  # type: ignore[arg-type]
                for vi in self._model.graph.inputs
                if inputs[vi.name][1] is not None
            }
            plan = build_plan(self._program, shapes, self._evaluate, values)
            if self._pending is not None:
                self._settle(plan)
            cached = self._plans[key] = (plan, self._backend.compile(plan))
        self._last_plan = cached[0]
        return cached

    def _settle(self, plan: Plan) -> None:
        """auto's final choice, made on the first plan; moves to webgpu when the rule says so and the
        device can hold the weights and run every step, else stays on the CPU backend saying why."""
        assert self._pending is not None
        found, weights = self._pending
        self._pending = None
        self._choice = choice.decide(found, plan_flops(plan) / 1e9)
        if self._choice.backend == self._backend.name:
            return
        try:
            gpu = create_backend(self._choice.backend, self._backend.threads)
            gpu.set_weights(weights)
            problem = next((r for step in plan.steps if (r := gpu.unsupported(step)) is not None), None)
        except BackendError as exc:
            problem = str(exc)
        if problem is None:
            self._backend = gpu
        else:
            self._choice = choice.fall_back(self._choice, self._backend.name, problem)

    def _evaluate(self, plan: Plan) -> list[bytes]:
        """Run a constant-only plan on this session's backend (constant folding)."""
        outputs = [bytearray(ref.nbytes) for ref in plan.output_refs]
        self._backend.execute(self._backend.compile(plan), [], [memoryview(o) for o in outputs])
        return [bytes(o) for o in outputs]
