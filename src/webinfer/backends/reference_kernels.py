"""The kernels in numpy: the executable definition of each kernel's semantics (see kernels.py).

Compiled backends are tested against these. A kernel receives the step's tensors as numpy views
shaped like their TensorRefs (outputs writable) plus its parameter record, and writes its outputs
in place. Element-wise float math runs in float64, so a result is the float32 rounding of the
exact answer, not of one evaluation order; the big matrix products stay float32 for speed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from ..errors import BackendError
from ..kernels import (
    Act,
    BatchNormParams,
    BiasMode,
    BinaryParams,
    BinOp,
    CastParams,
    ConvParams,
    CopyParams,
    GatherParams,
    GemmParams,
    Kernel,
    LayerNormParams,
    PoolKind,
    PoolParams,
    ReduceOp,
    ReduceParams,
    SoftmaxParams,
    UnaryParams,
    WhereParams,
)

Run = Callable[[list[np.ndarray], Any], None]
Check = Callable[[list[np.dtype], Any], str | None]


@dataclass(frozen=True)
class Impl:
    run: Run
    check: Check  # None when the step's dtypes and op codes are supported, else the reason


KERNELS: dict[Kernel, Impl] = {}


def kernel(which: Kernel, check: Check) -> Callable[[Run], Run]:
    """Register fn as the implementation of `which`, with the dtype check its step must pass."""

    def register(fn: Run) -> Run:
        KERNELS[which] = Impl(fn, check)
        return fn

    return register


F32 = np.dtype(np.float32)
BOOL = np.dtype(np.bool_)
INDEX = (np.dtype(np.int32), np.dtype(np.int64))


def _strided(
    t: np.ndarray, start: int, dims: tuple[int, ...], strides: tuple[int, ...], writeable: bool = False
) -> np.ndarray:
    """t's flat elements from `start` with element strides; refuses any access outside t."""
    flat = t.reshape(-1)
    if math.prod(dims):
        reach = [(d - 1) * s for d, s in zip(dims, strides, strict=True)]
        lo = start + sum(min(0, r) for r in reach)
        hi = start + sum(max(0, r) for r in reach)
        if lo < 0 or hi >= flat.size:
            raise BackendError(f"strided access to elements [{lo}, {hi}] of a {flat.size}-element tensor")
    steps = [s * flat.itemsize for s in strides]
    return as_strided(flat[start:], shape=dims, strides=steps, writeable=writeable)


# ---- activations (UNARY, and fused into GEMM/CONV) ----

_SQRT_HALF = math.sqrt(0.5)
_SQRT_PI = math.sqrt(math.pi)
_ERF_SPLIT = 2.5  # series below, continued fraction above: both reach ~1e-15 there
_ERFC_DEPTH = 40


def _erf_series(a: np.ndarray) -> np.ndarray:
    """erf(a) = 2/sqrt(pi) a exp(-a^2) sum_n (2a^2)^n / (2n+1)!!: positive terms, no cancellation."""
    two_a2 = 2.0 * a * a
    term, total, n = np.ones_like(a), np.ones_like(a), 0
    while np.any(term > 1e-17 * total):
        n += 1
        term *= two_a2 / (2 * n + 1)
        total += term
    return 2.0 / _SQRT_PI * a * np.exp(-a * a) * total


def _erfc_fraction(a: np.ndarray) -> np.ndarray:
    """erfc(a) for large a by Laplace's continued fraction, evaluated bottom-up:
    exp(-a^2) / sqrt(pi) / (a + (1/2) / (a + 1 / (a + (3/2) / (a + ...)))).
    """
    f = a.copy()
    for k in range(_ERFC_DEPTH, 0, -1):
        f = a + (0.5 * k) / f
    return np.exp(-a * a) / (_SQRT_PI * f)


def _erf_pair(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(erf(x), erfc(|x|)) in float64; numpy has no erf and the browser has no scipy.

    erfc(|x|) comes without the cancellation of 1 - erf, which exact GELU needs for x << 0.
    """
    a = np.abs(x)
    small = a < _ERF_SPLIT
    erf_abs, erfc_abs = np.empty_like(a), np.empty_like(a)
    erf_abs[small] = _erf_series(a[small])
    erfc_abs[small] = 1.0 - erf_abs[small]
    erfc_abs[~small] = _erfc_fraction(a[~small])
    erf_abs[~small] = 1.0 - erfc_abs[~small]
    return np.copysign(erf_abs, x), erfc_abs


def _gelu(x: np.ndarray, _alpha: float, _beta: float) -> np.ndarray:
    erf, erfc_abs = _erf_pair(x * _SQRT_HALF)
    return 0.5 * x * np.where(x < 0, erfc_abs, 1.0 + erf)  # 1 + erf(z) = erfc(-z)


def _gelu_tanh(x: np.ndarray, _alpha: float, _beta: float) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


ActFn = Callable[[np.ndarray, float, float], np.ndarray]
_ACTS: dict[int, ActFn] = {
    Act.NONE: lambda x, a, b: x,
    Act.RELU: lambda x, a, b: np.maximum(x, 0.0),
    Act.SIGMOID: lambda x, a, b: np.exp(-np.logaddexp(0.0, -x)),  # no overflow, keeps tiny results
    Act.TANH: lambda x, a, b: np.tanh(x),
    Act.ERF: lambda x, a, b: _erf_pair(x)[0],
    Act.GELU: _gelu,
    Act.GELU_TANH: _gelu_tanh,
    Act.SQRT: lambda x, a, b: np.sqrt(x),
    Act.EXP: lambda x, a, b: np.exp(x),
    Act.LOG: lambda x, a, b: np.log(x),
    Act.ABS: lambda x, a, b: np.abs(x),
    Act.NEG: lambda x, a, b: -x,
    Act.RECIPROCAL: lambda x, a, b: 1.0 / x,
    Act.HARDSIGMOID: lambda x, a, b: np.clip(a * x + b, 0.0, 1.0),
    Act.HARDSWISH: lambda x, a, b: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    Act.CLIP: lambda x, a, b: np.minimum(np.maximum(x, a), b),
    Act.LEAKYRELU: lambda x, a, b: np.where(x >= 0, x, a * x),
    Act.FLOOR: lambda x, a, b: np.floor(x),
    Act.CEIL: lambda x, a, b: np.ceil(x),
}


def activation(x: np.ndarray, act: int, alpha: float = 0.0, beta: float = 0.0) -> np.ndarray:
    """act(x) computed in float64; the caller stores it in its output's dtype."""
    with np.errstate(all="ignore"):
        return _ACTS[act](np.asarray(x, np.float64), alpha, beta)


# ---- dtype checks ----


def _known(code: int, table: dict, what: str) -> str | None:
    return None if code in table else f"unknown {what} {code}"


def _float32(dts: list[np.dtype]) -> str | None:
    return None if all(dt == F32 for dt in dts) else "needs float32 tensors"


def _float32_act(dts: list[np.dtype], p: Any) -> str | None:
    return _float32(dts) or _known(p.act, _ACTS, "activation")


# ---- data movement ----


@kernel(Kernel.COPY, lambda dts, p: None if dts[0] == dts[1] else "source and destination dtypes differ")
def copy(views: list[np.ndarray], p: CopyParams) -> None:
    src, dst = views
    target = _strided(dst, p.dst_start, p.dims, p.dst_strides, writeable=True)
    target[...] = _strided(src, p.src_start, p.dims, p.src_strides)


def _check_gather(dts: list[np.dtype], p: GatherParams) -> str | None:
    data, idx, y = dts
    if idx not in INDEX:
        return f"indices must be int32 or int64, not {idx}"
    return None if data == y else "data and output dtypes differ"


@kernel(Kernel.GATHER, _check_gather)
def gather(views: list[np.ndarray], p: GatherParams) -> None:
    data, idx, y = views
    i = idx.reshape(p.n_idx)
    bad = (i < -p.axis_dim) | (i >= p.axis_dim)
    if bad.any():
        raise BackendError(f"gather index {i[bad][0]} is outside [-{p.axis_dim}, {p.axis_dim})")
    # numpy's own indexing counts negative indices from the end, as Gather does
    y.reshape(p.outer, p.n_idx, p.inner)[...] = data.reshape(p.outer, p.axis_dim, p.inner)[:, i]


@kernel(Kernel.CAST, lambda dts, p: None)
def cast(views: list[np.ndarray], p: CastParams) -> None:
    x, y = views
    with np.errstate(invalid="ignore"):  # NaN/inf to int is undefined, as in C
        y[...] = x.reshape(y.shape).astype(y.dtype)  # float->int truncates; ->bool is x != 0


# ---- element-wise ----


@kernel(Kernel.UNARY, _float32_act)
def unary(views: list[np.ndarray], p: UnaryParams) -> None:
    x, y = views
    y[...] = activation(x.reshape(y.shape), p.act, p.alpha, p.beta)


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Float division, or integer division truncating toward zero like C (ONNX Div)."""
    if a.dtype.kind == "f":
        return np.divide(a, b)
    if not np.all(b):
        raise BackendError("integer division by zero")
    return (a - np.fmod(a, b)) // b  # fmod has the dividend's sign, so the rest divides exactly


class _BinarySpec(NamedTuple):
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
    kinds: str  # numpy dtype kinds the operands may have
    to_bool: bool  # the output is bool rather than the operands' dtype


_NUMERIC = "iuf"
_BINARY: dict[int, _BinarySpec] = {
    BinOp.ADD: _BinarySpec(np.add, _NUMERIC, False),
    BinOp.SUB: _BinarySpec(np.subtract, _NUMERIC, False),
    BinOp.MUL: _BinarySpec(np.multiply, _NUMERIC, False),
    BinOp.DIV: _BinarySpec(_divide, _NUMERIC, False),
    BinOp.POW: _BinarySpec(np.power, "f", False),
    BinOp.MAX: _BinarySpec(np.maximum, _NUMERIC, False),
    BinOp.MIN: _BinarySpec(np.minimum, _NUMERIC, False),
    BinOp.EQUAL: _BinarySpec(np.equal, _NUMERIC + "b", True),
    BinOp.LESS: _BinarySpec(np.less, _NUMERIC, True),
    BinOp.GREATER: _BinarySpec(np.greater, _NUMERIC, True),
    BinOp.AND: _BinarySpec(np.logical_and, "b", True),
    BinOp.OR: _BinarySpec(np.logical_or, "b", True),
}


def _check_binary(dts: list[np.dtype], p: BinaryParams) -> str | None:
    a, b, y = dts
    if p.op not in _BINARY:
        return f"unknown binary op {p.op}"
    spec, name = _BINARY[p.op], BinOp(p.op).name
    if a != b:
        return f"{name} operands differ in dtype ({a}, {b})"
    if a.kind not in spec.kinds:
        return f"{name} does not take {a}"
    out = BOOL if spec.to_bool else a
    return None if y == out else f"{name} of {a} writes {out}, not {y}"


@kernel(Kernel.BINARY, _check_binary)
def binary(views: list[np.ndarray], p: BinaryParams) -> None:
    a, b, y = views
    with np.errstate(all="ignore"):  # IEEE results (inf, nan) like the compiled kernels
        y.reshape(p.dims)[...] = _BINARY[p.op].fn(
            _strided(a, 0, p.dims, p.a_strides), _strided(b, 0, p.dims, p.b_strides)
        )


def _check_where(dts: list[np.dtype], p: WhereParams) -> str | None:
    cond, x, y, out = dts
    if cond != BOOL:
        return f"condition must be bool, not {cond}"
    return None if x == y == out else "value and output dtypes differ"


@kernel(Kernel.WHERE, _check_where)
def where(views: list[np.ndarray], p: WhereParams) -> None:
    c, x, y, out = views
    out.reshape(p.dims)[...] = np.where(
        _strided(c, 0, p.dims, p.c_strides),
        _strided(x, 0, p.dims, p.x_strides),
        _strided(y, 0, p.dims, p.y_strides),
    )


# ---- matrix products ----

_BIAS: dict[int, Callable[[list[np.ndarray], int, int], Any]] = {
    BiasMode.NONE: lambda t, m, n: 0.0,
    BiasMode.SCALAR: lambda t, m, n: t[0].reshape(-1)[0],
    BiasMode.ROW: lambda t, m, n: t[0].reshape(n),
    BiasMode.COL: lambda t, m, n: t[0].reshape(m, 1),
    BiasMode.FULL: lambda t, m, n: t[0].reshape(m, n),
}


def _check_gemm(dts: list[np.dtype], p: GemmParams) -> str | None:
    return _float32_act(dts, p) or _known(p.bias_mode, _BIAS, "bias mode")


def _matrix_op(
    t: np.ndarray, batch: tuple[int, ...], strides: tuple[int, ...], rows: int, cols: int, trans: int
) -> np.ndarray:
    """op(t[b]) as a rows x cols view per batch; each stored matrix is contiguous, transposed if trans."""
    stored = (cols, rows) if trans else (rows, cols)
    m = _strided(t, 0, (*batch, *stored), (*strides, stored[1], 1))
    return m.swapaxes(-1, -2) if trans else m


@kernel(Kernel.GEMM, _check_gemm)
def gemm(views: list[np.ndarray], p: GemmParams) -> None:
    a, b, *bias, y = views
    batch = tuple(p.batch_dims)
    acc = p.alpha * np.matmul(
        _matrix_op(a, batch, p.a_strides, p.M, p.K, p.trans_a),
        _matrix_op(b, batch, p.b_strides, p.K, p.N, p.trans_b),
    )
    acc = acc + p.beta * _BIAS[p.bias_mode](bias, p.M, p.N)
    y.reshape(*batch, p.M, p.N)[...] = activation(acc, p.act, p.act_alpha, p.act_beta)


def _windows(x: np.ndarray, fill: float, p: ConvParams | PoolParams, out_hw: tuple[int, int]) -> np.ndarray:
    """[N, C, OH, OW, KH, KW] view of the windows of x padded with `fill`.

    The padding grows past the bottom/right pads when the output size asks for it (ceil_mode).
    """
    (kh, kw), (sh, sw), (dh, dw) = p.kernel, p.strides, p.dilations
    top, left, bottom, right = p.pads
    oh, ow = out_hw
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    h, w = x.shape[2:]
    extra_h = max(0, (oh - 1) * sh + span_h - (top + h + bottom))
    extra_w = max(0, (ow - 1) * sw + span_w - (left + w + right))
    padded = np.pad(
        x, ((0, 0), (0, 0), (top, bottom + extra_h), (left, right + extra_w)), constant_values=fill
    )
    win = sliding_window_view(padded, (span_h, span_w), axis=(2, 3))
    return win[:, :, ::sh, ::sw][:, :, :oh, :ow, ::dh, ::dw]


@kernel(Kernel.CONV, _float32_act)
def conv(views: list[np.ndarray], p: ConvParams) -> None:
    x, w, *extra, y = views
    n, c = x.shape[:2]
    m, oh, ow = y.shape[1:]
    g = p.group
    # im2col: one [C/g * KH * KW, N * OH * OW] matrix per group, then one matmul per group
    cols = _windows(x, 0.0, p, (oh, ow)).reshape(n, g, c // g, oh, ow, *p.kernel)
    cols = cols.transpose(1, 2, 5, 6, 0, 3, 4).reshape(g, -1, n * oh * ow)
    out = np.matmul(w.reshape(g, m // g, -1), cols)
    acc = out.reshape(m, n, oh, ow).transpose(1, 0, 2, 3)
    if p.has_bias:
        acc = acc + extra[0].reshape(1, m, 1, 1)
    if p.has_residual:
        acc = acc + extra[p.has_bias].reshape(acc.shape)
    y[...] = activation(acc, p.act, p.act_alpha, p.act_beta)


# ---- pooling and reductions ----


def _window_counts(p: PoolParams, axis: int, size: int, out: int) -> np.ndarray:
    """Per output position along one axis: how many window taps fall on the input (or its pads)."""
    before, after = p.pads[axis], p.pads[axis + 2]
    lo, hi = (0, before + size + after) if p.count_include_pad else (before, before + size)
    taps = np.arange(out)[:, None] * p.strides[axis] + np.arange(p.kernel[axis]) * p.dilations[axis]
    return ((taps >= lo) & (taps < hi)).sum(axis=1)  # taps are in padded coordinates


def _max_pool(x: np.ndarray, p: PoolParams, out_hw: tuple[int, int]) -> np.ndarray:
    return _windows(x, -np.inf, p, out_hw).max(axis=(-2, -1))  # padding never wins


def _avg_pool(x: np.ndarray, p: PoolParams, out_hw: tuple[int, int]) -> np.ndarray:
    total = _windows(x, 0.0, p, out_hw).sum(axis=(-2, -1), dtype=np.float64)
    counts = np.outer(*(_window_counts(p, i, x.shape[2 + i], out_hw[i]) for i in (0, 1)))
    with np.errstate(all="ignore"):
        return total / counts


_POOL: dict[int, Callable[[np.ndarray, PoolParams, tuple[int, int]], np.ndarray]] = {
    PoolKind.MAX: _max_pool,
    PoolKind.AVG: _avg_pool,
}


@kernel(Kernel.POOL, lambda dts, p: _float32(dts) or _known(p.kind, _POOL, "pool kind"))
def pool(views: list[np.ndarray], p: PoolParams) -> None:
    x, y = views
    y[...] = _POOL[p.kind](x, p, y.shape[2:])


def _accumulator(x: np.ndarray) -> np.dtype | None:
    return np.dtype(np.float64) if x.dtype.kind == "f" else None


def _bounds(dt: np.dtype) -> tuple[float, float]:
    """Identities of max and min: what a reduction over nothing yields, as ONNX specifies."""
    if dt.kind == "f":
        return -np.inf, np.inf
    info = np.iinfo(dt)
    return info.min, info.max


_REDUCE: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    ReduceOp.SUM: lambda x: np.add.reduce(x, axis=1, dtype=_accumulator(x)),
    ReduceOp.MEAN: lambda x: np.add.reduce(x, axis=1, dtype=np.float64) / x.shape[1],
    ReduceOp.MAX: lambda x: np.maximum.reduce(x, axis=1, initial=_bounds(x.dtype)[0]),
    ReduceOp.MIN: lambda x: np.minimum.reduce(x, axis=1, initial=_bounds(x.dtype)[1]),
    ReduceOp.PROD: lambda x: np.multiply.reduce(x, axis=1, dtype=_accumulator(x)),
}


def _check_reduce(dts: list[np.dtype], p: ReduceParams) -> str | None:
    x, y = dts
    if x != y or x.kind not in _NUMERIC:
        return f"needs one numeric dtype, not {x} -> {y}"
    return _known(p.op, _REDUCE, "reduce op")


@kernel(Kernel.REDUCE, _check_reduce)
def reduce(views: list[np.ndarray], p: ReduceParams) -> None:
    x, y = views
    with np.errstate(all="ignore"):
        y.reshape(p.outer, p.inner)[...] = _REDUCE[p.op](x.reshape(p.outer, p.n, p.inner))


# ---- normalisations ----


@kernel(Kernel.SOFTMAX, lambda dts, p: _float32(dts))
def softmax(views: list[np.ndarray], p: SoftmaxParams) -> None:
    x, y = views
    x3 = x.reshape(p.outer, p.n, p.inner).astype(np.float64)
    shifted = x3 - x3.max(axis=1, keepdims=True, initial=-np.inf)  # exp never overflows
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        y.reshape(x3.shape)[...] = shifted - np.log(total) if p.log else e / total


@kernel(Kernel.LAYERNORM, lambda dts, p: _float32(dts))
def layernorm(views: list[np.ndarray], p: LayerNormParams) -> None:
    x, scale, *bias, y = views
    x2 = x.reshape(p.outer, p.n).astype(np.float64)
    centered = x2 - x2.mean(axis=1, keepdims=True)
    normed = centered / np.sqrt((centered * centered).mean(axis=1, keepdims=True) + p.epsilon)
    shift = bias[0].reshape(p.n) if p.has_bias else 0.0
    y.reshape(x2.shape)[...] = normed * scale.reshape(p.n) + shift


@kernel(Kernel.BATCHNORM, lambda dts, p: _float32(dts))
def batchnorm(views: list[np.ndarray], p: BatchNormParams) -> None:
    x, scale, bias, mean, var, y = views
    c = x.shape[1]
    x3 = x.reshape(x.shape[0], c, math.prod(x.shape[2:])).astype(np.float64)

    def per_channel(t: np.ndarray) -> np.ndarray:
        return t.reshape(1, c, 1).astype(np.float64)

    normed = (x3 - per_channel(mean)) / np.sqrt(per_channel(var) + p.epsilon)
    y.reshape(x3.shape)[...] = normed * per_channel(scale) + per_channel(bias)
