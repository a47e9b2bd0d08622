"""Convolution, pooling and batch normalisation over NCHW (1-D and 2-D spatial) float32 tensors."""

from __future__ import annotations

import math

from ..dtypes import DType
from ..kernels import (
    Act,
    BatchNormParams,
    ConvParams,
    Kernel,
    PoolKind,
    PoolParams,
    ReduceOp,
    ReduceParams,
)
from ..lowering import Lowering
from .registry import Op, TensorInfo, register


def _out_size(size: int, k: int, s: int, d: int, begin: int, end: int, ceil: bool) -> int:
    span = size + begin + end - ((k - 1) * d + 1)
    if span < 0:
        return 0
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= size + begin else out  # last window must start inside


class Windowed(Op):
    """Shared attribute handling of sliding-window ops (kernel, strides, pads, dilations, auto_pad)."""

    ceil_allowed = False

    def parse(self, node):
        self.auto_pad = self.attr("auto_pad", "NOTSET")
        self.kernel_attr = self.attr("kernel_shape")
        self.strides_attr = self.attr("strides")
        self.pads_attr = self.attr("pads")
        self.dil_attr = self.attr("dilations")
        self.ceil = bool(self.attr("ceil_mode", 0))
        if self.auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
            raise self.unsupported(f"auto_pad={self.auto_pad!r}")

    def geometry(self, spatial: tuple[int, ...], kernel: tuple[int, ...]):
        """Output sizes and (begin pads, end pads) per spatial axis."""
        n = len(spatial)
        if n not in (1, 2):
            raise self.unsupported(f"{n}-D spatial input (1-D and 2-D are supported)")
        strides = tuple(self.strides_attr or (1,) * n)
        dils = tuple(self.dil_attr or (1,) * n)
        pads = tuple(self.pads_attr or (0,) * (2 * n))
        if len(strides) != n or len(dils) != n or len(pads) != 2 * n or len(kernel) != n:
            raise self.fail("kernel_shape/strides/dilations/pads do not match the input rank")
        if min(strides) < 1 or min(dils) < 1 or min(kernel) < 1 or min(pads) < 0:
            raise self.fail("strides, dilations and kernel sizes must be positive, pads non-negative")
        begin, end = list(pads[:n]), list(pads[n:])
        if self.auto_pad == "VALID":
            begin, end = [0] * n, [0] * n
        elif self.auto_pad.startswith("SAME"):
            for i in range(n):
                out = -(-spatial[i] // strides[i])
                total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dils[i] + 1 - spatial[i])
                small = total // 2
                begin[i], end[i] = (
                    (small, total - small) if self.auto_pad == "SAME_UPPER" else (total - small, small)
                )
        ceil = self.ceil and self.auto_pad == "NOTSET"
        out = tuple(
            _out_size(spatial[i], kernel[i], strides[i], dils[i], begin[i], end[i], ceil) for i in range(n)
        )
        return out, strides, dils, tuple(begin), tuple(end)

    @staticmethod
    def as_2d(values: tuple[int, ...], fill: int) -> tuple[int, ...]:
        return values if len(values) == 2 else (fill, *values)


@register
class Conv(Windowed):
    op_types = ("Conv",)

    def parse(self, node):
        super().parse(node)
        self.group = int(self.attr("group", 1))

    def infer(self, ins):
        x, w, b = self.padded(ins, 3)
        assert x is not None and w is not None
        if x.dtype != DType.FLOAT or w.dtype != DType.FLOAT:
            raise self.unsupported("float32 only")
        if len(x.shape) < 3 or len(w.shape) != len(x.shape):
            raise self.fail(f"X {x.shape} and W {w.shape} ranks do not fit")
        N, C = x.shape[:2]
        M, Cg = w.shape[:2]
        if self.group < 1 or Cg * self.group != C or M % self.group:
            raise self.fail(f"channels C={C}, W {w.shape} do not fit group={self.group}")
        if self.kernel_attr and tuple(self.kernel_attr) != w.shape[2:]:
            raise self.fail(f"kernel_shape {self.kernel_attr} differs from W {w.shape}")
        if b is not None and b.shape != (M,):
            raise self.fail(f"bias shape {b.shape} should be ({M},)")
        out, *_ = self.geometry(x.shape[2:], w.shape[2:])
        return [TensorInfo(DType.FLOAT, (N, M, *out))]

    def lower(self, lw: Lowering, ins, outs):
        x, w = ins[0], ins[1]
        has_bias = len(ins) > 2 and bool(ins[2])
        _, strides, dils, begin, end = self.geometry(lw.shape(x)[2:], lw.shape(w)[2:])
        kernel = lw.shape(w)[2:]
        params = ConvParams(
            self.group, self.as_2d(kernel, 1), self.as_2d(strides, 1),
            (*self.as_2d(begin, 0), *self.as_2d(end, 0)), self.as_2d(dils, 1),
            int(has_bias), 0, int(Act.NONE),
        )  # fmt: skip
        tensors = (
            [_view_2d(lw, x), _view_2d(lw, w)] + ([ins[2]] if has_bias else []) + [_view_2d(lw, outs[0])]
        )
        lw.step(Kernel.CONV, tensors, params)


def _float_nc(op: Op, x: TensorInfo | None) -> TensorInfo:
    """The input of a pooling op: float32, [N, C, spatial...]."""
    assert x is not None
    if x.dtype != DType.FLOAT:
        raise op.unsupported("float32 only")
    if len(x.shape) < 3:
        raise op.fail(f"input rank {len(x.shape)} < 3")
    return x


def _view_2d(lw: Lowering, name: str) -> tuple[str, tuple[int, ...]]:
    shape = lw.shape(name)
    return (name, shape if len(shape) == 4 else (*shape[:2], 1, *shape[2:]))


@register
class Pool(Windowed):
    op_types = ("MaxPool", "AveragePool")

    def parse(self, node):
        super().parse(node)
        self.kind = PoolKind.MAX if node.op_type == "MaxPool" else PoolKind.AVG
        self.count_include_pad = int(self.attr("count_include_pad", 0))
        if len([o for o in node.outputs if o]) > 1:
            raise self.unsupported("the Indices output")
        if not self.kernel_attr:
            raise self.fail("kernel_shape is required")
        if self.kind == PoolKind.AVG and self.dil_attr and self.opset < 19:
            raise self.fail("dilations need opset 19")

    def infer(self, ins):
        x = _float_nc(self, ins[0])
        out, *_ = self.geometry(x.shape[2:], tuple(self.kernel_attr))
        return [TensorInfo(DType.FLOAT, (*x.shape[:2], *out))]

    def lower(self, lw: Lowering, ins, outs):
        _, strides, dils, begin, end = self.geometry(lw.shape(ins[0])[2:], tuple(self.kernel_attr))
        params = PoolParams(
            int(self.kind), self.as_2d(tuple(self.kernel_attr), 1), self.as_2d(strides, 1),
            (*self.as_2d(begin, 0), *self.as_2d(end, 0)), self.as_2d(dils, 1), self.count_include_pad,
        )  # fmt: skip
        lw.step(Kernel.POOL, [_view_2d(lw, ins[0]), _view_2d(lw, outs[0])], params)


@register
class GlobalPool(Op):
    """Global pools are reductions over all spatial positions of each (n, c)."""

    op_types = ("GlobalAveragePool", "GlobalMaxPool")

    def infer(self, ins):
        x = _float_nc(self, ins[0])
        return [TensorInfo(DType.FLOAT, (*x.shape[:2], *(1,) * (len(x.shape) - 2)))]

    def lower(self, lw: Lowering, ins, outs):
        shape = lw.shape(ins[0])
        op = ReduceOp.MEAN if self.node.op_type == "GlobalAveragePool" else ReduceOp.MAX
        params = ReduceParams(int(op), shape[0] * shape[1], math.prod(shape[2:]), 1)
        lw.step(Kernel.REDUCE, [ins[0], outs[0]], params)


@register
class BatchNormalization(Op):
    op_types = ("BatchNormalization",)

    def parse(self, node):
        if self.attr("training_mode", 0) or len([o for o in node.outputs if o]) > 1:
            raise self.unsupported("training mode (only inference is supported)")
        if self.opset < 9 and not self.attr("spatial", 1):
            raise self.unsupported("spatial=0")
        self.epsilon = float(self.attr("epsilon", 1e-5))

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        if any(t is None or t.dtype != DType.FLOAT for t in ins[:5]):
            raise self.unsupported("float32 only (and all five inputs)")
        if len(x.shape) < 2 or any(t.shape != (x.shape[1],) for t in ins[1:5] if t is not None):
            raise self.fail(f"scale/bias/mean/var must be ({x.shape[1] if len(x.shape) > 1 else '?'},)")
        return [TensorInfo(DType.FLOAT, x.shape)]

    def lower(self, lw: Lowering, ins, outs):
        lw.step(Kernel.BATCHNORM, [*ins[:5], outs[0]], BatchNormParams(self.epsilon))
