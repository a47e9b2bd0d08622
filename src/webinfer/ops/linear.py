"""MatMul and Gemm, both lowered to the batched GEMM kernel."""

from __future__ import annotations

import math

from ..dtypes import DType
from ..kernels import Act, BiasMode, GemmParams, Kernel
from ..lowering import Lowering
from .common import broadcast_shapes, broadcast_strides
from .registry import Op, TensorInfo, register


@register
class MatMul(Op):
    """Numpy matmul semantics: 1-D operands are promoted and the added dim removed again."""

    op_types = ("MatMul",)

    def infer(self, ins):
        a, b = ins[0], ins[1]
        assert a is not None and b is not None
        if a.dtype != DType.FLOAT or b.dtype != DType.FLOAT:
            raise self.unsupported("float32 only")
        if not a.shape or not b.shape:
            raise self.fail("MatMul of a scalar")
        sa = (1, *a.shape) if len(a.shape) == 1 else a.shape
        sb = (*b.shape, 1) if len(b.shape) == 1 else b.shape
        if sa[-1] != sb[-2]:
            raise self.fail(f"inner dims differ: {a.shape} @ {b.shape}")
        batch = broadcast_shapes(sa[:-2], sb[:-2])
        out = [*batch, sa[-2], sb[-1]]
        if len(b.shape) == 1:
            out.pop(-1)
        if len(a.shape) == 1:
            out.pop(-2 if len(b.shape) != 1 else -1)
        return [TensorInfo(DType.FLOAT, tuple(out))]

    def lower(self, lw: Lowering, ins, outs):
        a_shape, b_shape = lw.shape(ins[0]), lw.shape(ins[1])
        sa = (1, *a_shape) if len(a_shape) == 1 else a_shape
        sb = (*b_shape, 1) if len(b_shape) == 1 else b_shape
        M, K, N = sa[-2], sa[-1], sb[-1]
        batch: tuple[int, ...] = ()
        a_str: tuple[int, ...] = ()
        b_str: tuple[int, ...] = ()
        if math.prod(sb[:-2]) == 1:  # B shared by every batch: one tall GEMM over all of A's rows
            M *= math.prod(sa[:-2])
        else:
            batch = broadcast_shapes(sa[:-2], sb[:-2])
            a_str = tuple(s * M * K for s in broadcast_strides(sa[:-2], batch))
            b_str = tuple(s * K * N for s in broadcast_strides(sb[:-2], batch))
        params = GemmParams(batch, a_str, b_str, M, N, K, 0, 0, 1.0, 0.0, int(BiasMode.NONE), int(Act.NONE))
        lw.step(Kernel.GEMM, [ins[0], ins[1], outs[0]], params)


@register
class Gemm(Op):
    """Y = alpha * op(A) @ op(B) + beta * C, with C broadcast to (M, N)."""

    op_types = ("Gemm",)

    def parse(self, node):
        self.alpha = float(self.attr("alpha", 1.0))
        self.beta = float(self.attr("beta", 1.0))
        self.trans_a = int(self.attr("transA", 0))
        self.trans_b = int(self.attr("transB", 0))

    def infer(self, ins):
        a, b, c = self.padded(ins, 3)
        assert a is not None and b is not None
        if a.dtype != DType.FLOAT or b.dtype != DType.FLOAT:
            raise self.unsupported("float32 only")
        if len(a.shape) != 2 or len(b.shape) != 2:
            raise self.fail(f"A and B must be 2-D, got {a.shape} and {b.shape}")
        M, K = a.shape[::-1] if self.trans_a else a.shape
        K2, N = b.shape[::-1] if self.trans_b else b.shape
        if K != K2:
            raise self.fail(f"inner dims differ: {K} vs {K2}")
        if c is not None and broadcast_shapes(c.shape, (M, N)) != (M, N):
            raise self.fail(f"C {c.shape} does not broadcast to {(M, N)}")
        return [TensorInfo(DType.FLOAT, (M, N))]

    def lower(self, lw: Lowering, ins, outs):
        M, N = lw.shape(outs[0])
        K = lw.shape(ins[0])[0 if self.trans_a else 1]
        tensors = [ins[0], ins[1]]
        mode = BiasMode.NONE
        if len(ins) > 2 and ins[2] and self.beta != 0.0:
            mode = bias_mode(lw.shape(ins[2]), M, N)
            tensors.append(ins[2])
        params = GemmParams((), (), (), M, N, K, self.trans_a, self.trans_b, self.alpha, self.beta,
                            int(mode), int(Act.NONE))  # fmt: skip
        lw.step(Kernel.GEMM, [*tensors, outs[0]], params)


def bias_mode(shape: tuple[int, ...], M: int, N: int) -> BiasMode:
    """How a bias broadcast to (M, N) is laid out; it must already be known to broadcast."""
    rows, cols = (1, 1, *shape)[-2:]
    if rows * cols == 1:
        return BiasMode.SCALAR
    if rows == 1:
        return BiasMode.ROW
    return BiasMode.COL if cols == 1 else BiasMode.FULL
