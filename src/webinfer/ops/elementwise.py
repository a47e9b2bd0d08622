"""Element-wise ops: activations (UNARY), broadcasting arithmetic and comparisons (BINARY), Where, Cast."""

from __future__ import annotations

import math

from ..dtypes import DType
from ..graph import TensorData
from ..kernels import Act, BinaryParams, BinOp, CastParams, Kernel, UnaryParams, WhereParams
from ..lowering import Lowering
from .common import broadcast_shapes, broadcast_strides, coalesce, contiguous_strides
from .registry import Op, TensorInfo, register

_FLOATS = (DType.FLOAT,)


@register
class Unary(Op):
    """Float activations and math functions; all map onto the UNARY kernel."""

    op_types = (
        "Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal",
        "Floor", "Ceil", "HardSwish", "HardSigmoid", "LeakyRelu", "Gelu", "Clip",
    )  # fmt: skip
    _ACTS = {
        "Relu": Act.RELU, "Sigmoid": Act.SIGMOID, "Tanh": Act.TANH, "Erf": Act.ERF, "Sqrt": Act.SQRT,
        "Exp": Act.EXP, "Log": Act.LOG, "Abs": Act.ABS, "Neg": Act.NEG, "Reciprocal": Act.RECIPROCAL,
        "Floor": Act.FLOOR, "Ceil": Act.CEIL, "HardSwish": Act.HARDSWISH,
        "HardSigmoid": Act.HARDSIGMOID, "LeakyRelu": Act.LEAKYRELU, "Clip": Act.CLIP,
    }  # fmt: skip
    value_inputs = (1, 2)  # Clip's min/max (opset >= 11)

    def parse(self, node):
        op = node.op_type
        self.alpha = self.beta = 0.0
        if op == "Gelu":
            approximate = self.attr("approximate", "none")
            if approximate not in ("none", "tanh"):
                raise self.unsupported(f"approximate={approximate!r}")
            self.act = Act.GELU_TANH if approximate == "tanh" else Act.GELU
            return
        self.act = self._ACTS[op]
        if op == "HardSigmoid":
            self.alpha, self.beta = float(self.attr("alpha", 0.2)), float(self.attr("beta", 0.5))
        elif op == "LeakyRelu":
            self.alpha = float(self.attr("alpha", 0.01))
        elif op == "Clip" and self.opset < 11:
            self.alpha = float(self.attr("min", -math.inf))
            self.beta = float(self.attr("max", math.inf))

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        if self.act == Act.NEG and x.dtype in (DType.INT32, DType.INT64):
            return [TensorInfo(x.dtype, x.shape)]  # lowered as 0 - x
        if x.dtype not in _FLOATS:
            raise self.unsupported(f"dtype {DType(x.dtype).name} (float32 only)")
        if self.act == Act.CLIP and self.opset >= 11:
            lo, hi = self.padded(ins, 3)[1:]
            self.alpha = float(lo.values()[0]) if lo is not None else -math.inf
            self.beta = float(hi.values()[0]) if hi is not None else math.inf
        return [TensorInfo(x.dtype, x.shape)]

    def lower(self, lw: Lowering, ins, outs):
        dtype = lw.info(ins[0]).dtype
        if dtype != DType.FLOAT:
            zero = lw.const(TensorData.from_values(dtype, (), [0]))
            binary_step(lw, BinOp.SUB, zero, ins[0], outs[0])
            return
        params = UnaryParams(int(self.act), self.alpha, self.beta)
        lw.step(Kernel.UNARY, [ins[0], outs[0]], params, inplace_ok=True)


def strided_operands(lw: Lowering, operands: list[str], out: str) -> tuple[tuple[int, ...], list]:
    """Coalesced loop dims and per-operand element strides for a broadcasting kernel."""
    out_shape = lw.shape(out)
    strides = [broadcast_strides(lw.shape(name), out_shape) for name in operands]
    dims, coalesced = coalesce(out_shape, *strides, contiguous_strides(out_shape))
    return dims, coalesced[:-1]


@register
class Binary(Op):
    op_types = ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "And", "Or")
    _OPS = {
        "Add": BinOp.ADD, "Sub": BinOp.SUB, "Mul": BinOp.MUL, "Div": BinOp.DIV, "Pow": BinOp.POW,
        "Max": BinOp.MAX, "Min": BinOp.MIN, "Equal": BinOp.EQUAL, "Less": BinOp.LESS,
        "Greater": BinOp.GREATER, "And": BinOp.AND, "Or": BinOp.OR,
    }  # fmt: skip
    _NUMERIC = (DType.FLOAT, DType.INT32, DType.INT64)

    def parse(self, node):
        if self.opset < 7 and self.attr("broadcast", 0):
            raise self.unsupported("legacy broadcast attribute (opset < 7)")
        self.op = self._OPS[node.op_type]

    def infer(self, ins):
        a, b = ins[0], ins[1]
        assert a is not None and b is not None
        logical = self.op in (BinOp.AND, BinOp.OR)
        allowed = (DType.BOOL,) if logical else self._NUMERIC
        if a.dtype not in allowed or (b.dtype not in allowed):
            raise self.unsupported(f"dtypes {DType(a.dtype).name}, {DType(b.dtype).name}")
        if self.op == BinOp.POW and a.dtype != DType.FLOAT:
            raise self.unsupported(f"Pow with a {DType(a.dtype).name} base (float32 only)")
        if a.dtype != b.dtype and self.op != BinOp.POW:
            raise self.fail(f"input dtypes differ ({DType(a.dtype).name} vs {DType(b.dtype).name})")
        shape = broadcast_shapes(a.shape, b.shape)
        compare = self.op in (BinOp.EQUAL, BinOp.LESS, BinOp.GREATER)
        return [TensorInfo(DType.BOOL if compare else a.dtype, shape)]

    def lower(self, lw: Lowering, ins, outs):
        a, b = ins[0], ins[1]
        if lw.info(b).dtype != lw.info(a).dtype:  # Pow with an exponent of another type
            cast = lw.temp(lw.info(a).dtype, lw.shape(b))
            lw.step(Kernel.CAST, [b, cast], CastParams())
            b = cast
        binary_step(lw, self.op, a, b, outs[0])


def binary_step(lw: Lowering, op: BinOp, a: str, b: str, out: str) -> None:
    dims, (sa, sb) = strided_operands(lw, [a, b], out)
    same = lw.shape(a) == lw.shape(out) and lw.info(a).dtype == lw.info(out).dtype
    lw.step(Kernel.BINARY, [a, b, out], BinaryParams(int(op), dims, sa, sb), inplace_ok=same)


@register
class Variadic(Op):
    """Max, Min, Sum, Mean over any number of broadcast inputs: a chain of BINARY steps."""

    op_types = ("Max", "Min", "Sum", "Mean")
    _OPS = {"Max": BinOp.MAX, "Min": BinOp.MIN, "Sum": BinOp.ADD, "Mean": BinOp.ADD}

    def infer(self, ins):
        xs = [t for t in ins if t is not None]
        if not xs or any(t.dtype != xs[0].dtype for t in xs) or xs[0].dtype not in Binary._NUMERIC:
            raise self.unsupported("inputs must share one numeric dtype")
        if self.node.op_type == "Mean" and xs[0].dtype != DType.FLOAT:
            raise self.unsupported("Mean of integers")
        return [TensorInfo(xs[0].dtype, broadcast_shapes(*(t.shape for t in xs)))]

    def lower(self, lw: Lowering, ins, outs):
        op, out = self._OPS[self.node.op_type], outs[0]
        info = lw.info(out)
        if len(ins) == 1:
            lw.step(Kernel.UNARY if info.dtype == DType.FLOAT else Kernel.CAST, [ins[0], out],
                    UnaryParams(int(Act.NONE)) if info.dtype == DType.FLOAT else CastParams())  # fmt: skip
            return
        mean = self.node.op_type == "Mean"
        acc = ins[0]
        for i, x in enumerate(ins[1:], start=2):
            last = i == len(ins) and not mean
            dst = out if last else lw.temp(info.dtype, broadcast_shapes(lw.shape(acc), lw.shape(x)))
            binary_step(lw, op, acc, x, dst)
            acc = dst
        if mean:
            scale = lw.const(TensorData.from_values(DType.FLOAT, (), [1.0 / len(ins)]))
            binary_step(lw, BinOp.MUL, acc, scale, out)


@register
class Where(Op):
    op_types = ("Where",)

    def infer(self, ins):
        c, x, y = ins[0], ins[1], ins[2]
        assert c is not None and x is not None and y is not None
        if c.dtype != DType.BOOL:
            raise self.fail("condition must be bool")
        if x.dtype != y.dtype:
            raise self.fail("X and Y dtypes differ")
        return [TensorInfo(x.dtype, broadcast_shapes(c.shape, x.shape, y.shape))]

    def lower(self, lw: Lowering, ins, outs):
        dims, (sc, sx, sy) = strided_operands(lw, list(ins[:3]), outs[0])
        lw.step(Kernel.WHERE, [*ins[:3], outs[0]], WhereParams(dims, sc, sx, sy))


@register
class Cast(Op):
    op_types = ("Cast",)
    _SUPPORTED = (DType.FLOAT, DType.DOUBLE, DType.INT32, DType.INT64, DType.INT8, DType.UINT8, DType.BOOL,
                  DType.FLOAT16)  # fmt: skip

    def parse(self, node):
        self.to = int(self.attr("to", 0))
        if self.to not in self._SUPPORTED:
            raise self.unsupported(f"cast to dtype code {self.to}")

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        if x.dtype not in self._SUPPORTED:
            raise self.unsupported(f"cast from dtype code {x.dtype}")
        return [TensorInfo(self.to, x.shape)]

    def lower(self, lw: Lowering, ins, outs):
        if lw.info(ins[0]).dtype == self.to:
            lw.alias(outs[0], ins[0])
        else:
            lw.step(Kernel.CAST, [ins[0], outs[0]], CastParams())
