"""The C kernels of the native backend against independent numpy/torch oracles, and plan validation.

Each test builds Steps by hand: graph inputs and outputs are the step's tensors (buffers FIRST_IO..),
so the oracle sees exactly the arrays the kernel read. Validation tests corrupt serialised plans and
expect a BackendError naming the problem, never a crash.
"""

from __future__ import annotations

import contextlib
import math
from array import array
from functools import cache
from itertools import product

import numpy as np
import pytest

from webinfer import dtypes
from webinfer.backends.native import ISAS, NativeBackend, NativePlan, ffi
from webinfer.errors import BackendError
from webinfer.kernels import (
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
from webinfer.plan import ARENA, CONSTS, FIRST_IO, MAGIC, WEIGHTS, Plan, Step, TensorRef, serialize

pytestmark = pytest.mark.skipif(NativeBackend.available() is not None, reason="native extension not built")

RNG = np.random.default_rng(1234)
THREADS = (1, 2)


@cache
def backend(threads: int = 1, isa: str | None = None) -> NativeBackend:
    return NativeBackend(threads, isa=isa)


def isas() -> list[str]:
    """Instruction sets this CPU can run, the portable one included."""
    best = ISAS[backend().isa]
    return [name for name, code in ISAS.items() if code <= best]


def ref_of(buffer: int, a: np.ndarray | tuple[tuple[int, ...], np.dtype]) -> TensorRef:
    shape, dt = (a.shape, a.dtype) if isinstance(a, np.ndarray) else a
    return TensorRef(buffer, 0, int(dtypes.from_numpy_name(np.dtype(dt).name)), tuple(shape))


def run(
    kernel: Kernel,
    params: object,
    inputs: list[np.ndarray],
    outputs: list[tuple[tuple[int, ...], type | np.dtype]],
    threads: int = 1,
    isa: str | None = None,
    weights: tuple[int, ...] = (),
) -> list[np.ndarray]:
    """Runs one step whose tensors are `inputs` then fresh arrays for `outputs` (shape, dtype).

    Inputs whose index is in `weights` go to the WEIGHTS buffer (where GEMM and CONV prepack them),
    the others are graph inputs.
    """
    inputs = [np.ascontiguousarray(x) for x in inputs]
    outs = [  # filled with garbage bytes, so unwritten elements show
        np.full(math.prod(shape) * np.dtype(dt).itemsize, 0x7F, np.uint8).view(dt).reshape(shape)
        for shape, dt in outputs
    ]
    blob, feeds, in_refs = bytearray(), [], []
    for i, x in enumerate(inputs):
        if i in weights:
            blob += bytes(-len(blob) % 64)
            in_refs.append(TensorRef(WEIGHTS, len(blob), ref_of(0, x).dtype, x.shape))
            blob += x.tobytes()
        else:
            in_refs.append(ref_of(FIRST_IO + len(feeds), x))
            feeds.append(x)
    out_refs = [ref_of(FIRST_IO + len(feeds) + j, o) for j, o in enumerate(outs)]
    step = Step(kernel, (*in_refs, *out_refs), params)
    names = [f"t{i}" for i in range(len(feeds) + len(outs))]
    plan = Plan([step], 0, b"", names[: len(feeds)], names[len(feeds) :], in_refs, out_refs)
    be = backend(threads, isa)
    be.set_weights(memoryview(bytes(blob)))
    be.execute(be.compile(plan), [memoryview(x) for x in feeds], [memoryview(o) for o in outs])
    return outs


def run1(
    kernel: Kernel, params: object, inputs: list[np.ndarray], shape, dtype=np.float32, **kw
) -> np.ndarray:
    return run(kernel, params, inputs, [(tuple(shape), dtype)], **kw)[0]


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def strides_of(a: np.ndarray) -> tuple[int, ...]:
    return tuple(s // a.itemsize for s in a.strides)


# ---- COPY ----


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32, np.int64])
@pytest.mark.parametrize("threads", THREADS)
def test_copy_transpose_slice_expand(dtype: type, threads: int) -> None:
    x = (RNG.standard_normal((3, 4, 5, 6)) * 50).astype(dtype)
    base = np.arange(x.size)  # element index of x, to read starts and strides off numpy views

    def check(view_of: tuple) -> None:
        idx = base.reshape(x.shape)[view_of[0]].transpose(view_of[1])
        start = int(idx.flat[0]) if idx.size else 0
        params = CopyParams(idx.shape, strides_of(idx), strides_of(np.empty(idx.shape)), start, 0)
        got = run1(Kernel.COPY, params, [x], idx.shape, dtype, threads=threads)
        np.testing.assert_array_equal(got, x[view_of[0]].transpose(view_of[1]))

    check((np.s_[:], (0, 2, 3, 1)))  # NCHW -> NHWC
    check((np.s_[:, ::-1, 1:4, ::-2], (3, 1, 0, 2)))  # negative steps
    check((np.s_[2:, :, 4:, 1:5], (0, 1, 2, 3)))
    check((np.s_[:, :0], (0, 1, 2, 3)))  # empty

    # Expand: a (4, 1) source broadcast to (2, 4, 6) with zero strides, written into a strided window
    src = x[0, :, 0, :1].copy()
    params = CopyParams((2, 4, 6), (0, 1, 0), (60, 10, 1), 0, 3)
    got = run1(Kernel.COPY, params, [src], (2, 6, 10), dtype, threads=threads)
    np.testing.assert_array_equal(got[:, :4, 3:9], np.broadcast_to(src.reshape(1, 4, 1), (2, 4, 6)))


# ---- UNARY ----

_ERF = np.vectorize(math.erf)
_ERFC = np.vectorize(math.erfc)
ORACLES = {
    Act.NONE: lambda x, a, b: x,
    Act.RELU: lambda x, a, b: np.maximum(x, 0),
    Act.SIGMOID: lambda x, a, b: 1 / (1 + np.exp(-x)),
    Act.TANH: lambda x, a, b: np.tanh(x),
    Act.ERF: lambda x, a, b: _ERF(x),
    Act.GELU: lambda x, a, b: np.where(
        x < 0, 0.5 * x * _ERFC(-x / math.sqrt(2)), 0.5 * x * (1 + _ERF(x / math.sqrt(2)))
    ),
    # 0.5 x (1 + tanh(u)) written as x * sigmoid(2u), which keeps its precision for x << 0
    Act.GELU_TANH: lambda x, a, b: x / (1 + np.exp(-2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    Act.SQRT: lambda x, a, b: np.sqrt(x),
    Act.EXP: lambda x, a, b: np.exp(x),
    Act.LOG: lambda x, a, b: np.log(x),
    Act.ABS: lambda x, a, b: np.abs(x),
    Act.NEG: lambda x, a, b: -x,
    Act.RECIPROCAL: lambda x, a, b: 1 / x,
    Act.HARDSIGMOID: lambda x, a, b: np.clip(a * x + b, 0, 1),
    Act.HARDSWISH: lambda x, a, b: x * np.clip(x / 6 + 0.5, 0, 1),
    Act.CLIP: lambda x, a, b: np.minimum(np.maximum(x, a), b),
    Act.LEAKYRELU: lambda x, a, b: np.where(x >= 0, x, a * x),
    Act.FLOOR: lambda x, a, b: np.floor(x),
    Act.CEIL: lambda x, a, b: np.ceil(x),
}
ACT_ARGS = {Act.HARDSIGMOID: (0.2, 0.5), Act.CLIP: (-0.5, 1.5), Act.LEAKYRELU: (0.1, 0.0)}
UNARY_TOLERANCE = {  # default: rtol 6e-7 (a few ulp), atol 1e-37 (underflow)
    Act.GELU_TANH: {"rtol": 1e-5, "atol": 1e-37},  # u = c (x + 0.044715 x^3) rounds; exp(-2u) magnifies it
    Act.HARDSIGMOID: {"rtol": 6e-7, "atol": 6e-8},  # alpha * x + beta cancels near 0 in float32
    Act.HARDSWISH: {"rtol": 6e-7, "atol": 6e-8},
}


def act_oracle(x: np.ndarray, act: int, a: float = 0.0, b: float = 0.0) -> np.ndarray:
    with np.errstate(all="ignore"):
        return ORACLES[Act(act)](x.astype(np.float64), a, b)


def unary_inputs() -> np.ndarray:
    special = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-30, -1e-30, 88.0, -88.0, 100.0, -104.0]
    special += [np.inf, -np.inf, np.nan, 1e20, -1e20, 8388609.0, -8388609.5]
    return np.concatenate([randn(3000) * 4, np.linspace(-12, 12, 2001, dtype=np.float32), special]).astype(
        np.float32
    )


@pytest.mark.parametrize("act", list(Act))
def test_unary_every_activation(act: Act) -> None:
    x = unary_inputs()
    if act in (Act.SQRT, Act.LOG):
        x = np.abs(x)
    a, b = ACT_ARGS.get(act, (0.0, 0.0))
    with np.errstate(over="ignore"):
        want = act_oracle(x, act, a, b).astype(np.float32)  # the float32 rounding of the exact result
    for isa, threads in product(isas(), THREADS):
        got = run1(Kernel.UNARY, UnaryParams(int(act), a, b), [x], x.shape, threads=threads, isa=isa)
        tolerance = UNARY_TOLERANCE.get(act, {"rtol": 6e-7, "atol": 1e-37})
        np.testing.assert_allclose(got, want, **tolerance, err_msg=f"{act.name} {isa}")


def test_erf_is_accurate_to_a_few_ulp() -> None:
    x = np.linspace(-6, 6, 400_001, dtype=np.float32)
    for isa in isas():
        got = run1(Kernel.UNARY, UnaryParams(int(Act.ERF)), [x], x.shape, isa=isa).astype(np.float64)
        want = _ERF(x.astype(np.float64))
        nonzero = want != 0
        assert np.max(np.abs(got - want)[nonzero] / np.abs(want[nonzero])) < 2e-7


# ---- BINARY ----

NUMERIC = [np.float32, np.int32, np.int64]


def binary_oracle(op: BinOp, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == BinOp.DIV and a.dtype.kind == "i":
            return ((a - np.fmod(a, b)) // b).astype(a.dtype)  # truncation toward zero
        if op == BinOp.POW and a.dtype.kind == "f":
            return np.power(a.astype(np.float64), b.astype(np.float64))
        fn = {
            BinOp.ADD: np.add, BinOp.SUB: np.subtract, BinOp.MUL: np.multiply, BinOp.DIV: np.divide,
            BinOp.POW: np.power, BinOp.MAX: np.maximum, BinOp.MIN: np.minimum, BinOp.EQUAL: np.equal,
            BinOp.LESS: np.less, BinOp.GREATER: np.greater, BinOp.AND: np.logical_and,
            BinOp.OR: np.logical_or,
        }[op]  # fmt: skip
        return fn(a, b)


def binary_operands(op: BinOp, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    if dtype == np.bool_:
        return RNG.random((3, 1, 5)) > 0.5, RNG.random((1, 4, 5)) > 0.5
    if op == BinOp.POW:
        if dtype == np.float32:
            exps = np.array([0, 1, 2, 3, -2, 0.5, 1.5, -0.25, 7, 65], np.float32)
            return np.abs(randn(3, 1, 10)) * 0.5 + 0.5, np.broadcast_to(exps, (1, 4, 10)).copy()
        return RNG.integers(-5, 6, (3, 1, 5)).astype(dtype), RNG.integers(0, 9, (1, 4, 5)).astype(dtype)
    if dtype == np.float32:
        a, b = randn(3, 1, 5), randn(1, 4, 5)
        b[0, 0, :2] = a[:2, 0, 0]  # some equal pairs
        return a, b
    a, b = RNG.integers(-100, 100, (3, 1, 5)).astype(dtype), RNG.integers(-9, 9, (1, 4, 5)).astype(dtype)
    b[b == 0] = 3
    b[0, 0, :2] = a[:2, 0, 0]
    return a, b


BINARY_CASES = [(op, dt) for op in list(BinOp)[:10] for dt in NUMERIC] + [
    (BinOp.EQUAL, np.bool_), (BinOp.AND, np.bool_), (BinOp.OR, np.bool_)
]  # fmt: skip


@pytest.mark.parametrize(("op", "dtype"), BINARY_CASES)
def test_binary_broadcast(op: BinOp, dtype: type) -> None:
    a, b = binary_operands(op, dtype)
    dims = np.broadcast_shapes(a.shape, b.shape)
    a_strides = tuple(0 if n == 1 else s for n, s in zip(a.shape, strides_of(a), strict=True))
    b_strides = tuple(0 if n == 1 else s for n, s in zip(b.shape, strides_of(b), strict=True))
    want = binary_oracle(op, np.broadcast_to(a, dims), np.broadcast_to(b, dims))
    want = want.astype(np.bool_ if op >= BinOp.EQUAL else a.dtype)
    for isa, threads in product(isas(), THREADS):
        params = BinaryParams(int(op), dims, a_strides, b_strides)
        got = run1(Kernel.BINARY, params, [a, b], dims, want.dtype, threads=threads, isa=isa)
        rtol = 1e-5 if op == BinOp.POW else 2e-6  # exp(z log x) for the large exponent
        np.testing.assert_allclose(got, want, rtol=rtol, err_msg=f"{op.name} {dtype.__name__} {isa}")


@pytest.mark.parametrize("isa", ["generic", None])
@pytest.mark.parametrize("threads", THREADS)
def test_binary_contiguous_and_scalar_rows(isa: str | None, threads: int) -> None:
    a, b = randn(64, 1000), randn(1000)
    dims = (64, 1000)
    for sa, sb, want in [
        ((1000, 1), (0, 1), a - b),  # row vector
        ((1000, 1), (0, 0), a - b[0]),  # scalar
        ((0, 1), (1000, 1), b - a),  # broadcast first operand
        ((1, 64), (0, 0), a.reshape(1000, 64).T - b[0]),  # strided (transposed) first operand
    ]:
        first, second = (a, b) if sa[0] else (b, a)
        params = BinaryParams(int(BinOp.SUB), dims, sa, sb)
        got = run1(Kernel.BINARY, params, [first, second], dims, threads=threads, isa=isa)
        np.testing.assert_array_equal(got, want)


def test_integer_division_truncates_and_rejects_zero() -> None:
    a = np.array([7, -7, 7, -7, np.iinfo(np.int32).min], np.int32)
    b = np.array([2, 2, -2, -2, -1], np.int32)
    params = BinaryParams(int(BinOp.DIV), (5,), (1,), (1,))
    np.testing.assert_array_equal(run1(Kernel.BINARY, params, [a, b], (5,), np.int32), [3, -3, -3, 3, a[4]])
    with pytest.raises(BackendError, match="division by zero"):
        run1(Kernel.BINARY, params, [a, np.array([1, 2, 0, 1, 1], np.int32)], (5,), np.int32)


# ---- WHERE ----


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.int64])
@pytest.mark.parametrize("threads", THREADS)
def test_where_broadcast(dtype: type, threads: int) -> None:
    cond = RNG.random((4, 1, 6)) > 0.5
    x = (randn(1, 5, 6) * 10).astype(dtype)
    y = (randn(4, 5, 1) * 10).astype(dtype)
    dims = (4, 5, 6)
    params = WhereParams(dims, (6, 0, 1), (0, 6, 1), (5, 1, 0))
    got = run1(Kernel.WHERE, params, [cond, x, y], dims, dtype, threads=threads)
    np.testing.assert_array_equal(got, np.where(cond, x, y))


# ---- GEMM ----

SIZES = (1, 7, 17, 100, 257)


def gemm_case(M: int, N: int, K: int, ta: int, tb: int, bias_mode: BiasMode = BiasMode.NONE, **kw) -> tuple:
    a = randn(K, M) if ta else randn(M, K)
    b = randn(N, K) if tb else randn(K, N)
    bias_shape = {BiasMode.SCALAR: (1,), BiasMode.ROW: (N,), BiasMode.COL: (M,), BiasMode.FULL: (M, N)}
    bias = [randn(*bias_shape[bias_mode])] if bias_mode != BiasMode.NONE else []
    params = GemmParams(
        (), (), (), M, N, K, ta, tb, kw.get("alpha", 1.0), kw.get("beta", 1.0), int(bias_mode),
        int(kw.get("act", Act.NONE)), kw.get("act_alpha", 0.0), kw.get("act_beta", 0.0),
    )  # fmt: skip
    acc = params.alpha * ((a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64))
    if bias:
        acc = acc + params.beta * (bias[0].reshape(M, 1) if bias_mode == BiasMode.COL else bias[0])
    return [a, b, *bias], params, act_oracle(acc, params.act, params.act_alpha, params.act_beta)


def check_gemm(inputs: list[np.ndarray], params: GemmParams, want: np.ndarray, **kw) -> None:
    got = run1(Kernel.GEMM, params, inputs, want.shape, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5 * math.sqrt(params.K + 1))


@pytest.mark.parametrize(("M", "N", "K"), [(m, n, k) for m in SIZES for n in SIZES for k in (1, 17, 257)])
def test_gemm_sizes(M: int, N: int, K: int) -> None:
    for (ta, tb), threads in zip(product((0, 1), (0, 1)), (1, 2, 1, 2), strict=True):
        inputs, params, want = gemm_case(M, N, K, ta, tb)
        check_gemm(inputs, params, want, threads=threads)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("weights", [(), (1,), (0, 2)], ids=["inputs", "B-weights", "A-weights"])
def test_gemm_every_isa(threads: int, weights: tuple[int, ...]) -> None:
    """Every micro-kernel, prepacked or not; small M (B read in place) included."""
    shapes = [(257, 100, 300), (13, 1000, 37), (300, 35, 1000), (3, 2000, 600), (8, 100, 1000)]
    for isa, (M, N, K) in product(isas(), shapes):
        for ta, tb in product((0, 1), (0, 1)):
            inputs, params, want = gemm_case(M, N, K, ta, tb, BiasMode.ROW, act=Act.RELU)
            check_gemm(inputs, params, want, threads=threads, isa=isa, weights=weights)


@pytest.mark.parametrize("bias_mode", list(BiasMode))
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU, Act.GELU, Act.CLIP, Act.SIGMOID])
def test_gemm_epilogue(bias_mode: BiasMode, act: Act) -> None:
    for threads in THREADS:
        args = dict(alpha=0.5, beta=-2.0, act=act, act_alpha=-0.3, act_beta=0.4)
        inputs, params, want = gemm_case(100, 37, 64, 0, 1, bias_mode, **args)
        check_gemm(inputs, params, want, threads=threads)


def test_gemm_k_zero_is_bias_only() -> None:
    inputs, params, want = gemm_case(5, 6, 0, 0, 0, BiasMode.ROW, act=Act.RELU)
    check_gemm(inputs, params, want)


@pytest.mark.parametrize("threads", THREADS)
def test_gemm_batched_broadcast(threads: int) -> None:
    M, N, K = 9, 20, 33
    a = randn(2, 1, M, K)  # broadcast over the second batch dim
    b = randn(3, N, K)  # broadcast over the first, transposed
    params = GemmParams((2, 3), (M * K, 0), (0, N * K), M, N, K, 0, 1, 1.0, 0.0, 0, 0)
    want = np.matmul(a.astype(np.float64), np.swapaxes(b, -1, -2))
    got = run1(Kernel.GEMM, params, [a, b], (2, 3, M, N), threads=threads)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    many = GemmParams((16,), (M * K,), (0,), M, N, K, 0, 1, 1.0, 0.0, 0, 0)  # batch-parallel path
    a16 = randn(16, M, K)
    got = run1(Kernel.GEMM, many, [a16, b[0]], (16, M, N), threads=threads)
    np.testing.assert_allclose(got, a16.astype(np.float64) @ b[0].T, rtol=1e-4, atol=1e-4)


# ---- CONV ----


def conv_case(N, C, H, W, M, k, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), group=1, bias=True,
              residual=False, act=Act.NONE, act_args=(0.0, 0.0)):  # fmt: skip
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w = randn(N, C, H, W), randn(M, C // group, *k)
    b = randn(M) if bias else None
    xp = F.pad(torch.from_numpy(x).double(), (pads[1], pads[3], pads[0], pads[2]))
    tb = None if b is None else torch.from_numpy(b).double()
    want = F.conv2d(xp, torch.from_numpy(w).double(), tb, stride, 0, dil, group).numpy()
    inputs = [x, w] + ([b] if bias else [])
    if residual:
        r = randn(*want.shape)
        inputs.append(r)
        want = want + r
    want = act_oracle(want, act, *act_args)
    params = ConvParams(group, k, stride, pads, dil, int(bias), int(residual), int(act), *act_args)
    return inputs, params, want


CONV_CASES = [
    dict(N=1, C=3, H=9, W=11, M=5, k=(3, 3), pads=(1, 1, 1, 1)),
    dict(N=2, C=4, H=8, W=7, M=6, k=(3, 2), stride=(2, 1), pads=(0, 1, 2, 0), dil=(1, 2)),
    dict(N=1, C=8, H=10, W=10, M=4, k=(3, 3), dil=(2, 2), pads=(2, 2, 2, 2), group=2, act=Act.RELU),
    dict(
        N=1, C=6, H=7, W=9, M=6, k=(3, 3), pads=(1, 0, 1, 2), group=6, residual=True, act=Act.RELU
    ),  # depthwise
    dict(N=2, C=5, H=12, W=13, M=5, k=(5, 5), stride=(2, 2), pads=(2, 2, 2, 2), group=5, bias=False),
    dict(N=1, C=16, H=7, W=7, M=24, k=(1, 1), residual=True, act=Act.CLIP, act_args=(0.0, 6.0)),  # pointwise
    dict(N=1, C=16, H=7, W=7, M=8, k=(1, 1), stride=(2, 2)),  # strided 1x1: im2col path
    dict(N=1, C=3, H=1, W=50, M=4, k=(1, 5), stride=(1, 3), pads=(0, 2, 0, 1)),  # 1-D
    dict(N=3, C=32, H=14, W=14, M=40, k=(3, 3), pads=(1, 1, 1, 1), group=4, act=Act.GELU),
    dict(N=1, C=64, H=28, W=28, M=64, k=(3, 3), pads=(1, 1, 1, 1), residual=True, act=Act.RELU),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv(case: dict) -> None:
    inputs, params, want = conv_case(**case)
    for isa, threads, weights in product(isas(), THREADS, [(), (1,)]):  # W as an input, or prepacked
        got = run1(Kernel.CONV, params, inputs, want.shape, threads=threads, isa=isa, weights=weights)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{isa} threads={threads}")


# ---- POOL ----


def pool_oracle(x: np.ndarray, p: PoolParams, out_hw: tuple[int, int]) -> np.ndarray:
    """Direct loops: every window tap checked against the input and the explicit pads."""
    N, C, H, W = x.shape
    out = np.empty((N, C, *out_hw))
    top, left, bottom, right = p.pads
    for oh, ow in product(range(out_hw[0]), range(out_hw[1])):
        vals, count = [], 0
        for kh, kw in product(range(p.kernel[0]), range(p.kernel[1])):
            ih = oh * p.strides[0] - top + kh * p.dilations[0]
            iw = ow * p.strides[1] - left + kw * p.dilations[1]
            inside = 0 <= ih < H and 0 <= iw < W
            in_pads = -top <= ih < H + bottom and -left <= iw < W + right
            count += inside or (p.count_include_pad and in_pads)
            if inside:
                vals.append(x[:, :, ih, iw])
        stack = np.stack(vals).astype(np.float64)
        out[:, :, oh, ow] = stack.max(0) if p.kind == PoolKind.MAX else stack.sum(0) / count
    return out


def pool_out(size: int, k: int, s: int, p0: int, p1: int, d: int, ceil: bool) -> int:
    """ONNX's output extent; ceil mode drops a last window that would start in the right pad."""
    span = size + p0 + p1 - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    return out - 1 if ceil and (out - 1) * s >= size + p0 else out


POOL_CASES = [  # kind, kernel, strides, pads, dilations, count_include_pad, ceil_mode
    (PoolKind.MAX, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 0, False),
    (PoolKind.MAX, (2, 3), (2, 2), (0, 1, 1, 0), (2, 1), 0, True),  # dilated, asymmetric
    (PoolKind.MAX, (3, 3), (2, 2), (0, 0, 0, 0), (1, 1), 0, True),
    (PoolKind.AVG, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 0, True),
    (PoolKind.AVG, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, False),
    (PoolKind.AVG, (3, 2), (1, 2), (2, 0, 1, 1), (1, 1), 1, False),  # asymmetric pads
    (PoolKind.AVG, (3, 3), (2, 2), (0, 0, 1, 1), (1, 1), 1, True),  # ceil mode beyond the pads
    (PoolKind.AVG, (2, 2), (2, 2), (0, 0, 0, 0), (2, 2), 0, False),  # dilated average
    (PoolKind.AVG, (15, 13), (1, 1), (0, 0, 0, 0), (1, 1), 0, False),  # global
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_pool(case: tuple) -> None:
    kind, k, s, pads, dil, cip, ceil = case
    x = randn(2, 3, 15, 13)
    out_hw = tuple(pool_out(x.shape[2 + i], k[i], s[i], pads[i], pads[i + 2], dil[i], ceil) for i in (0, 1))
    params = PoolParams(int(kind), k, s, pads, dil, cip)
    want = pool_oracle(x, params, out_hw)
    for isa, threads in product(isas(), THREADS):
        got = run1(Kernel.POOL, params, [x], (2, 3, *out_hw), threads=threads, isa=isa)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_pool_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    x = randn(2, 4, 17, 17)
    tx = torch.from_numpy(x)
    got = run1(
        Kernel.POOL, PoolParams(int(PoolKind.MAX), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 0), [x], (2, 4, 9, 9)
    )
    np.testing.assert_array_equal(got, torch.nn.functional.max_pool2d(tx, 3, 2, 1).numpy())
    params = PoolParams(int(PoolKind.AVG), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 0)
    want = torch.nn.functional.avg_pool2d(tx, 3, 2, 1, ceil_mode=True, count_include_pad=False).numpy()
    np.testing.assert_allclose(
        run1(Kernel.POOL, params, [x], want.shape, threads=2), want, rtol=1e-6, atol=1e-6
    )


# ---- REDUCE, SOFTMAX ----


@pytest.mark.parametrize("op", list(ReduceOp))
@pytest.mark.parametrize(
    ("outer", "n", "inner"), [(5, 37, 1), (3, 9, 20), (1, 1000, 1), (1, 7, 3000), (2, 0, 3)]
)
def test_reduce(op: ReduceOp, outer: int, n: int, inner: int) -> None:
    x = randn(outer, n, inner) * (0.3 if op == ReduceOp.PROD else 1.0) + (1.0 if op == ReduceOp.PROD else 0.0)
    fn = {
        ReduceOp.SUM: np.sum,
        ReduceOp.MEAN: lambda v, axis: v.sum(axis) / v.shape[axis],
        ReduceOp.PROD: np.prod,
        ReduceOp.MAX: lambda v, axis: np.max(v, axis, initial=-np.inf),
        ReduceOp.MIN: lambda v, axis: np.min(v, axis, initial=np.inf),
    }[op]
    with np.errstate(all="ignore"):
        want = fn(x.astype(np.float64), axis=1)
    for threads in THREADS:
        got = run1(
            Kernel.REDUCE, ReduceParams(int(op), outer, n, inner), [x], (outer, inner), threads=threads
        )
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("outer", "n", "inner"), [(4, 100, 1), (3, 17, 5), (2, 1, 1)])
@pytest.mark.parametrize("log", [0, 1])
def test_softmax(outer: int, n: int, inner: int, log: int) -> None:
    x = randn(outer, n, inner) * 10
    x64 = x.astype(np.float64)
    shifted = x64 - x64.max(axis=1, keepdims=True)
    total = np.exp(shifted).sum(axis=1, keepdims=True)
    want = shifted - np.log(total) if log else np.exp(shifted) / total
    for isa, threads in product(isas(), THREADS):
        got = run1(
            Kernel.SOFTMAX, SoftmaxParams(outer, n, inner, log), [x], x.shape, threads=threads, isa=isa
        )
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ---- LAYERNORM, BATCHNORM ----


@pytest.mark.parametrize("has_bias", [0, 1])
def test_layernorm(has_bias: int) -> None:
    torch = pytest.importorskip("torch")
    x, scale, bias = randn(6, 77) * 3 + 5, randn(77), randn(77)
    want = torch.nn.functional.layer_norm(
        torch.from_numpy(x).double(), (77,), torch.from_numpy(scale).double(),
        torch.from_numpy(bias).double() if has_bias else None, eps=1e-5,
    ).numpy()  # fmt: skip
    inputs = [x, scale, bias] if has_bias else [x, scale]
    for threads in THREADS:
        got = run1(Kernel.LAYERNORM, LayerNormParams(6, 77, 1e-5, has_bias), inputs, x.shape, threads=threads)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_batchnorm() -> None:
    torch = pytest.importorskip("torch")
    x, scale, bias, mean = randn(2, 5, 4, 3), randn(5), randn(5), randn(5)
    var = np.abs(randn(5)) + 0.1
    t = [torch.from_numpy(a).double() for a in (x, mean, var, scale, bias)]
    want = torch.nn.functional.batch_norm(t[0], t[1], t[2], t[3], t[4], training=False, eps=1e-3).numpy()
    for threads in THREADS:
        got = run1(
            Kernel.BATCHNORM, BatchNormParams(1e-3), [x, scale, bias, mean, var], x.shape, threads=threads
        )
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---- CAST, GATHER ----

CAST_TYPES = [np.float32, np.float64, np.float16, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
              np.int64, np.uint64, np.bool_]  # fmt: skip


@pytest.mark.parametrize("src", CAST_TYPES)
def test_cast(src: type) -> None:
    values = np.array([0, 1, 2, 3, 7, 100, 127, -1, -2, -100, 0.5, -0.5, 2.75, -2.75, 1e-3, 65504.0])
    for dst in CAST_TYPES:
        x = values.astype(src) if np.dtype(src).kind != "u" else np.abs(values).astype(src)
        if np.dtype(src).kind == "f" and np.dtype(dst).kind in "iu":  # float -> int: in range only
            x = np.clip(x, 0 if np.dtype(dst).kind == "u" else -128, 127).astype(src)
        with np.errstate(all="ignore"):
            want = x.astype(dst)
        got = run1(Kernel.CAST, CastParams(), [x], x.shape, dst)
        np.testing.assert_array_equal(got, want, err_msg=f"{np.dtype(src).name} -> {np.dtype(dst).name}")


def test_cast_float16_rounding_and_specials() -> None:
    x = np.concatenate(
        [
            randn(5000) * 1e3,
            randn(1000) * 1e-5,
            [65519.0, 65520.0, 1e6, -1e6, np.inf, -np.inf, 6e-8, 3e-8, 0.0],
        ]
    ).astype(np.float32)
    got = run1(Kernel.CAST, CastParams(), [x], x.shape, np.float16)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, x.astype(np.float16))
    back = run1(Kernel.CAST, CastParams(), [got], x.shape, np.float32)
    np.testing.assert_array_equal(back, got.astype(np.float32))
    assert np.isnan(run1(Kernel.CAST, CastParams(), [np.array([np.nan], np.float32)], (1,), np.float16)).all()


@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("data_dtype", [np.uint8, np.float16, np.float32, np.int64])
def test_gather(idx_dtype: type, data_dtype: type) -> None:
    data = (randn(3, 7, 5) * 100).astype(data_dtype)
    idx = np.array([[0, -1], [6, 2], [-7, 3]], idx_dtype)
    for threads in THREADS:
        got = run1(
            Kernel.GATHER, GatherParams(3, 7, 5, 6), [data, idx], (3, 3, 2, 5), data_dtype, threads=threads
        )
        np.testing.assert_array_equal(got, np.take(data, idx, axis=1))
    with pytest.raises(BackendError, match="index 7 at position 1"):
        run1(
            Kernel.GATHER,
            GatherParams(3, 7, 5, 2),
            [data, np.array([1, 7], idx_dtype)],
            (3, 2, 5),
            data_dtype,
        )
    with pytest.raises(BackendError, match="index -8"):
        run1(
            Kernel.GATHER, GatherParams(3, 7, 5, 1), [data, np.array([-8], idx_dtype)], (3, 1, 5), data_dtype
        )


# ---- threads: big enough inputs that every kernel splits its work ----


def test_two_threads_match_one() -> None:
    x = randn(64, 3000)
    pool = PoolParams(int(PoolKind.AVG), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 0)
    bn_inputs = [x.reshape(2, 32, 3000), *(np.abs(randn(32)) for _ in range(4))]
    cases = [
        (Kernel.UNARY, UnaryParams(int(Act.GELU)), [x], x.shape, np.float32),
        (Kernel.SOFTMAX, SoftmaxParams(64, 3000, 1, 0), [x], x.shape, np.float32),
        (Kernel.SOFTMAX, SoftmaxParams(4, 16, 3000, 1), [x], x.shape, np.float32),
        (Kernel.LAYERNORM, LayerNormParams(64, 3000, 1e-5, 0), [x, randn(3000)], x.shape, np.float32),
        (Kernel.REDUCE, ReduceParams(int(ReduceOp.SUM), 64, 3000, 1), [x], (64,), np.float32),
        (Kernel.REDUCE, ReduceParams(int(ReduceOp.MAX), 2, 32, 3000), [x], (2, 3000), np.float32),
        (Kernel.CAST, CastParams(), [x], x.shape, np.float16),
        (Kernel.COPY, CopyParams((3000, 64), (1, 3000), (64, 1), 0, 0), [x], (3000, 64), np.float32),
        (Kernel.GATHER, GatherParams(1, 64, 3000, 3), [x, np.array([5, -1, 0])], (3, 3000), np.float32),
        (Kernel.POOL, pool, [x.reshape(8, 8, 60, 50)], (8, 8, 60, 50), np.float32),
        (Kernel.BATCHNORM, BatchNormParams(1e-5), bn_inputs, (2, 32, 3000), np.float32),
    ]
    for kernel, params, inputs, shape, dtype in cases:
        one, two = (run1(kernel, params, inputs, shape, dtype, threads=t) for t in THREADS)
        np.testing.assert_array_equal(one, two, err_msg=kernel.name)


# ---- whole plans: arena, weights, consts ----


def test_plan_through_arena_weights_and_consts() -> None:
    """x @ W (weights) + c (consts) -> arena -> relu -> output, run twice per weight set: the packed copy
    of W is reused across runs and must be dropped when the weights change."""
    c = randn(6)
    x_ref = TensorRef(FIRST_IO, 0, 1, (12, 8))
    w_ref = TensorRef(WEIGHTS, 64, 1, (8, 6))
    c_ref = TensorRef(CONSTS, 0, 1, (6,))
    mid = TensorRef(ARENA, 128, 1, (12, 6))
    y_ref = TensorRef(FIRST_IO + 1, 0, 1, (12, 6))
    gemm = GemmParams((), (), (), 12, 6, 8, 0, 0, 1.0, 1.0, int(BiasMode.ROW), 0)
    steps = [
        Step(Kernel.GEMM, (x_ref, w_ref, c_ref, mid), gemm),
        Step(Kernel.UNARY, (mid, y_ref), UnaryParams(1)),
    ]
    plan = Plan(steps, 512, c.tobytes(), ["x"], ["y"], [x_ref], [y_ref])
    for threads in THREADS:
        be = NativeBackend(threads)
        for _ in range(2):
            W = randn(8, 6)
            be.set_weights(memoryview(bytes(64) + W.tobytes()))
            compiled = be.compile(plan)
            for _ in range(2):
                x, y = randn(12, 8), np.empty((12, 6), np.float32)
                be.execute(compiled, [memoryview(x)], [memoryview(y)])
                np.testing.assert_allclose(y, np.maximum(x @ W + c, 0), rtol=1e-5, atol=1e-6)


# ---- validation: corrupt plans are errors, never crashes ----


@cache
def gemm_plan() -> tuple[NativeBackend, NativePlan, tuple[np.ndarray, ...]]:
    inputs, params, _ = gemm_case(4, 5, 6, 0, 0, BiasMode.ROW)
    refs = [ref_of(FIRST_IO + i, x) for i, x in enumerate(inputs)] + [TensorRef(FIRST_IO + 3, 0, 1, (4, 5))]
    plan = Plan([Step(Kernel.GEMM, tuple(refs), params)], 0, b"", ["a", "b", "c"], ["y"], refs[:3], refs[3:])
    be = backend()
    return be, be.compile(plan), tuple(inputs)


def run_words(words: list[int]) -> None:
    """Runs raw plan words with the buffers of gemm_plan (three inputs, one 4x5 output)."""
    be, compiled, inputs = gemm_plan()
    compiled.words = ffi.from_buffer("int64_t[]", array("q", words))
    be.execute(compiled, [memoryview(x) for x in inputs], [memoryview(np.empty((4, 5), np.float32))])


def valid_words() -> list[int]:
    return list(serialize(gemm_plan()[1].plan.steps))


def test_valid_words_run() -> None:
    run_words(valid_words())


TENSOR0 = 6  # header (3 words), then the step's kernel, n_words, n_tensors, then tensor 0
M_WORD = (
    -11
)  # GEMM params end with M, N, K, trans_a, trans_b, alpha, beta, bias_mode, act, act_alpha, act_beta


def misaligned(w: list[int]) -> None:
    w[TENSOR0 + 1], w[TENSOR0 + 4] = 2, 3  # offset 2 bytes, and fewer rows so it still fits


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda w: w.__setitem__(0, 0x1234), "bad magic"),
        (lambda w: w.__setitem__(1, 99), "version"),
        (lambda w: w.__setitem__(2, 5), "step header"),
        (lambda w: w.__setitem__(2, 10**9), "cannot fit"),
        (lambda w: w.pop(), "step length"),
        (lambda w: w.append(0), "after the last step"),
        (lambda w: w.__setitem__(3, 77), "unknown kernel"),
        (lambda w: w.__setitem__(4, 10**6), "step length"),
        (lambda w: w.__setitem__(5, 2), "2 tensors"),
        (lambda w: w.__setitem__(TENSOR0, 40), "buffer 40"),
        (lambda w: w.__setitem__(TENSOR0 + 1, 4), "exceeds buffer"),
        (lambda w: w.__setitem__(TENSOR0 + 1, -4), "exceeds buffer"),
        (misaligned, "aligned"),
        (lambda w: w.__setitem__(TENSOR0 + 2, 8), "dtype 8"),
        (lambda w: w.__setitem__(TENSOR0 + 2, 6), "int32"),
        (lambda w: w.__setitem__(TENSOR0 + 3, 9), "9 dims"),
        (lambda w: w.__setitem__(TENSOR0 + 4, -4), "negative"),
        (lambda w: w.__setitem__(TENSOR0 + 4, 40), "exceeds buffer"),
        (lambda w: w.__setitem__(len(w) + M_WORD, 9), "reaches outside"),
        (lambda w: w.__setitem__(len(w) + M_WORD + 1, 4), "elements, expected"),  # N no longer matches Y
        (lambda w: w.__setitem__(len(w) - 4, 99), "bias_mode"),
        (lambda w: w.__setitem__(len(w) - 3, 99), "act"),
        (lambda w: w.clear(), "at least 3"),
    ],
)
def test_corrupt_plans_raise(edit, message: str) -> None:
    words = valid_words()
    edit(words)
    with pytest.raises(BackendError, match=message):
        run_words(words)


def test_copy_outside_its_tensor_is_refused() -> None:
    x = randn(10)
    for params in [
        CopyParams((5,), (2,), (1,), 2, 0),
        CopyParams((5,), (-1,), (1,), 3, 0),
        CopyParams((6,), (1,), (1,), 0, 0),
    ]:
        with pytest.raises(BackendError, match="reaches outside"):
            run1(Kernel.COPY, params, [x], (5,))


def test_random_corruption_never_crashes() -> None:
    base = valid_words()
    rng = np.random.default_rng(7)
    for _ in range(2000):
        words = list(base)
        for _ in range(rng.integers(1, 4)):
            i = int(rng.integers(0, len(words)))
            words[i] = int(rng.choice([0, 1, -1, 2, 7, 9, 64, 2**31, -(2**40), words[i] + 1, words[i] - 1]))
        with contextlib.suppress(BackendError):  # either an error or a run, never a crash
            run_words(words)
    assert base[0] == MAGIC


# ---- CONV fast paths: implicit GEMM (weights prepacked, M/group > 8) and AVX-512 depthwise ----

# Shapes chosen for the implicit GEMM's modes and edges: 1x1 stride-1 convs read X directly, with
# output sizes whose last tile is full, 16 wide, or single columns (N % 32 in 0, 5, 8, 9, 13, 17, 25);
# small outputs go through a packed im2col; the rest through phase planes (virtual columns), with
# strides 2 and 3, odd sizes, asymmetric pads, dilation, K over one 256-deep slice, M not a multiple
# of the panel height, groups, batches and every fused epilogue.
IGEMM_CASES = [
    dict(N=1, C=16, H=8, W=8, M=24, k=(1, 1)),  # direct, 64 columns
    dict(N=1, C=20, H=7, W=7, M=9, k=(1, 1), act=Act.RELU),  # direct, 49 = 32 + 16 + 1
    dict(N=1, C=8, H=5, W=9, M=16, k=(1, 1), residual=True),  # direct, 45 = 32 + 13
    dict(N=1, C=8, H=1, W=37, M=16, k=(1, 1), bias=False),  # direct, 37 = 32 + 5
    dict(N=1, C=300, H=5, W=8, M=17, k=(1, 1), act=Act.CLIP, act_args=(0.0, 6.0)),  # direct, K > 256
    dict(N=2, C=12, H=3, W=3, M=40, k=(1, 1), residual=True, act=Act.RELU),  # direct, 9 columns
    dict(N=1, C=8, H=5, W=5, M=12, k=(1, 1), act=Act.SIGMOID),  # direct, 25 columns
    dict(N=1, C=16, H=11, W=11, M=16, k=(1, 1), stride=(2, 2)),  # strided 1x1
    dict(N=1, C=24, H=7, W=7, M=32, k=(3, 3), pads=(1, 1, 1, 1), act=Act.RELU),  # packed
    dict(N=1, C=40, H=14, W=14, M=20, k=(3, 3), pads=(1, 1, 1, 1), residual=True, act=Act.RELU),
    dict(N=1, C=9, H=13, W=13, M=16, k=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1)),  # odd, stride 2
    dict(N=1, C=16, H=30, W=29, M=24, k=(3, 3), pads=(1, 1, 1, 1), act=Act.CLIP, act_args=(0.0, 6.0)),
    dict(N=1, C=32, H=34, W=33, M=16, k=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1), residual=True),
    dict(N=1, C=3, H=40, W=38, M=16, k=(7, 7), stride=(2, 2), pads=(3, 3, 3, 3), act=Act.RELU),  # conv1
    dict(N=1, C=3, H=35, W=35, M=12, k=(3, 3), stride=(2, 2), pads=(0, 0, 1, 1)),  # asymmetric
    dict(N=1, C=6, H=20, W=21, M=10, k=(3, 3), stride=(1, 2), pads=(0, 2, 1, 0), dil=(2, 3)),
    dict(N=1, C=5, H=16, W=17, M=12, k=(5, 5), stride=(3, 3), pads=(2, 1, 2, 1)),
    dict(N=1, C=4, H=9, W=30, M=12, k=(2, 4), pads=(0, 0, 0, 0)),  # valid padding: virtual columns
    dict(N=1, C=40, H=9, W=9, M=72, k=(3, 3), pads=(1, 1, 1, 1), residual=True, act=Act.RELU),  # K = 360
    dict(N=2, C=16, H=12, W=12, M=36, k=(3, 3), pads=(1, 1, 1, 1), group=2, act=Act.GELU),
    dict(N=1, C=3, H=1, W=70, M=10, k=(1, 5), stride=(1, 2), pads=(0, 2, 0, 2)),  # 1-D
]


@pytest.mark.parametrize("case", IGEMM_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv_implicit_gemm(case: dict) -> None:
    inputs, params, want = conv_case(**case)
    for isa, threads in product(isas(), THREADS):
        got = run1(Kernel.CONV, params, inputs, want.shape, threads=threads, isa=isa, weights=(1,))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{isa} threads={threads}")


IGEMM_LARGE_CASES = [  # big enough to be split over threads: row bands, column ranges, panel ranges
    dict(N=1, C=64, H=56, W=56, M=64, k=(3, 3), pads=(1, 1, 1, 1), residual=True, act=Act.RELU),
    dict(N=1, C=32, H=56, W=56, M=40, k=(1, 1), act=Act.CLIP, act_args=(0.0, 6.0)),
    dict(N=1, C=128, H=7, W=7, M=72, k=(3, 3), pads=(1, 1, 1, 1), residual=True, act=Act.RELU),
]


@pytest.mark.parametrize("case", IGEMM_LARGE_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv_implicit_gemm_large(case: dict) -> None:
    inputs, params, want = conv_case(**case)
    for isa, threads in product(isas(), THREADS):
        got = run1(Kernel.CONV, params, inputs, want.shape, threads=threads, isa=isa, weights=(1,))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{isa} threads={threads}")


# The AVX-512 depthwise paths: 3x3 with a left pad of 1 read X in place (stride 1 when W == OW, two
# output rows at a time; stride 2 from even/odd column splits), every other shape goes through
# zero-padded phase planes. Widths below, at and above one 16-lane vector, odd heights (a lone last
# row), pads on either side only, residuals, batches and activations that run after the plane.
DEPTHWISE_CASES = [
    dict(N=1, C=8, H=7, W=7, k=(3, 3), pads=(1, 1, 1, 1), act=Act.CLIP, act_args=(0.0, 6.0)),
    dict(N=2, C=3, H=16, W=16, k=(3, 3), pads=(1, 1, 1, 1), residual=True, act=Act.RELU),
    dict(N=1, C=4, H=37, W=45, k=(3, 3), pads=(1, 1, 1, 1), residual=True, act=Act.RELU),
    dict(N=1, C=3, H=9, W=17, k=(3, 3), pads=(0, 1, 2, 1), bias=False),  # rows padded below only
    dict(N=1, C=2, H=1, W=40, k=(1, 3), pads=(0, 1, 0, 1)),  # 1-D
    dict(N=1, C=5, H=14, W=14, k=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1), act=Act.CLIP, act_args=(0.0, 6.0)),
    dict(N=2, C=3, H=13, W=13, k=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1), residual=True),  # odd
    dict(N=1, C=3, H=40, W=66, k=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1), bias=False),  # wide rows
    dict(N=1, C=2, H=20, W=35, k=(3, 3), stride=(2, 2), pads=(0, 1, 1, 2), act=Act.HARDSWISH),
    dict(N=1, C=3, H=12, W=11, k=(3, 3), pads=(2, 0, 0, 2), act=Act.RELU),  # planes: asymmetric
    dict(N=1, C=3, H=20, W=21, k=(3, 3), pads=(0, 0, 0, 0), residual=True),  # planes: valid, W > OW
    dict(N=1, C=2, H=20, W=20, k=(3, 3), stride=(2, 2), pads=(0, 0, 1, 1)),  # planes: pads after only
    dict(N=1, C=3, H=15, W=33, k=(3, 3), pads=(2, 2, 2, 2), dil=(2, 2)),
    dict(N=1, C=3, H=16, W=16, k=(5, 5), stride=(2, 2), pads=(2, 2, 2, 2), act=Act.HARDSWISH),
    dict(N=1, C=3, H=17, W=19, k=(3, 3), stride=(3, 3), pads=(1, 1, 1, 1)),
    dict(N=1, C=3, H=9, W=9, k=(7, 7), pads=(3, 3, 3, 3), residual=True),
    dict(N=1, C=32, H=40, W=40, k=(3, 3), pads=(1, 1, 1, 1), act=Act.RELU),  # planes split over threads
    dict(N=1, C=32, H=40, W=40, k=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1), residual=True),
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv_depthwise_fast(case: dict) -> None:
    inputs, params, want = conv_case(M=case["C"], group=case["C"], **case)
    for isa, threads, weights in product(isas(), THREADS, [(), (1,)]):
        got = run1(Kernel.CONV, params, inputs, want.shape, threads=threads, isa=isa, weights=weights)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{isa} threads={threads}")
