"""Reductions and normalisations over axes: Reduce*, Softmax, LogSoftmax, LayerNormalization."""

from __future__ import annotations

import math

from ..dtypes import DType
from ..graph import TensorData
from ..kernels import Act, BinOp, Kernel, LayerNormParams, ReduceOp, ReduceParams, SoftmaxParams, UnaryParams
from ..lowering import Lowering
from .common import contiguous_strides, normalize_axis
from .elementwise import binary_step
from .registry import Op, TensorInfo, register
from .shape_ops import copy_step


@register
class Reduce(Op):
    op_types = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")
    _OPS = {"ReduceSum": ReduceOp.SUM, "ReduceMean": ReduceOp.MEAN, "ReduceMax": ReduceOp.MAX,
            "ReduceMin": ReduceOp.MIN, "ReduceProd": ReduceOp.PROD}  # fmt: skip
    value_inputs = (1,)

    def parse(self, node):
        self.op = self._OPS[node.op_type]
        self.keepdims = int(self.attr("keepdims", 1))
        self.noop_empty = int(self.attr("noop_with_empty_axes", 0))
        # axes moved from attribute to input: ReduceSum in opset 13, the others in opset 18
        self.axes_from_input = self.opset >= (13 if node.op_type == "ReduceSum" else 18)

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        if x.dtype != DType.FLOAT:
            raise self.unsupported("float32 only")
        rank = len(x.shape)
        if self.axes_from_input:
            axes = [int(v) for v in ins[1].values()] if len(ins) > 1 and ins[1] is not None else []
        else:
            axes = list(self.attr("axes") or [])
        if not axes:
            axes = [] if self.noop_empty else list(range(rank))
        self.axes = sorted({normalize_axis(a, rank) for a in axes})
        shape = [1 if i in self.axes else d for i, d in enumerate(x.shape)]
        if not self.keepdims:
            shape = [d for i, d in enumerate(x.shape) if i not in self.axes]
        return [TensorInfo(x.dtype, tuple(shape))]

    def lower(self, lw: Lowering, ins, outs):
        x, shape = ins[0], lw.shape(ins[0])
        if not self.axes:
            lw.alias(outs[0], x)
            return
        first, last = self.axes[0], self.axes[-1]
        if last - first + 1 != len(self.axes):  # scattered axes: move them last first
            kept = [i for i in range(len(shape)) if i not in self.axes]
            perm = kept + self.axes
            moved = tuple(shape[p] for p in perm)
            tmp = lw.temp(DType.FLOAT, moved)
            strides = contiguous_strides(shape)
            copy_step(lw, x, tmp, moved, [strides[p] for p in perm], contiguous_strides(moved))
            x, shape, first, last = tmp, moved, len(kept), len(shape) - 1
        params = ReduceParams(int(self.op), math.prod(shape[:first]), math.prod(shape[first : last + 1]),
                              math.prod(shape[last + 1 :]))  # fmt: skip
        lw.step(Kernel.REDUCE, [x, outs[0]], params)


@register
class Softmax(Op):
    """Opset < 13 flattens to 2-D at `axis` (default 1); opset 13 normalises along `axis` (default -1)."""

    op_types = ("Softmax", "LogSoftmax")

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        if x.dtype != DType.FLOAT:
            raise self.unsupported("float32 only")
        self.axis = normalize_axis(int(self.attr("axis", -1 if self.opset >= 13 else 1)), len(x.shape))
        return [TensorInfo(x.dtype, x.shape)]

    def lower(self, lw: Lowering, ins, outs):
        shape, a = lw.shape(ins[0]), self.axis
        if self.opset >= 13:
            outer, n, inner = math.prod(shape[:a]), shape[a], math.prod(shape[a + 1 :])
        else:
            outer, n, inner = math.prod(shape[:a]), math.prod(shape[a:]), 1
        params = SoftmaxParams(outer, n, inner, int(self.node.op_type == "LogSoftmax"))
        lw.step(Kernel.SOFTMAX, [ins[0], outs[0]], params)


@register
class LayerNormalization(Op):
    op_types = ("LayerNormalization",)

    def parse(self, node):
        self.epsilon = float(self.attr("epsilon", 1e-5))

    def infer(self, ins):
        x, scale = ins[0], ins[1]
        assert x is not None and scale is not None
        if x.dtype != DType.FLOAT:
            raise self.unsupported("float32 only")
        self.axis = normalize_axis(int(self.attr("axis", -1)), len(x.shape))
        n = math.prod(x.shape[self.axis :])
        for t in ins[1:3]:
            if t is not None and math.prod(t.shape) != n:
                raise self.unsupported(
                    f"scale/bias {t.shape} not covering the normalised dims {x.shape[self.axis :]}"
                )
        stats = (*x.shape[: self.axis], *(1,) * (len(x.shape) - self.axis))
        return [TensorInfo(x.dtype, x.shape), TensorInfo(x.dtype, stats), TensorInfo(x.dtype, stats)]

    def lower(self, lw: Lowering, ins, outs):
        shape = lw.shape(ins[0])
        outer, n = math.prod(shape[: self.axis]), math.prod(shape[self.axis :])
        has_bias = len(ins) > 2 and bool(ins[2])
        params = LayerNormParams(outer, n, self.epsilon, int(has_bias))
        lw.step(Kernel.LAYERNORM, [*ins[: 3 if has_bias else 2], outs[0]], params)
        if any(outs[1:]):
            self._statistics(lw, ins[0], [*outs, "", ""][1:3], outer, n)

    def _statistics(self, lw: Lowering, x: str, outs: list[str], outer: int, n: int) -> None:
        """The optional Mean and InvStdDev outputs, from existing kernels (rarely asked for)."""
        stats = lw.info(x).shape[: self.axis] + (1,) * (len(lw.shape(x)) - self.axis)
        mean, inv = (name or lw.temp(DType.FLOAT, stats) for name in outs)
        mean_of = ReduceParams(int(ReduceOp.MEAN), outer, n, 1)
        lw.step(Kernel.REDUCE, [x, mean], mean_of)
        diff, sq, var, std = (lw.temp(DType.FLOAT, s) for s in (lw.shape(x), lw.shape(x), stats, stats))
        binary_step(lw, BinOp.SUB, x, mean, diff)
        binary_step(lw, BinOp.MUL, diff, diff, sq)
        lw.step(Kernel.REDUCE, [sq, var], mean_of)
        binary_step(
            lw, BinOp.ADD, var, lw.const(TensorData.from_values(DType.FLOAT, (), [self.epsilon])), std
        )
        lw.step(Kernel.UNARY, [std, std], UnaryParams(int(Act.SQRT)))
        lw.step(Kernel.UNARY, [std, inv], UnaryParams(int(Act.RECIPROCAL)))
