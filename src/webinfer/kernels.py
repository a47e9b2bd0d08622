"""The kernel instruction set: what an execution-plan step can ask a backend to do.

ONNX ops are lowered to these few kernels (Transpose, Slice, Concat and Expand all become COPY, for
example), so each backend implements this small set once. Every parameter record is a frozen
dataclass whose fields serialise in declaration order (see plan.py); csrc/plan.c decodes the same
order. Changing a record here means changing its decoder in csrc/ and its reference kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Kernel(IntEnum):
    COPY = 1
    UNARY = 2
    BINARY = 3
    WHERE = 4
    GEMM = 5
    CONV = 6
    POOL = 7
    REDUCE = 8
    SOFTMAX = 9
    LAYERNORM = 10
    BATCHNORM = 11
    CAST = 12
    GATHER = 13


class Act(IntEnum):
    """Element-wise float functions: the UNARY kernel and the activation fused into GEMM/CONV."""

    NONE = 0  # identity
    RELU = 1
    SIGMOID = 2
    TANH = 3
    ERF = 4
    GELU = 5  # exact: x * (1 + erf(x / sqrt 2)) / 2
    GELU_TANH = 6
    SQRT = 7
    EXP = 8
    LOG = 9
    ABS = 10
    NEG = 11
    RECIPROCAL = 12
    HARDSIGMOID = 13  # max(0, min(1, alpha * x + beta))
    HARDSWISH = 14  # x * max(0, min(1, x / 6 + 1 / 2))
    CLIP = 15  # min(max(x, alpha), beta)
    LEAKYRELU = 16  # x >= 0 ? x : alpha * x
    FLOOR = 17
    CEIL = 18


class BinOp(IntEnum):
    ADD = 0
    SUB = 1
    MUL = 2
    DIV = 3
    POW = 4
    MAX = 5
    MIN = 6
    EQUAL = 7  # output bool
    LESS = 8  # output bool
    GREATER = 9  # output bool
    AND = 10  # bool inputs and output
    OR = 11


class ReduceOp(IntEnum):
    SUM = 0
    MEAN = 1
    MAX = 2
    MIN = 3
    PROD = 4


class BiasMode(IntEnum):
    NONE = 0
    SCALAR = 1  # bias[0]
    ROW = 2  # bias[n], broadcast over rows
    COL = 3  # bias[m], broadcast over columns
    FULL = 4  # bias[m, n]


@dataclass(frozen=True)
class CopyParams:
    """tensors [src, dst]: dst[dst_start + sum(i*dst_strides)] = src[src_start + sum(i*src_strides)].

    Strides and starts count elements; src strides may be 0 (Expand) or negative (Slice steps < 0).
    """

    dims: tuple[int, ...]
    src_strides: tuple[int, ...]
    dst_strides: tuple[int, ...]
    src_start: int
    dst_start: int


@dataclass(frozen=True)
class UnaryParams:
    """tensors [x, y], float32, same element count."""

    act: int
    alpha: float = 0.0
    beta: float = 0.0


@dataclass(frozen=True)
class BinaryParams:
    """tensors [a, b, y]; y is contiguous with shape dims; a/b strides in elements (0 = broadcast)."""

    op: int
    dims: tuple[int, ...]
    a_strides: tuple[int, ...]
    b_strides: tuple[int, ...]


@dataclass(frozen=True)
class WhereParams:
    """tensors [cond(bool), x, y, out]; out contiguous with shape dims."""

    dims: tuple[int, ...]
    c_strides: tuple[int, ...]
    x_strides: tuple[int, ...]
    y_strides: tuple[int, ...]


@dataclass(frozen=True)
class GemmParams:
    """tensors [A, B, Y] or [A, B, bias, Y]: Y[b] = act(alpha * op(A[b]) @ op(B[b]) + beta * bias).

    Each matrix is contiguous: A is MxK (KxM when trans_a), B is KxN (NxK when trans_b), Y is MxN.
    Batches run over batch_dims (row-major); a_strides/b_strides give each batch dim's step in
    elements (0 broadcasts). Y batches are contiguous. The bias is shared by all batches.
    """

    batch_dims: tuple[int, ...]
    a_strides: tuple[int, ...]
    b_strides: tuple[int, ...]
    M: int
    N: int
    K: int
    trans_a: int
    trans_b: int
    alpha: float
    beta: float
    bias_mode: int
    act: int
    act_alpha: float = 0.0
    act_beta: float = 0.0


@dataclass(frozen=True)
class ConvParams:
    """tensors [X, W, (B), (R), Y], NCHW float32: Y = act(conv(X, W) + B[m] + R).

    X [N, C, H, W], W [M, C/group, KH, KW], Y [N, M, OH, OW], R (residual) shaped like Y.
    pads = (top, left, bottom, right). 1-D convs are lowered with H = KH = 1.
    """

    group: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    has_bias: int
    has_residual: int
    act: int
    act_alpha: float = 0.0
    act_beta: float = 0.0


class PoolKind(IntEnum):
    MAX = 0
    AVG = 1


@dataclass(frozen=True)
class PoolParams:
    """tensors [X, Y], NCHW float32; output size from Y; pads = (top, left, bottom, right).

    Average pooling divides by the window's in-bounds size unless count_include_pad, in which case
    positions in the explicit pads count (positions beyond them, from ceil_mode, never do).
    """

    kind: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    count_include_pad: int


@dataclass(frozen=True)
class ReduceParams:
    """tensors [X, Y]: X viewed as [outer, n, inner], Y as [outer, inner]."""

    op: int
    outer: int
    n: int
    inner: int


@dataclass(frozen=True)
class SoftmaxParams:
    """tensors [X, Y]: softmax (or log-softmax) over the middle axis of [outer, n, inner]."""

    outer: int
    n: int
    inner: int
    log: int


@dataclass(frozen=True)
class LayerNormParams:
    """tensors [X, scale, (bias), Y]: normalise each row of X viewed as [outer, n]; scale/bias have n."""

    outer: int
    n: int
    epsilon: float
    has_bias: int


@dataclass(frozen=True)
class BatchNormParams:
    """tensors [X, scale, bias, mean, var, Y]: X is [N, C, *]; per-channel inference normalisation."""

    epsilon: float


@dataclass(frozen=True)
class CastParams:
    """tensors [X, Y]: element-wise conversion between the two tensors' dtypes (same count).

    float -> int truncates toward zero; anything -> bool is (x != 0).
    """


@dataclass(frozen=True)
class GatherParams:
    """tensors [data, indices(int32|int64), Y]: data viewed as [outer, axis_dim, inner].

    Y[o, j, i] = data[o, idx[j], i] for j < n_idx; negative indices count from the end;
    an index outside [-axis_dim, axis_dim) is an error, never an out-of-bounds read.
    """

    outer: int
    axis_dim: int
    inner: int
    n_idx: int


PARAMS_OF: dict[Kernel, type] = {
    Kernel.COPY: CopyParams,
    Kernel.UNARY: UnaryParams,
    Kernel.BINARY: BinaryParams,
    Kernel.WHERE: WhereParams,
    Kernel.GEMM: GemmParams,
    Kernel.CONV: ConvParams,
    Kernel.POOL: PoolParams,
    Kernel.REDUCE: ReduceParams,
    Kernel.SOFTMAX: SoftmaxParams,
    Kernel.LAYERNORM: LayerNormParams,
    Kernel.BATCHNORM: BatchNormParams,
    Kernel.CAST: CastParams,
    Kernel.GATHER: GatherParams,
}
