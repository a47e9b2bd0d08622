"""Kernel-level fusion: fold a bias/residual Add and then an activation into the GEMM or CONV step
that produces their input, so the intermediate is never written and re-read.

Working on kernel steps (not ONNX nodes) lets one pass serve MatMul+Add, Gemm+Relu, Conv+Add+Relu
and Conv+Clip alike.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

from ..kernels import Act, BiasMode, BinaryParams, BinOp, ConvParams, GemmParams, Kernel, UnaryParams
from ..lowering import KStep, Lowering

_FUSING = (Kernel.GEMM, Kernel.CONV)


def fuse_steps(lw: Lowering, protected: set[str]) -> None:
    """Rewrite lw.steps in place. `protected` tensors (graph outputs) are never fused away."""
    uses: Counter[str] = Counter(name for step in lw.steps for name in step.reads)
    uses.update(lw.aliases.values())
    uses.update(protected)
    producer = {step.output: step for step in lw.steps}
    position = {id(step): i for i, step in enumerate(lw.steps)}
    kept: list[KStep] = []
    for step in lw.steps:
        for x in _inputs_from_producers(step, producer, uses, position):
            if _absorb(lw, producer[x], step, x, position, producer):
                producer[step.output] = producer.pop(x)
                break
        else:
            kept.append(step)
    lw.steps = kept


def _inputs_from_producers(
    step: KStep, producer: dict[str, KStep], uses: Counter[str], position: dict[int, int]
) -> list[str]:
    """Inputs of `step` made by a GEMM/CONV step and read by nothing else, latest producer first
    (an Add of two conv outputs fuses into the later conv, the earlier one being ready by then)."""
    if step.kernel not in (Kernel.UNARY, Kernel.BINARY):
        return []
    found = [
        name
        for name in dict.fromkeys(step.reads)
        if (p := producer.get(name)) is not None and p.kernel in _FUSING and uses[name] == 1
    ]
    return sorted(found, key=lambda name: -position[id(producer[name])])


def _absorb(
    lw: Lowering, p: KStep, step: KStep, x: str, position: dict[int, int], producer: dict[str, KStep]
) -> bool:
    params = p.params
    assert isinstance(params, GemmParams | ConvParams)
    if params.act != Act.NONE:
        return False
    out_view = p.tensors[-1][1]
    if step.kernel == Kernel.UNARY:
        u = step.params
        assert isinstance(u, UnaryParams)
        p.params = dataclasses.replace(params, act=u.act, act_alpha=u.alpha, act_beta=u.beta)
    else:
        b = step.params
        assert isinstance(b, BinaryParams)
        if b.op != BinOp.ADD or lw.shape(step.output) != lw.shape(x):
            return False
        other = step.reads[1] if step.reads[0] == x else step.reads[0]
        other_producer = producer.get(other)
        if other == x or (other_producer is not None and position[id(other_producer)] > position[id(p)]):
            return False  # the addend must exist before the producer runs
        extra = _gemm_bias(lw, p, other) if p.kernel == Kernel.GEMM else _conv_addend(lw, p, other)
        if extra is None:
            return False
        p.params, slot = extra
        same = math.prod(lw.shape(other)) == math.prod(out_view)
        p.tensors.insert(slot, (other, out_view if same else lw.shape(other)))
    p.tensors[-1] = (step.output, out_view)
    return True


def _gemm_bias(lw: Lowering, p: KStep, other: str) -> tuple[GemmParams, int] | None:
    g = p.params
    assert isinstance(g, GemmParams)
    if g.bias_mode != BiasMode.NONE:
        return None
    shape = lw.shape(other)
    n = math.prod(shape)
    if n == 1:
        mode = BiasMode.SCALAR
    elif n == g.N and shape[-1] == g.N:
        mode = BiasMode.ROW
    elif not g.batch_dims and n == g.M * g.N and shape == lw.shape(p.output)[-len(shape) :]:
        mode = BiasMode.FULL
    else:
        return None
    return dataclasses.replace(g, bias_mode=int(mode), beta=1.0), 2


def _conv_addend(lw: Lowering, p: KStep, other: str) -> tuple[ConvParams, int] | None:
    c = p.params
    assert isinstance(c, ConvParams)
    out_shape = lw.shape(p.output)
    shape = lw.shape(other)
    if shape == out_shape and not c.has_residual:
        return dataclasses.replace(c, has_residual=1), 2 + c.has_bias
    channels = out_shape[1]
    per_channel = (
        math.prod(shape) == channels and (1, channels, *(1,) * (len(out_shape) - 2))[-len(shape) :] == shape
    )
    if per_channel and not c.has_bias and not c.has_residual:
        return dataclasses.replace(c, has_bias=1), 2
    return None
