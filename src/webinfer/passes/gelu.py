"""Recognise the erf form of GELU that exporters spell out element by element,

    y = (x * (1 + erf(x / sqrt(2)))) * 0.5       (torch's legacy exporter, opset < 20)

and replace its five kernel steps by one UNARY GELU, which passes/fuse.py can then fold into the
GEMM that produces x. In BERT-style encoders this removes four passes over the widest activation.
"""

from __future__ import annotations

import math
from collections import Counter

from ..kernels import Act, BinaryParams, BinOp, Kernel, UnaryParams
from ..lowering import KStep, Lowering


def fuse_gelu(lw: Lowering, protected: set[str]) -> None:
    uses: Counter[str] = Counter(name for step in lw.steps for name in step.reads)
    uses.update(lw.aliases.values())
    uses.update(protected)
    consumer = {name: step for step in lw.steps for name in step.reads}
    dropped: set[int] = set()
    replaced: dict[int, KStep] = {}
    for div in lw.steps:
        chain = _match(lw, div, consumer, uses)
        if chain is None:
            continue
        x, last = div.reads[0], chain[-1]
        dropped.update(id(s) for s in chain[:-1])
        gelu = UnaryParams(int(Act.GELU))
        replaced[id(last)] = KStep(
            Kernel.UNARY, [(x, lw.shape(x)), last.tensors[-1]], gelu, last.origin, True
        )
    lw.steps = [replaced.get(id(s), s) for s in lw.steps if id(s) not in dropped]


def _scalar(lw: Lowering, name: str) -> float | None:
    data = lw.info(name).const
    return float(data.tolist()[0]) if data is not None and data.numel == 1 and data.dtype == 1 else None


def _next(consumer: dict[str, KStep], name: str, op: BinOp) -> KStep | None:
    """The single reader of `name` if it is a BINARY `op` step."""
    step = consumer.get(name)
    if step is None or step.kernel != Kernel.BINARY or not isinstance(step.params, BinaryParams):
        return None
    return step if step.params.op == op else None


def _other(step: KStep, name: str) -> str:
    a, b = step.reads
    return b if a == name else a


def _match(lw: Lowering, div: KStep, consumer: dict[str, KStep], uses: Counter[str]) -> list[KStep] | None:
    """The five steps of one GELU starting at `div`, or None."""
    if not (div.kernel == Kernel.BINARY and getattr(div.params, "op", None) == BinOp.DIV):
        return None
    if not _close(_scalar(lw, div.reads[1]), math.sqrt(2)):
        return None
    x = div.reads[0]
    erf = consumer.get(div.output)
    if erf is None or erf.kernel != Kernel.UNARY or getattr(erf.params, "act", None) != Act.ERF:
        return None
    add = _next(consumer, erf.output, BinOp.ADD)
    if add is None or not _close(_scalar(lw, _other(add, erf.output)), 1.0):
        return None
    mul = _next(consumer, add.output, BinOp.MUL)
    if mul is None or _other(mul, add.output) != x:
        return None
    half = _next(consumer, mul.output, BinOp.MUL)
    if half is None or not _close(_scalar(lw, _other(half, mul.output)), 0.5):
        return None
    chain = [div, erf, add, mul, half]
    if any(uses[s.output] != 1 for s in chain[:-1]) or lw.shape(half.output) != lw.shape(x):
        return None
    return chain


def _close(value: float | None, target: float) -> bool:
    return value is not None and abs(value - target) <= 1e-4 * target
