"""The reference backend: runs plans step by step with the numpy kernels of reference_kernels.

It is the oracle for kernel semantics (compiled backends are compared with it) and the fallback
that works anywhere numpy does. Tensors become numpy views straight into the plan's buffers, so
a kernel reads and writes exactly the bytes a compiled backend would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import dtypes
from ..errors import BackendError
from ..plan import ARENA, FIRST_IO, Plan, Step, TensorRef
from .base import Backend
from .reference_kernels import KERNELS


@dataclass
class ReferencePlan:
    """A plan with the buffers it owns: its arena (kept between runs) and its CONSTS bytes."""

    plan: Plan
    arena: bytearray
    consts: bytes


def _view(buffers: list[np.ndarray], ref: TensorRef, writable: bool, where: str) -> np.ndarray:
    """The tensor as a numpy view into its buffer, after checking that it lies inside it."""
    if not 0 <= ref.buffer < len(buffers):
        raise BackendError(f"{where}: tensor in buffer {ref.buffer}, but the run has {len(buffers)}")
    buf = buffers[ref.buffer]
    if ref.offset < 0 or ref.offset + ref.nbytes > len(buf):
        raise BackendError(
            f"{where}: tensor at bytes [{ref.offset}, {ref.offset + ref.nbytes}) lies outside "
            f"buffer {ref.buffer} of {len(buf)} bytes"
        )
    dtype = dtypes.info(ref.dtype).numpy_name
    view = np.frombuffer(buf, dtype, count=ref.numel, offset=ref.offset).reshape(ref.shape)
    if not writable:
        view.flags.writeable = False  # weights, consts and inputs: a plan writing there is a bug
    return view


class ReferenceBackend(Backend):
    name = "reference"

    def __init__(self, threads: int | None = None) -> None:
        super().__init__(threads)
        self._weights = memoryview(b"")

    def unsupported(self, step: Step) -> str | None:
        impl = KERNELS.get(step.kernel)
        if impl is None:
            return f"no reference kernel for {step.kernel!r}"
        for t in step.tensors:
            if not dtypes.is_known(t.dtype):
                return f"{step.kernel.name} cannot handle dtype {dtypes.name(t.dtype)}"
        return impl.check([np.dtype(dtypes.info(t.dtype).numpy_name) for t in step.tensors], step.params)

    def set_weights(self, weights: memoryview) -> None:
        self._weights = weights

    def compile(self, plan: Plan) -> ReferencePlan:
        for step in plan.steps:
            reason = self.unsupported(step)
            if reason is not None:
                raise BackendError(f"{step.origin or step.kernel.name}: {reason}")
        return ReferencePlan(plan, bytearray(plan.arena_bytes), bytes(plan.consts))

    def execute(self, compiled: ReferencePlan, inputs: list[memoryview], outputs: list[memoryview]) -> None:
        plan = compiled.plan
        if len(inputs) != len(plan.input_names) or len(outputs) != len(plan.output_names):
            raise BackendError(
                f"plan takes {len(plan.input_names)} inputs and {len(plan.output_names)} outputs, "
                f"got {len(inputs)} and {len(outputs)}"
            )
        raw: list[Any] = [compiled.arena, self._weights, compiled.consts, *inputs, *outputs]
        buffers = [np.frombuffer(b, np.uint8) for b in raw]  # flat bytes, whatever the buffer's shape
        first_output = FIRST_IO + len(inputs)
        for step in plan.steps:
            where = step.origin or step.kernel.name
            views = [
                _view(buffers, t, t.buffer == ARENA or t.buffer >= first_output, where) for t in step.tensors
            ]
            try:
                KERNELS[step.kernel].run(views, step.params)
            except (BackendError, ValueError, IndexError) as e:  # numpy reports bad shapes as ValueError
                raise BackendError(f"{where} ({step.kernel.name}): {e}") from e
