"""The reference kernels against independent oracles (numpy, torch, onnxruntime), through whole plans."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from webinfer import dtypes
from webinfer.backends.reference import ReferenceBackend
from webinfer.backends.reference_kernels import activation
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
from webinfer.plan import ARENA, CONSTS, FIRST_IO, WEIGHTS, Plan, Step, TensorRef

rng = np.random.default_rng(0)


def ref(buffer: int, offset: int, a_or_dtype, shape=None) -> TensorRef:
    """A TensorRef shaped like array `a`, or with the given numpy dtype and shape."""
    dt = np.dtype(a_or_dtype.dtype if shape is None else a_or_dtype)
    shape = a_or_dtype.shape if shape is None else shape
    return TensorRef(buffer, offset, int(dtypes.from_numpy_name(dt.name)), tuple(shape))


def run_plan(
    build: Callable[[list[TensorRef], list[TensorRef]], list[Step]],
    ins: list[np.ndarray],
    outs: list[tuple[tuple[int, ...], object]],
    arena_bytes: int = 0,
    weights: bytes = b"",
    consts: bytes = b"",
) -> list[np.ndarray]:
    """Run the steps `build` makes from the input and output refs; returns the outputs."""
    ins = [np.ascontiguousarray(a) for a in ins]
    in_refs = [ref(FIRST_IO + i, 0, a) for i, a in enumerate(ins)]
    out_refs = [ref(FIRST_IO + len(ins) + j, 0, dt, shape) for j, (shape, dt) in enumerate(outs)]
    plan = Plan(
        steps=build(in_refs, out_refs),
        arena_bytes=arena_bytes,
        consts=consts,
        input_names=[f"in{i}" for i in range(len(ins))],
        output_names=[f"out{j}" for j in range(len(outs))],
        input_refs=in_refs,
        output_refs=out_refs,
    )
    backend = ReferenceBackend()
    backend.set_weights(memoryview(weights))
    compiled = backend.compile(plan)
    results = [np.full(shape, 7, dt) for shape, dt in outs]  # garbage the kernels must overwrite
    backend.execute(compiled, [memoryview(a) for a in ins], [memoryview(r) for r in results])
    return results


def run_step(kernel: Kernel, params: object, ins: list[np.ndarray], out_shape, out_dtype=np.float32):
    """One step whose tensors are the plan's inputs followed by its single output."""
    return run_plan(
        lambda i, o: [Step(kernel, (*i, *o), params, "node0")], ins, [(tuple(out_shape), out_dtype)]
    )[0]


def broadcast_strides(shape: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a contiguous `shape` read as `dims` (0 on broadcast axes)."""
    strides, step = [0] * len(dims), 1
    for i in range(1, len(shape) + 1):
        if shape[-i] != 1:
            strides[-i] = step
        step *= shape[-i]
    return tuple(strides)


def randn(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# ---- COPY ----


def test_copy_transpose():
    x = randn(2, 3, 4)
    y = run_step(Kernel.COPY, CopyParams((4, 2, 3), (1, 12, 4), (6, 3, 1), 0, 0), [x], (4, 2, 3))
    np.testing.assert_array_equal(y, x.transpose(2, 0, 1))


def test_copy_negative_strides():
    x = randn(4, 5)
    params = CopyParams((4, 3), (-5, -2), (3, 1), 19, 0)  # x[::-1, ::-2] starts at the last element
    np.testing.assert_array_equal(run_step(Kernel.COPY, params, [x], (4, 3)), x[::-1, ::-2])
    v = np.arange(10, dtype=np.int64)
    params = CopyParams((3,), (-3,), (1,), 8, 0)
    np.testing.assert_array_equal(run_step(Kernel.COPY, params, [v], (3,), np.int64), v[8:1:-3])


def test_copy_expand_and_concat():
    x = randn(3, 1)
    y = run_step(Kernel.COPY, CopyParams((2, 3, 4), (0, 1, 0), (12, 4, 1), 0, 0), [x], (2, 3, 4))
    np.testing.assert_array_equal(y, np.broadcast_to(x, (2, 3, 4)))

    a, b = randn(2, 3), randn(2, 2)  # concat on axis 1 writes each part at dst_start, row stride 5

    def build(i, o):
        return [
            Step(Kernel.COPY, (i[0], o[0]), CopyParams((2, 3), (3, 1), (5, 1), 0, 0)),
            Step(Kernel.COPY, (i[1], o[0]), CopyParams((2, 2), (2, 1), (5, 1), 0, 3)),
        ]

    (y,) = run_plan(build, [a, b], [((2, 5), np.float32)])
    np.testing.assert_array_equal(y, np.concatenate([a, b], axis=1))


def test_copy_out_of_range_is_an_error():
    with pytest.raises(BackendError, match="node0"):
        run_step(Kernel.COPY, CopyParams((4,), (-1,), (1,), 2, 0), [randn(4)], (4,))


# ---- UNARY ----

POS = {Act.SQRT, Act.LOG}
UNARY_CASES: dict[Act, tuple[float, float, Callable[[torch.Tensor], torch.Tensor]]] = {
    Act.NONE: (0.0, 0.0, lambda t: t),
    Act.RELU: (0.0, 0.0, F.relu),
    Act.SIGMOID: (0.0, 0.0, torch.sigmoid),
    Act.TANH: (0.0, 0.0, torch.tanh),
    Act.ERF: (0.0, 0.0, torch.erf),
    Act.GELU: (0.0, 0.0, F.gelu),
    Act.GELU_TANH: (0.0, 0.0, lambda t: F.gelu(t, approximate="tanh")),
    Act.SQRT: (0.0, 0.0, torch.sqrt),
    Act.EXP: (0.0, 0.0, torch.exp),
    Act.LOG: (0.0, 0.0, torch.log),
    Act.ABS: (0.0, 0.0, torch.abs),
    Act.NEG: (0.0, 0.0, torch.neg),
    Act.RECIPROCAL: (0.0, 0.0, torch.reciprocal),
    Act.HARDSIGMOID: (1 / 6, 0.5, F.hardsigmoid),
    Act.HARDSWISH: (0.0, 0.0, F.hardswish),
    Act.CLIP: (-0.5, 1.25, lambda t: torch.clamp(t, -0.5, 1.25)),
    Act.LEAKYRELU: (0.1, 0.0, lambda t: F.leaky_relu(t, 0.1)),
    Act.FLOOR: (0.0, 0.0, torch.floor),
    Act.CEIL: (0.0, 0.0, torch.ceil),
}


def test_every_act_has_a_case():
    assert set(UNARY_CASES) == set(Act)


@pytest.mark.parametrize("act", list(Act), ids=lambda a: a.name)
def test_unary(act: Act):
    alpha, beta, oracle = UNARY_CASES[act]
    x = randn(3, 50) * 4
    x = np.abs(x) + 0.01 if act in POS else x
    y = run_step(Kernel.UNARY, UnaryParams(act, alpha, beta), [x], (150,))  # same count, other shape
    want = oracle(torch.from_numpy(x.astype(np.float64))).numpy().astype(np.float32)
    np.testing.assert_allclose(y.reshape(3, 50), want, rtol=1e-6, atol=1e-7)


def test_erf_and_gelu_float64_accuracy():
    x = np.linspace(-9, 9, 7201)
    np.testing.assert_allclose(activation(x, Act.ERF), [math.erf(v) for v in x], rtol=0, atol=2e-15)
    gelu = [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x]  # accurate far into the negative tail
    np.testing.assert_allclose(activation(x, Act.GELU), gelu, rtol=1e-11, atol=1e-300)
    assert activation(np.array([np.inf, -np.inf]), Act.ERF).tolist() == [1.0, -1.0]


def test_unary_rejects_non_float():
    backend = ReferenceBackend()
    x = TensorRef(ARENA, 0, dtypes.DType.INT32, (4,))
    assert "float32" in backend.unsupported(Step(Kernel.UNARY, (x, x), UnaryParams(Act.RELU)))
    f = TensorRef(ARENA, 0, dtypes.DType.FLOAT, (4,))
    assert "activation" in backend.unsupported(Step(Kernel.UNARY, (f, f), UnaryParams(99)))


# ---- BINARY and WHERE ----


def binary(op: BinOp, a: np.ndarray, b: np.ndarray, out_dtype) -> np.ndarray:
    dims = np.broadcast_shapes(a.shape, b.shape)
    params = BinaryParams(op, dims, broadcast_strides(a.shape, dims), broadcast_strides(b.shape, dims))
    return run_step(Kernel.BINARY, params, [a, b], dims, out_dtype)


FLOAT_OPS = {
    BinOp.ADD: np.add,
    BinOp.SUB: np.subtract,
    BinOp.MUL: np.multiply,
    BinOp.DIV: np.divide,
    BinOp.POW: np.power,
    BinOp.MAX: np.maximum,
    BinOp.MIN: np.minimum,
}
COMPARISONS = {BinOp.EQUAL: np.equal, BinOp.LESS: np.less, BinOp.GREATER: np.greater}
LOGICAL = {BinOp.AND: np.logical_and, BinOp.OR: np.logical_or}


def test_every_binop_has_a_case():
    assert set(FLOAT_OPS) | set(COMPARISONS) | set(LOGICAL) == set(BinOp)


@pytest.mark.parametrize("op", list(FLOAT_OPS), ids=lambda o: o.name)
def test_binary_float_broadcast(op: BinOp):
    a, b = randn(3, 1, 5), randn(4, 1)
    if op == BinOp.POW:
        a = np.abs(a) + 0.1
    want = FLOAT_OPS[op](a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(binary(op, a, b, np.float32), want, rtol=1e-6)


@pytest.mark.parametrize("op", list(COMPARISONS), ids=lambda o: o.name)
def test_binary_comparison(op: BinOp):
    a, b = rng.integers(-2, 3, (4, 6)).astype(np.int64), rng.integers(-2, 3, (6,)).astype(np.int64)
    np.testing.assert_array_equal(binary(op, a, b, np.bool_), COMPARISONS[op](a, b))


@pytest.mark.parametrize("op", list(LOGICAL), ids=lambda o: o.name)
def test_binary_logical(op: BinOp):
    a, b = rng.integers(0, 2, (2, 1, 3)).astype(bool), rng.integers(0, 2, (4, 1)).astype(bool)
    np.testing.assert_array_equal(binary(op, a, b, np.bool_), LOGICAL[op](a, b))


def test_binary_integer_division_truncates():
    a = np.array([7, -7, 7, -7, 6, -1, 0], np.int32)
    b = np.array([2, 2, -2, -2, 3, 5, -3], np.int32)
    np.testing.assert_array_equal(binary(BinOp.DIV, a, b, np.int32), [3, -3, -3, 3, 2, 0, 0])
    with pytest.raises(BackendError, match="division by zero"):
        binary(BinOp.DIV, a, np.zeros(1, np.int32), np.int32)


def test_binary_strided_operand():
    a = randn(4, 3)  # read transposed: a_strides (1, 3) over dims (3, 4)
    b = randn(3, 4)
    y = run_step(Kernel.BINARY, BinaryParams(BinOp.SUB, (3, 4), (1, 3), (4, 1)), [a, b], (3, 4))
    np.testing.assert_array_equal(y, a.T - b)


def test_binary_dtype_rules():
    backend = ReferenceBackend()

    def reason(op, a, b, y):
        refs = tuple(TensorRef(ARENA, 0, dt, (2,)) for dt in (a, b, y))
        return backend.unsupported(Step(Kernel.BINARY, refs, BinaryParams(op, (2,), (1,), (1,))))

    D = dtypes.DType
    assert reason(BinOp.ADD, D.INT64, D.INT64, D.INT64) is None
    assert reason(BinOp.LESS, D.FLOAT, D.FLOAT, D.BOOL) is None
    assert reason(BinOp.ADD, D.BOOL, D.BOOL, D.BOOL) is not None
    assert reason(BinOp.LESS, D.FLOAT, D.FLOAT, D.FLOAT) is not None
    assert reason(BinOp.ADD, D.FLOAT, D.INT32, D.FLOAT) is not None
    assert reason(BinOp.POW, D.INT32, D.INT32, D.INT32) is not None
    assert reason(BinOp.AND, D.INT32, D.INT32, D.BOOL) is not None
    assert reason(99, D.FLOAT, D.FLOAT, D.FLOAT) is not None


def test_where_broadcast():
    c, x, y = rng.integers(0, 2, (3, 1)).astype(bool), randn(1, 4), np.array(-1.0, np.float32)
    dims = (3, 4)
    params = WhereParams(dims, *(broadcast_strides(t.shape, dims) for t in (c, x, y)))
    np.testing.assert_array_equal(run_step(Kernel.WHERE, params, [c, x, y], dims), np.where(c, x, y))


# ---- GEMM ----


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("mode", list(BiasMode), ids=lambda m: m.name)
def test_gemm_bias_modes_and_transposes(trans_a: int, trans_b: int, mode: BiasMode):
    M, N, K = 3, 5, 4
    a = randn(K, M) if trans_a else randn(M, K)
    b = randn(N, K) if trans_b else randn(K, N)
    bias_shape = {BiasMode.SCALAR: (1,), BiasMode.ROW: (N,), BiasMode.COL: (M, 1), BiasMode.FULL: (M, N)}
    bias = randn(*bias_shape.get(mode, (1,)))
    params = GemmParams((), (), (), M, N, K, trans_a, trans_b, 0.5, 2.0, mode, Act.NONE)
    ins = [a, b] if mode == BiasMode.NONE else [a, b, bias.reshape(-1)]
    y = run_step(Kernel.GEMM, params, ins, (M, N))
    op_a, op_b = (a.T if trans_a else a), (b.T if trans_b else b)
    want = 0.5 * op_a.astype(np.float64) @ op_b + (0.0 if mode == BiasMode.NONE else 2.0 * bias)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_gemm_batched_broadcast_with_act():
    M, N, K = 4, 6, 5
    a, b = randn(2, 1, M, K), randn(3, K, N)  # batch dims (2, 3): A repeats over 3, B over 2
    params = GemmParams((2, 3), (M * K, 0), (0, K * N), M, N, K, 0, 0, 1.0, 1.0, BiasMode.ROW, Act.GELU)
    bias = randn(N)
    y = run_step(Kernel.GEMM, params, [a, b, bias], (2, 3, M, N))
    want = F.gelu(torch.from_numpy(a.astype(np.float64) @ b + bias)).numpy()
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


# ---- CONV ----

CONV_CASES = {
    "3x3_pad1": dict(c=3, m=4, hw=(8, 8), k=(3, 3), s=(1, 1), pads=(1, 1, 1, 1), d=(1, 1), g=1),
    "stride2_asym_pads": dict(c=2, m=3, hw=(9, 7), k=(3, 2), s=(2, 2), pads=(0, 1, 2, 1), d=(1, 1), g=1),
    "groups_dilation": dict(c=4, m=6, hw=(10, 9), k=(3, 3), s=(1, 2), pads=(2, 1, 0, 1), d=(2, 1), g=2),
    "depthwise": dict(c=5, m=5, hw=(8, 8), k=(3, 3), s=(2, 2), pads=(1, 1, 1, 1), d=(1, 1), g=5),
    "conv1d": dict(c=3, m=2, hw=(1, 12), k=(1, 5), s=(1, 1), pads=(0, 2, 0, 2), d=(1, 2), g=1),
    "pointwise": dict(c=6, m=4, hw=(5, 5), k=(1, 1), s=(1, 1), pads=(0, 0, 0, 0), d=(1, 1), g=1),
}


def torch_conv(x, w, bias, case) -> torch.Tensor:
    top, left, bottom, right = case["pads"]
    xp = F.pad(torch.from_numpy(x).double(), (left, right, top, bottom))
    b = None if bias is None else torch.from_numpy(bias).double()
    return F.conv2d(xp, torch.from_numpy(w).double(), b, case["s"], 0, case["d"], case["g"])


@pytest.mark.parametrize("name", list(CONV_CASES))
@pytest.mark.parametrize("fused", [False, True])
def test_conv(name: str, fused: bool):
    case = CONV_CASES[name]
    x = randn(2, case["c"], *case["hw"])
    w = randn(case["m"], case["c"] // case["g"], *case["k"])
    bias = randn(case["m"]) if fused else None
    want = torch_conv(x, w, bias, case)
    residual = randn(*want.shape) if fused else None
    if fused:
        want = F.relu(want + torch.from_numpy(residual).double())
    params = ConvParams(
        case["g"],
        case["k"],
        case["s"],
        case["pads"],
        case["d"],
        int(fused),
        int(fused),
        Act.RELU if fused else Act.NONE,
    )
    ins = [x, w, bias, residual] if fused else [x, w]
    y = run_step(Kernel.CONV, params, ins, want.shape)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-5, atol=1e-5)


# ---- POOL (onnxruntime is the oracle: it has asymmetric pads, dilations and ceil_mode) ----


def ort_pool(x: np.ndarray, op: str, **attrs) -> np.ndarray:
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


POOL_CASES = {
    "max_resnet": ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), 0),
    "max_ceil": ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), 0),
    "max_dilated_asym": ("MaxPool", dict(kernel_shape=[3, 2], pads=[1, 0, 2, 1], dilations=[2, 1]), 0),
    "avg_exclude_pad": ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 0),
    "avg_include_pad": ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 2, 0, 1]), 1),
    "avg_ceil_include_pad": (
        "AveragePool",
        dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1),
        1,
    ),
    "avg_ceil_exclude_pad": ("AveragePool", dict(kernel_shape=[2, 3], strides=[2, 2], ceil_mode=1), 0),
    "avg_global": ("AveragePool", dict(kernel_shape=[7, 7]), 0),
}


@pytest.mark.parametrize("name", list(POOL_CASES))
def test_pool(name: str):
    op, attrs, include_pad = POOL_CASES[name]
    x = randn(2, 3, 7, 7)
    if op == "AveragePool":
        attrs = {**attrs, "count_include_pad": include_pad}
    want = ort_pool(x, op, **attrs)
    params = PoolParams(
        PoolKind.MAX if op == "MaxPool" else PoolKind.AVG,
        tuple(attrs["kernel_shape"]),
        tuple(attrs.get("strides", [1, 1])),
        tuple(attrs.get("pads", [0, 0, 0, 0])),
        tuple(attrs.get("dilations", [1, 1])),
        include_pad,
    )
    y = run_step(Kernel.POOL, params, [x], want.shape)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


# ---- REDUCE, SOFTMAX, normalisations ----

REDUCE_ORACLES = {
    ReduceOp.SUM: np.sum,
    ReduceOp.MEAN: np.mean,
    ReduceOp.MAX: np.max,
    ReduceOp.MIN: np.min,
    ReduceOp.PROD: np.prod,
}


@pytest.mark.parametrize("op", list(ReduceOp), ids=lambda o: o.name)
def test_reduce(op: ReduceOp):
    x = randn(2, 5, 3)
    y = run_step(Kernel.REDUCE, ReduceParams(op, 2, 5, 3), [x], (2, 1, 3))
    want = REDUCE_ORACLES[op](x.astype(np.float64), axis=1, keepdims=True)
    np.testing.assert_allclose(y, want, rtol=1e-6)
    xi = rng.integers(-9, 9, (4, 3)).astype(np.int32)
    yi = run_step(Kernel.REDUCE, ReduceParams(op, 1, 4, 3), [xi], (3,), np.int32)
    np.testing.assert_array_equal(yi, REDUCE_ORACLES[op](xi, axis=0).astype(np.int32))


def test_reduce_over_nothing_gives_the_identity():
    empty = np.zeros((2, 0), np.float32)
    got = [run_step(Kernel.REDUCE, ReduceParams(op, 2, 0, 1), [empty], (2,))[0] for op in ReduceOp]
    assert got[0] == 0 and np.isnan(got[1]) and got[2:] == [-np.inf, np.inf, 1]


@pytest.mark.parametrize("log", [0, 1])
def test_softmax_middle_axis(log: int):
    x = randn(2, 6, 3) * 5
    x[0, 2, 1] = 1000.0  # would overflow exp without the max shift
    y = run_step(Kernel.SOFTMAX, SoftmaxParams(2, 6, 3, log), [x], x.shape)
    fn = torch.log_softmax if log else torch.softmax
    np.testing.assert_allclose(y, fn(torch.from_numpy(x).double(), dim=1).numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("has_bias", [0, 1])
def test_layernorm(has_bias: int):
    x, scale, bias = randn(3, 4, 16) * 3 + 2, randn(16), randn(16)
    ins = [x, scale, bias] if has_bias else [x, scale]
    y = run_step(Kernel.LAYERNORM, LayerNormParams(12, 16, 1e-5, has_bias), ins, x.shape)
    b = torch.from_numpy(bias).double() if has_bias else None
    want = F.layer_norm(torch.from_numpy(x).double(), (16,), torch.from_numpy(scale).double(), b, 1e-5)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 3)])
def test_batchnorm(shape: tuple[int, ...]):
    x, scale, bias, mean = randn(*shape), randn(3), randn(3), randn(3)
    var = np.abs(randn(3)) + 0.1
    y = run_step(Kernel.BATCHNORM, BatchNormParams(1e-5), [x, scale, bias, mean, var], shape)
    t = [torch.from_numpy(a).double() for a in (x, mean, var, scale, bias)]
    want = F.batch_norm(t[0], t[1], t[2], t[3], t[4], training=False, eps=1e-5)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-5, atol=1e-6)


# ---- CAST and GATHER ----


def test_cast():
    x = np.array([-2.7, -0.5, -0.0, 0.0, 0.5, 2.7, 3e9, np.nan], np.float32)
    np.testing.assert_array_equal(
        run_step(Kernel.CAST, CastParams(), [x[:6]], (6,), np.int32), [-2, 0, 0, 0, 0, 2]
    )
    to_bool = run_step(Kernel.CAST, CastParams(), [x], (8,), np.bool_)
    np.testing.assert_array_equal(to_bool, [True, True, False, False, True, True, True, True])
    ints = np.array([-(2**40), 3], np.int64)
    np.testing.assert_array_equal(run_step(Kernel.CAST, CastParams(), [ints], (2,)), ints.astype(np.float32))
    flags = np.array([True, False])
    np.testing.assert_array_equal(run_step(Kernel.CAST, CastParams(), [flags], (2,), np.int64), [1, 0])
    half = run_step(Kernel.CAST, CastParams(), [x[:6]], (2, 3), np.float16)  # same count, new shape
    np.testing.assert_array_equal(half.reshape(-1), x[:6].astype(np.float16))


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_gather_negative_indices(index_dtype):
    data = rng.integers(0, 100, (2, 5, 3)).astype(np.int64)
    idx = np.array([-1, 0, 4, -5, 2], index_dtype)
    y = run_step(Kernel.GATHER, GatherParams(2, 5, 3, 5), [data, idx], (2, 5, 3), np.int64)
    np.testing.assert_array_equal(y, np.take(data, idx, axis=1))


@pytest.mark.parametrize("bad", [5, -6])
def test_gather_out_of_range(bad: int):
    data, idx = randn(5, 2), np.array([0, bad], np.int64)
    with pytest.raises(BackendError, match=rf"node0.*{bad}.*\[-5, 5\)"):
        run_step(Kernel.GATHER, GatherParams(1, 5, 2, 2), [data, idx], (2, 2))


# ---- whole plans: buffers, bounds, read-only inputs, unsupported steps ----


def test_plan_through_arena_weights_and_consts():
    f32 = np.float32
    w, c = np.array([1, 2, 3, 4], f32), np.array([10, 10, 10, 10], f32)
    relu_out, sum_out = ref(ARENA, 16, f32, (4,)), ref(ARENA, 48, f32, (4,))
    weight, const = ref(WEIGHTS, 8, f32, (4,)), ref(CONSTS, 0, f32, (4,))
    same = ((4,), (1,), (1,))

    def build(i, o):
        return [
            Step(Kernel.UNARY, (i[0], relu_out), UnaryParams(Act.RELU), "relu"),
            Step(Kernel.BINARY, (relu_out, weight, sum_out), BinaryParams(BinOp.ADD, *same), "add"),
            Step(Kernel.BINARY, (sum_out, const, o[0]), BinaryParams(BinOp.MUL, *same), "mul"),
        ]

    weights = b"\0" * 8 + w.tobytes()
    for x in (np.array([-1, 1, -2, 2], f32), randn(4)):
        (y,) = run_plan(build, [x], [((4,), f32)], arena_bytes=64, weights=weights, consts=c.tobytes())
        np.testing.assert_allclose(y, (np.maximum(x, 0) + w) * c)


def test_tensor_outside_its_buffer_names_the_node():
    def build(i, o):
        big = TensorRef(i[0].buffer, 8, i[0].dtype, (4,))  # 4 floats from byte 8 of a 16-byte input
        return [Step(Kernel.UNARY, (big, o[0]), UnaryParams(Act.NONE), "/layer1/Relu")]

    with pytest.raises(BackendError, match=r"/layer1/Relu.*outside"):
        run_plan(build, [randn(4)], [((4,), np.float32)])


def test_inputs_are_read_only():
    def build(i, o):
        return [Step(Kernel.UNARY, (o[0], i[0]), UnaryParams(Act.NONE), "writes_input")]

    with pytest.raises(BackendError, match="writes_input"):
        run_plan(build, [randn(4)], [((4,), np.float32)])


def test_compile_refuses_unsupported_steps():
    x = TensorRef(FIRST_IO, 0, dtypes.DType.INT32, (4,))
    plan = Plan([Step(Kernel.SOFTMAX, (x, x), SoftmaxParams(1, 4, 1, 0), "sm")], 0, b"", ["x"], [])
    with pytest.raises(BackendError, match=r"sm.*float32"):
        ReferenceBackend().compile(plan)
