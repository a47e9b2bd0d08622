"""Execution plans: a flat list of kernel steps over byte offsets in a few buffers.

A plan is built once per set of concrete input shapes and then executed as a whole: the reference
backend walks the Step objects; compiled backends receive `serialize(plan)`, one int64 array, and run
it with a single foreign call.

Buffers a TensorRef can point into (`TensorRef.buffer`):
  0 ARENA    all intermediates, offsets from the memory planner
  1 WEIGHTS  constants of the session (initializers and folded constants), packed once
  2 CONSTS   small constants computed for this plan (e.g. folded shape tensors)
  3..        graph inputs (in order), then graph outputs (in order), provided per run

Wire format (all int64 little-endian words):
  header:  MAGIC, VERSION, n_steps
  step:    kernel, n_words (of the whole step), n_tensors,
           n_tensors x [buffer, byte_offset, dtype, ndim, dims...],
           params: each dataclass field in order; int -> 1 word; float -> float32 bits in the low
           32 bits; tuple -> count word then items (each int, or float32 bits).
"""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass, field, fields

from .graph import Sized
from .kernels import PARAMS_OF, GemmParams, Kernel

MAGIC = 0x5749504C  # "WIPL"
VERSION = 1
ARENA, WEIGHTS, CONSTS, FIRST_IO = 0, 1, 2, 3


@dataclass(frozen=True)
class TensorRef(Sized):
    buffer: int
    offset: int  # bytes
    dtype: int
    shape: tuple[int, ...]

    def view(self, shape: tuple[int, ...]) -> TensorRef:
        """The same bytes seen with another shape of equal element count (kernel-specific layouts)."""
        if math.prod(shape) != self.numel:
            raise ValueError(f"cannot view {self.shape} as {shape}")
        return TensorRef(self.buffer, self.offset, self.dtype, tuple(shape))


@dataclass(frozen=True)
class Step:
    kernel: Kernel
    tensors: tuple[TensorRef, ...]
    params: object  # the kernel's parameter dataclass (kernels.PARAMS_OF[kernel])
    origin: str = ""  # the ONNX node it came from, for error messages and profiles


@dataclass
class Plan:
    steps: list[Step]
    arena_bytes: int
    consts: bytes  # contents of the CONSTS buffer
    input_names: list[str]
    output_names: list[str]
    input_refs: list[TensorRef] = field(default_factory=list)
    output_refs: list[TensorRef] = field(default_factory=list)
    intermediate_bytes: int = 0  # sum of all intermediate sizes before sharing (shows the planner's saving)


def step_flops(step: Step) -> int:
    """Floating-point operations of a GEMM or CONV step (2 per multiply-add), else 0: these two
    kernels hold nearly all of a network's arithmetic, the others are bound by memory traffic."""
    if step.kernel == Kernel.GEMM:
        p = step.params
        assert isinstance(p, GemmParams)
        return 2 * p.M * p.N * p.K * math.prod(p.batch_dims)
    if step.kernel == Kernel.CONV:  # tensors [X, W, ..., Y]: each output sums C/group * KH * KW products
        return 2 * step.tensors[-1].numel * math.prod(step.tensors[1].shape[1:])
    return 0


def plan_flops(plan: Plan) -> int:
    """The GEMM and CONV work of one inference with this plan."""
    return sum(step_flops(step) for step in plan.steps)


def _f32_bits(x: float) -> int:
    return struct.unpack("<i", struct.pack("<f", x))[0]


def _param_words(params: object) -> list[int]:
    words: list[int] = []
    for f in fields(params):  # type: ignore[arg-type]
        value = getattr(params, f.name)
        items = value if isinstance(value, tuple) else None
        if items is not None:
            words.append(len(items))
        for v in items if items is not None else (value,):
            words.append(_f32_bits(v) if isinstance(v, float) else int(v))
    return words


def step_words(step: Step) -> list[int]:
    if type(step.params) is not PARAMS_OF[step.kernel]:
        raise TypeError(f"{step.kernel.name} step carries {type(step.params).__name__}")
    body: list[int] = [len(step.tensors)]
    for t in step.tensors:
        body += [t.buffer, t.offset, t.dtype, len(t.shape), *t.shape]
    body += _param_words(step.params)
    return [int(step.kernel), len(body) + 2, *body]


def serialize(steps: list[Step]) -> array:
    """The plan as one int64 array, the only thing compiled backends need besides the buffers."""
    out = array("q", [MAGIC, VERSION, len(steps)])
    for step in steps:
        out.extend(step_words(step))
    return out
