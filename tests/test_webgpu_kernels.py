"""The WGSL kernels of the webgpu backend against the reference backend's numpy kernels.

Each test builds steps by hand (graph inputs and outputs are the step's tensors, buffers FIRST_IO..)
and runs the same plan on both backends. Float kernels agree to float32 rounding plus the error of
WGSL's exp/log and of f32 accumulation (reference: float64); integer and data-movement kernels agree
exactly. Without a WebGPU adapter every test is skipped with the reason (see scripts/setup_webgpu.sh).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from webinfer import dtypes
from webinfer.backends.reference import ReferenceBackend
from webinfer.backends.webgpu import WebGPUBackend
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
from webinfer.webgpu import codegen, matmul, tuning

UNAVAILABLE = WebGPUBackend.available()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"no WebGPU adapter: {UNAVAILABLE}")

rng = np.random.default_rng(7)
Build = Callable[[list[TensorRef], list[TensorRef]], list[Step]]


@pytest.fixture(scope="module")
def gpu() -> WebGPUBackend:
    return WebGPUBackend(tune_budget_s=0)


def ref(buffer: int, offset: int, dt, shape) -> TensorRef:
    return TensorRef(buffer, offset, int(dtypes.from_numpy_name(np.dtype(dt).name)), tuple(shape))


def run_plan(backend, build: Build, ins, outs, arena_bytes=0, weights=b"", consts=b"") -> list[np.ndarray]:
    """The steps `build` makes from the input and output refs, run on `backend`; returns the outputs."""
    ins = [np.ascontiguousarray(a) for a in ins]
    in_refs = [ref(FIRST_IO + i, 0, a.dtype, a.shape) for i, a in enumerate(ins)]
    out_refs = [ref(FIRST_IO + len(ins) + j, 0, dt, shape) for j, (shape, dt) in enumerate(outs)]
    plan = Plan(
        build(in_refs, out_refs),
        arena_bytes,
        consts,
        [f"in{i}" for i in range(len(ins))],
        [f"out{j}" for j in range(len(outs))],
        in_refs,
        out_refs,
    )
    backend.set_weights(memoryview(weights))
    compiled = backend.compile(plan)
    results = [np.full(shape, 7, dt) for shape, dt in outs]  # garbage the kernels must overwrite
    backend.execute(compiled, [memoryview(a) for a in ins], [memoryview(r) for r in results])
    return results


def both(gpu, build: Build, ins, outs, **kw) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return run_plan(gpu, build, ins, outs, **kw), run_plan(ReferenceBackend(), build, ins, outs, **kw)


def check_step(gpu, kernel, params, ins, out_shape, out_dtype=np.float32, rtol=0.0, atol=0.0) -> np.ndarray:
    """One step (inputs, then its single output) on both backends; the outputs must agree."""

    def build(i, o):
        return [Step(kernel, (*i, *o), params, "node0")]

    (got,), (want,) = both(gpu, build, ins, [(tuple(out_shape), out_dtype)])
    if rtol or atol:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want)
    return got


def randn(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def broadcast_strides(shape: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [0] * len(dims), 1
    for i in range(1, len(shape) + 1):
        if shape[-i] != 1:
            strides[-i] = step
        step *= shape[-i]
    return tuple(strides)


# ---- COPY ----


def test_copy_transpose(gpu):
    check_step(
        gpu, Kernel.COPY, CopyParams((4, 2, 3), (1, 12, 4), (6, 3, 1), 0, 0), [randn(2, 3, 4)], (4, 2, 3)
    )


@pytest.mark.parametrize("dt", [np.float32, np.int64, np.float16, np.uint8, np.bool_])
def test_copy_negative_strides_every_itemsize(gpu, dt):
    x = rng.integers(0, 2 if dt == np.bool_ else 100, (4, 5)).astype(dt)
    check_step(gpu, Kernel.COPY, CopyParams((4, 3), (-5, -2), (3, 1), 19, 0), [x], (4, 3), dt)


@pytest.mark.parametrize("dt", [np.float32, np.bool_, np.int16])
def test_copy_concat_at_odd_offsets(gpu, dt):
    """Concat of 3 + 2 columns: parts start mid-word for small dtypes (atomic byte/half stores)."""
    a, b = (rng.integers(0, 2, s).astype(dt) for s in ((3, 3), (3, 2)))

    def build(i, o):
        return [
            Step(Kernel.COPY, (i[0], o[0]), CopyParams((3, 3), (3, 1), (5, 1), 0, 0)),
            Step(Kernel.COPY, (i[1], o[0]), CopyParams((3, 2), (2, 1), (5, 1), 0, 3)),
        ]

    (got,), (want,) = both(gpu, build, [a, b], [((3, 5), dt)])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, np.concatenate([a, b], axis=1))


def test_copy_expand_large(gpu):
    """More elements than one grid dimension of 64-thread workgroups holds (a 2-D grid)."""
    x = randn(1, 300, 1)
    dims = (160, 300, 100)
    check_step(gpu, Kernel.COPY, CopyParams(dims, (0, 1, 0), (30000, 100, 1), 0, 0), [x], dims)


def test_copy_out_of_range_is_an_error(gpu):
    with pytest.raises(BackendError, match="node0"):
        check_step(gpu, Kernel.COPY, CopyParams((4,), (-1,), (1,), 2, 0), [randn(4)], (4,))


# ---- UNARY ----

UNARY_PARAMS = {Act.HARDSIGMOID: (1 / 6, 0.5), Act.CLIP: (-0.5, 1.25), Act.LEAKYRELU: (0.1, 0.0)}


@pytest.mark.parametrize("act", list(Act), ids=lambda a: a.name)
def test_unary(gpu, act: Act):
    x = randn(3, 50) * 4
    x = np.abs(x) + 0.01 if act in (Act.SQRT, Act.LOG) else x
    x[0, :5] = [0.0, 1e-4, -1e-4, 0.3, -9.0]  # near zero and the tails of erf, tanh, gelu
    params = UnaryParams(act, *UNARY_PARAMS.get(act, (0.0, 0.0)))
    check_step(gpu, Kernel.UNARY, params, [x], (150,), rtol=2e-6 if act != Act.EXP else 1e-5, atol=1e-6)


def test_unary_clip_to_infinity_and_in_place(gpu):
    x = randn(40) * 3
    arena = ref(ARENA, 64, np.float32, (40,))

    def build(i, o):
        return [
            Step(Kernel.COPY, (i[0], arena), CopyParams((40,), (1,), (1,), 0, 0)),
            Step(Kernel.UNARY, (arena, arena), UnaryParams(Act.CLIP, -math.inf, 1.0)),
            Step(Kernel.COPY, (arena, o[0]), CopyParams((40,), (1,), (1,), 0, 0)),
        ]

    (got,), _ = both(gpu, build, [x], [((40,), np.float32)], arena_bytes=256)
    np.testing.assert_array_equal(got, np.minimum(x, 1.0))


def test_unary_rejects_non_float(gpu):
    x = TensorRef(ARENA, 0, dtypes.DType.INT32, (4,))
    assert "float32" in gpu.unsupported(Step(Kernel.UNARY, (x, x), UnaryParams(Act.RELU)))


# ---- BINARY and WHERE ----


def binary(gpu, op: BinOp, a: np.ndarray, b: np.ndarray, out_dtype, **tol) -> np.ndarray:
    dims = np.broadcast_shapes(a.shape, b.shape)
    params = BinaryParams(op, dims, broadcast_strides(a.shape, dims), broadcast_strides(b.shape, dims))
    return check_step(gpu, Kernel.BINARY, params, [a, b], dims, out_dtype, **tol)


ARITH = [BinOp.ADD, BinOp.SUB, BinOp.MUL, BinOp.DIV, BinOp.MAX, BinOp.MIN]


@pytest.mark.parametrize("op", [*ARITH, BinOp.POW], ids=lambda o: o.name)
def test_binary_float_broadcast(gpu, op: BinOp):
    a, b = randn(3, 1, 5), randn(4, 1)
    if op == BinOp.POW:
        a, b = np.abs(a) + 0.1, np.round(b * 2)  # and integral exponents of negative bases:
        binary(gpu, op, -a, b, np.float32, rtol=1e-5)
    binary(gpu, op, a, b, np.float32, rtol=1e-5 if op == BinOp.POW else 3e-7)  # WGSL: x / y to 2.5 ULP


@pytest.mark.parametrize("dt", [np.float32, np.int32, np.int64])
@pytest.mark.parametrize("op", [BinOp.EQUAL, BinOp.LESS, BinOp.GREATER], ids=lambda o: o.name)
def test_binary_comparison(gpu, op: BinOp, dt):
    a, b = rng.integers(-2, 3, (4, 6)).astype(dt), rng.integers(-2, 3, (6,)).astype(dt)
    if dt == np.int64:
        a[0] = [2**40, -(2**40), 2**33 + 1, -1, 2**32, 0]  # the high words decide
        b[:] = [2**40, 2**40, 2**33, 2**32 - 1, 2**32, -(2**33)]
    binary(gpu, op, a, b, np.bool_)


@pytest.mark.parametrize("op", [BinOp.AND, BinOp.OR, BinOp.EQUAL], ids=lambda o: o.name)
def test_binary_bool(gpu, op: BinOp):
    a, b = rng.integers(0, 2, (2, 1, 37)).astype(bool), rng.integers(0, 2, (4, 1)).astype(bool)
    binary(gpu, op, a, b, np.bool_)


@pytest.mark.parametrize("dt", [np.int32, np.int64])
@pytest.mark.parametrize("op", ARITH, ids=lambda o: o.name)
def test_binary_integer(gpu, op: BinOp, dt):
    big = 2**40 if dt == np.int64 else 2**20
    a = rng.integers(-big, big, (5, 7)).astype(dt)
    b = rng.integers(-50, 50, (7,)).astype(dt)
    b[b == 0] = 3
    a[0, :4] = [7, -7, 7, -7]  # truncating division toward zero, both signs
    b[:4] = [2, 2, -2, -2]
    if dt == np.int64 and op == BinOp.MUL:
        a[1], b[4] = -(2**31) - 5, 2**31 + 3  # a product needing the full 64 bits
    binary(gpu, op, a, b, dt)


@pytest.mark.parametrize("dt", [np.int32, np.int64])
def test_binary_integer_division_by_zero(gpu, dt):
    a, b = np.array([1, 2, 3], dt), np.array([1, 0, 1], dt)
    with pytest.raises(BackendError, match=r"node0.*division by zero"):
        binary(gpu, BinOp.DIV, a, b, dt)


def test_binary_strided_operand(gpu):
    a, b = randn(4, 3), randn(3, 4)
    check_step(gpu, Kernel.BINARY, BinaryParams(BinOp.SUB, (3, 4), (1, 3), (4, 1)), [a, b], (3, 4))


@pytest.mark.parametrize("dt", [np.float32, np.int64, np.bool_])
def test_where_broadcast(gpu, dt):
    c = rng.integers(0, 2, (3, 1)).astype(bool)
    x, y = rng.integers(-5, 5, (1, 9)).astype(dt), np.array(1, dt)
    dims = (3, 9)
    params = WhereParams(dims, *(broadcast_strides(t.shape, dims) for t in (c, x, y)))
    got = check_step(gpu, Kernel.WHERE, params, [c, x, y], dims, dt)
    np.testing.assert_array_equal(got, np.where(c, x, y))


# ---- GEMM ----


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("mode", list(BiasMode), ids=lambda m: m.name)
def test_gemm_bias_modes_and_transposes(gpu, trans_a: int, trans_b: int, mode: BiasMode):
    M, N, K = 5, 7, 6
    a = randn(K, M) if trans_a else randn(M, K)
    b = randn(N, K) if trans_b else randn(K, N)
    bias_shape = {BiasMode.SCALAR: (1,), BiasMode.ROW: (N,), BiasMode.COL: (M,), BiasMode.FULL: (M * N,)}
    params = GemmParams((), (), (), M, N, K, trans_a, trans_b, 0.5, 2.0, mode, Act.NONE)
    ins = [a, b] if mode == BiasMode.NONE else [a, b, randn(*bias_shape.get(mode, (1,)))]
    check_step(gpu, Kernel.GEMM, params, ins, (M, N), rtol=1e-5, atol=1e-5)


def test_gemm_batched_broadcast_with_act(gpu):
    M, N, K = 4, 6, 5
    a, b = randn(2, 1, M, K), randn(3, K, N)  # batch dims (2, 3): A repeats over 3, B over 2
    params = GemmParams((2, 3), (M * K, 0), (0, K * N), M, N, K, 0, 0, 1.0, 1.0, BiasMode.ROW, Act.GELU)
    check_step(gpu, Kernel.GEMM, params, [a, b, randn(N)], (2, 3, M, N), rtol=1e-5, atol=1e-5)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(tuning.CACHE_ENV, str(tmp_path))
    return tmp_path


def force_tile(gpu, step: Step, tile: tuning.Tile) -> None:
    """Make `tile` the backend's choice for the step's product: a tuning-cache entry, as if tuned."""
    tuning.TuningCache(tuning.cache_path()).put(gpu.gpu.name, matmul.problem(step).signature, tile)


def every_tile(gpu) -> list[tuning.Tile]:
    return [t for t in dict.fromkeys(tuning.SPACE + tuning.DEFAULTS) if t.fits(gpu.gpu.limits)]


def gemm_source(step: Step, tile: tuning.Tile, limits) -> str:
    slots = {t.buffer: i for i, t in reversed(list(enumerate(step.tensors)))}
    return codegen.generate(step, tuple(slots[t.buffer] for t in step.tensors), limits, tile).source


# (trans_a, trans_b, M, N, K): the adjacent dimensions of A and B multiples of 4 (vec4 loads) or not
# (scalar loads); no tile divides the product (guarded edges)
LAYOUTS = [(ta, tb, *shape) for shape in ((68, 132, 44), (67, 130, 45)) for ta in (0, 1) for tb in (0, 1)]


def test_gemm_every_tile(gpu, cache_dir: Path):
    """Each tile of the search space and the defaults (set through the cache) on the layouts in turn,
    a direct one on an aligned and an unaligned one: both operands in both orientations, read as
    vec4s where aligned (A too where the tile's copies divide into vec4s, or where a direct tile's
    rows come in fours), else as scalars."""
    tiled = [t for t in every_tile(gpu) if not t.direct]
    direct = [t for t in every_tile(gpu) if t.direct]
    half = len(LAYOUTS) // 2  # aligned layouts first
    cases = [*zip(tiled, itertools.cycle(LAYOUTS))]
    cases += [(t, LAYOUTS[i % half + k * half]) for i, t in enumerate(direct) for k in (0, 1)]
    for tile, (trans_a, trans_b, M, N, K) in cases:
        a = randn(K, M) if trans_a else randn(M, K)
        b = randn(N, K) if trans_b else randn(K, N)
        bias = randn(N)
        params = GemmParams((), (), (), M, N, K, trans_a, trans_b, 1.0, 1.0, BiasMode.ROW, Act.RELU)
        step = Step(Kernel.GEMM, (ref(FIRST_IO, 0, np.float32, a.shape),) * 4, params)
        force_tile(gpu, step, tile)
        source = gemm_source(step, tile, gpu.gpu.limits)
        assert ("ld4_b" in source) == (K % 4 == 0) and ("ld4_a" in source) <= (K % 4 == 0), tile
        build: Build = lambda i, o: [Step(Kernel.GEMM, (*i, *o), params)]  # noqa: B023, E731
        (got,) = run_plan(gpu, build, [a, b, bias], [((M, N), np.float32)])
        want = np.maximum((a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b) + bias, 0)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{tile} {trans_a}{trans_b}")


@pytest.mark.parametrize("a_offset", [0, 4], ids=["aligned", "misaligned"])
@pytest.mark.parametrize("tile", [tuning.Tile(16, 32, 8, 4, 4), tuning.Tile(16, 64, 4, 4, 4, 0)], ids=str)
def test_gemm_in_the_arena(gpu, cache_dir: Path, a_offset: int, tile: tuning.Tile):
    """A, B and Y in one read-write binding: vec4 reads of A and scalar stores through the same vec4
    array when A starts on 16 bytes (Y, last, ends inside a vec4), scalar reads when it does not
    (batched, B broadcast over the batch); tiled and direct."""
    M, N, K, Z = 3, 5, 16, 3
    a, b = randn(Z, M, K), randn(K, N)
    params = GemmParams((Z,), (M * K,), (0,), M, N, K, 0, 0, 1.0, 0.0, BiasMode.NONE, Act.NONE)
    a_ref = ref(ARENA, a_offset, np.float32, a.shape)
    b_ref = ref(ARENA, 1024, np.float32, b.shape)
    y_ref = ref(ARENA, 2048, np.float32, (Z, M, N))
    step = Step(Kernel.GEMM, (a_ref, b_ref, y_ref), params)
    force_tile(gpu, step, tile)
    source = gemm_source(step, tile, gpu.gpu.limits)
    assert ("array<vec4<u32>>" in source, "ld4_a" in source) == (a_offset == 0, a_offset == 0)

    def copy(src: TensorRef, dst: TensorRef) -> Step:
        return Step(Kernel.COPY, (src, dst), CopyParams((src.numel,), (1,), (1,), 0, 0))

    def build(i, o):
        return [copy(i[0], a_ref), copy(i[1], b_ref), step, copy(y_ref, o[0])]

    (got,) = run_plan(gpu, build, [a, b], [((Z, M, N), np.float32)], arena_bytes=4096)
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


# Split-K tiles, single- and double-buffered, asking for more slices than K's steps allow (40 deep:
# 3 slices of one 16-deep step, the last partial) or cutting K unevenly (300: 4 slices of 80, 12 of
# the last step past K)
SPLIT_TILES = [
    tuning.Tile(16, 32, 8, 4, 4, 1, 3),
    tuning.Tile(32, 64, 16, 2, 4, 2, 8),
    tuning.Tile(64, 64, 16, 4, 4, 1, 4),
]


@pytest.mark.parametrize("tile", SPLIT_TILES, ids=str)
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("K", [40, 300])
def test_gemm_split_k(gpu, cache_dir: Path, tile: tuning.Tile, trans_b: int, K: int):
    """A split-K product is two dispatches over a scratch buffer (see check_gemm_split_k)."""
    if not tile.fits(gpu.gpu.limits):
        pytest.skip(f"{tile} does not fit this device's limits {gpu.gpu.limits}")
    params, _, out_shape = split_gemm_case(trans_b, K)
    step = Step(Kernel.GEMM, (ref(FIRST_IO, 0, np.float32, out_shape),) * 4, params)
    force_tile(gpu, step, tile)
    shader = codegen.generate(step, (0, 1, 2, 3), gpu.gpu.limits, tile)
    assert shader.then is not None and shader.scratch_bytes % (4 * math.prod(out_shape)) == 0
    check_gemm_split_k(gpu, trans_b, K)


def split_gemm_case(trans_b: int, K: int) -> tuple[GemmParams, list[np.ndarray], tuple[int, ...]]:
    M, N, Z = 37, 70, 2
    a, b = randn(M, K), randn(Z, N, K) if trans_b else randn(Z, K, N)
    params = GemmParams((Z,), (0,), (K * N,), M, N, K, 0, trans_b, 0.5, 2.0, BiasMode.ROW, Act.GELU)
    return params, [a, b, randn(N)], (Z, M, N)


def check_gemm_split_k(gpu, trans_b: int, K: int) -> None:
    """The tiled kernel on each K slice, then the summing kernel with the epilogue (alpha, beta,
    bias, activation), batched with A broadcast over the batch; against the reference backend."""
    params, ins, out_shape = split_gemm_case(trans_b, K)
    check_step(gpu, Kernel.GEMM, params, ins, out_shape, rtol=1e-4, atol=1e-5 * math.sqrt(K))


def test_conv_split_k(gpu, cache_dir: Path):
    """A fused convolution (bias, residual, ReLU) as a split-K implicit GEMM, against the reference."""
    check_conv(gpu, "wide", True, tuning.Tile(64, 64, 16, 4, 4, 1, 4))


def test_split_k_candidates_only_where_the_grid_is_small(gpu):
    """The tuner times split-K only on a GPU, for products of few tiles and deep K: ResNet-18's
    last convolutions (512 x 49, K = 4608), not a 4096-wide square product or a shallow one."""
    limits = gpu.gpu.limits
    late = tuning.Problem("late", 512, 49, 4608)
    assert any(t.split > 1 for t in tuning.candidates(late, limits))
    assert not any(t.split > 1 for t in tuning.candidates(late, limits, software=True))
    assert not any(t.split > 1 for t in tuning.candidates(tuning.Problem("big", 4096, 4096, 4096), limits))
    assert not any(t.split > 1 for t in tuning.candidates(tuning.Problem("flat", 512, 49, 64), limits))


def test_direct_tiles_on_cpu_renderers_and_for_few_rows(gpu):
    """Untuned, a CPU renderer gets direct tiles, and so does a product of fewer than 4 rows; the
    tuner times only direct tiles there, tiled ones too on a GPU."""
    limits, conv = gpu.gpu.limits, tuning.Problem("conv", 64, 3136)
    assert tuning.default_tile(64, 3136, limits, software=True).direct
    assert not tuning.default_tile(64, 3136, limits).direct
    assert tuning.default_tile(1, 1000, limits).direct
    assert all(t.direct for t in tuning.candidates(conv, limits, software=True))
    assert {t.direct for t in tuning.candidates(conv, limits)} == {False, True}


def test_tuning_is_timed_once_then_cached(cache_dir: Path):
    """A small product has few candidate tiles: all are timed well within the budget (a search cut
    short before two timings would not be remembered)."""
    backend = WebGPUBackend(tune_budget_s=10.0)
    M = N = K = 32
    params = GemmParams((), (), (), M, N, K, 0, 0, 1.0, 1.0, BiasMode.NONE, Act.NONE)
    a, b = randn(M, K), randn(K, N)
    refs = [ref(FIRST_IO + i, 0, np.float32, shape) for i, shape in enumerate([(M, K), (K, N), (M, N)])]
    plan = Plan([Step(Kernel.GEMM, tuple(refs), params)], 0, b"", ["a", "b"], ["y"], refs[:2], refs[2:])
    first = backend.compile(plan)
    assert first.tuning_s > 0
    saved = json.loads(tuning.cache_path().read_text())
    assert list(saved[backend.gpu.name]) == [matmul.problem(plan.steps[0]).signature]
    second = backend.compile(plan)
    assert second.tuning_s == 0
    y = np.zeros((M, N), np.float32)
    backend.execute(second, [memoryview(a), memoryview(b)], [memoryview(y)])
    np.testing.assert_allclose(y, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


# ---- CONV ----

CONV_CASES = {
    "3x3_pad1": dict(c=3, m=4, hw=(8, 8), k=(3, 3), s=(1, 1), pads=(1, 1, 1, 1), d=(1, 1), g=1),
    "stride2_asym_pads": dict(c=2, m=3, hw=(9, 7), k=(3, 2), s=(2, 2), pads=(0, 1, 2, 1), d=(1, 1), g=1),
    "groups_dilation": dict(c=4, m=6, hw=(10, 9), k=(3, 3), s=(1, 2), pads=(2, 1, 0, 1), d=(2, 1), g=2),
    "depthwise": dict(c=5, m=5, hw=(8, 8), k=(3, 3), s=(2, 2), pads=(1, 1, 1, 1), d=(1, 1), g=5),
    "depthwise_multiplier": dict(c=3, m=6, hw=(7, 6), k=(3, 3), s=(1, 1), pads=(1, 1, 1, 1), d=(1, 1), g=3),
    "conv1d": dict(c=3, m=2, hw=(1, 12), k=(1, 5), s=(1, 1), pads=(0, 2, 0, 2), d=(1, 2), g=1),
    "pointwise": dict(c=6, m=4, hw=(5, 5), k=(1, 1), s=(1, 1), pads=(0, 0, 0, 0), d=(1, 1), g=1),
    "wide": dict(c=40, m=70, hw=(13, 11), k=(3, 3), s=(1, 1), pads=(1, 1, 1, 1), d=(1, 1), g=1),
}


def out_size(n: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (n + p0 + p1 - (k - 1) * d - 1) // s + 1


# Each implicit-GEMM case on the untuned tile of a CPU adapter (direct) and of a GPU (tiled);
# depthwise ones have no product.
CONV_RUNS = [
    (name, kind)
    for name, c in CONV_CASES.items()
    for kind in (("direct", "tiled") if c["c"] != c["g"] else ("depthwise",))
]


@pytest.mark.parametrize(("name", "kind"), CONV_RUNS)
@pytest.mark.parametrize("fused", [False, True])
def test_conv(gpu, cache_dir: Path, name: str, kind: str, fused: bool):
    check_conv(gpu, name, fused, None if kind == "depthwise" else kind)


def test_conv_every_direct_tile(gpu, cache_dir: Path):
    """Each direct tile on the implicit-GEMM cases in turn, fused and not: the im2col matrix read as
    scalars (with pad checks or without), the weights as vec4s where K is a multiple of 4, groups
    as batches; the tiled ones are GEMM's (test_gemm_every_tile) with CONV's operands (test_conv)."""
    cases = [(name, fused) for name, c in CONV_CASES.items() if c["c"] != c["g"] for fused in (False, True)]
    direct = [t for t in every_tile(gpu) if t.direct]
    for i in range(max(len(cases), len(direct))):
        check_conv(gpu, *cases[i % len(cases)], direct[i % len(direct)])


def check_conv(gpu, name: str, fused: bool, tile: tuning.Tile | str | None = None) -> None:
    """CONV_CASES[name] on both backends; an implicit GEMM on `tile` (or the untuned tile of a
    "direct" or "tiled" adapter) when given."""
    case = CONV_CASES[name]
    (h, w), (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr) = (
        case["hw"],
        case["k"],
        case["s"],
        case["d"],
        case["pads"],
    )
    y_shape = (2, case["m"], out_size(h, kh, sh, dh, pt, pb), out_size(w, kw, sw, dw, pl, pr))
    x, wt = randn(2, case["c"], h, w), randn(case["m"], case["c"] // case["g"], kh, kw)
    ins = [x, wt, randn(case["m"]), randn(*y_shape)] if fused else [x, wt]
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
    x_ref, y_ref = ref(FIRST_IO, 0, np.float32, x.shape), ref(FIRST_IO, 0, np.float32, y_shape)
    step = Step(Kernel.CONV, (x_ref, y_ref), params)
    product = matmul.problem(step)
    if product is not None and tile is not None:
        if isinstance(tile, str):
            tile = tuning.default_tile(product.m, product.n, gpu.gpu.limits, software=tile == "direct")
        force_tile(gpu, step, tile)
    atol = 1e-5 * math.sqrt(case["c"] // case["g"] * kh * kw)  # f32 sums of K products of N(0, 1)
    check_step(gpu, Kernel.CONV, params, ins, y_shape, rtol=1e-5, atol=atol)


# ---- POOL ----

POOL_CASES = {  # kind, kernel, strides, pads, dilations, count_include_pad, (oh, ow) beyond pads = ceil
    "max_resnet": (PoolKind.MAX, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 0, None),
    "max_ceil": (PoolKind.MAX, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 0, (4, 4)),
    "max_dilated_asym": (PoolKind.MAX, (3, 2), (1, 1), (1, 0, 2, 1), (2, 1), 0, None),
    "avg_exclude_pad": (PoolKind.AVG, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 0, None),
    "avg_include_pad": (PoolKind.AVG, (3, 3), (1, 1), (1, 2, 0, 1), (1, 1), 1, None),
    "avg_ceil_include_pad": (PoolKind.AVG, (3, 3), (2, 2), (1, 0, 1, 1), (1, 1), 1, (4, 4)),
    "avg_global": (PoolKind.AVG, (7, 7), (1, 1), (0, 0, 0, 0), (1, 1), 0, None),
}


@pytest.mark.parametrize("name", list(POOL_CASES))
def test_pool(gpu, name: str):
    kind, k, s, pads, d, include, ceil_shape = POOL_CASES[name]
    out = ceil_shape or tuple(out_size(7, k[i], s[i], d[i], pads[i], pads[i + 2]) for i in (0, 1))
    params = PoolParams(kind, k, s, pads, d, include)
    check_step(gpu, Kernel.POOL, params, [randn(2, 3, 7, 7)], (2, 3, *out), rtol=1e-6, atol=1e-6)


# ---- REDUCE, SOFTMAX, normalisations ----


@pytest.mark.parametrize("op", list(ReduceOp), ids=lambda o: o.name)
@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 1000, 1), (1, 300, 40)])
def test_reduce(gpu, op: ReduceOp, shape):
    x = randn(*shape) if op != ReduceOp.PROD else (1 + randn(*shape) * 0.01)
    outer, n, inner = shape
    check_step(
        gpu, Kernel.REDUCE, ReduceParams(op, outer, n, inner), [x], (outer, inner), rtol=2e-5, atol=1e-5
    )


def test_reduce_over_nothing_gives_the_identity(gpu):
    empty = np.zeros((2, 0), np.float32)
    got = [
        check_step(gpu, Kernel.REDUCE, ReduceParams(op, 2, 0, 1), [empty], (2,))[0]
        for op in ReduceOp
        if op != ReduceOp.MEAN
    ]
    assert got == [0, -np.inf, np.inf, 1]


@pytest.mark.parametrize("log", [0, 1])
@pytest.mark.parametrize("shape", [(2, 6, 3), (4, 1000, 1)])
def test_softmax(gpu, log: int, shape):
    x = randn(*shape) * 5
    x[0, 2, 0] = 1000.0  # would overflow exp without the max shift
    check_step(gpu, Kernel.SOFTMAX, SoftmaxParams(*shape, log), [x], x.shape, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("has_bias", [0, 1])
@pytest.mark.parametrize("n", [16, 768])
def test_layernorm(gpu, has_bias: int, n: int):
    x, scale, bias = randn(3, 4, n) * 3 + 2, randn(n), randn(n)
    ins = [x, scale, bias] if has_bias else [x, scale]
    check_step(
        gpu, Kernel.LAYERNORM, LayerNormParams(12, n, 1e-5, has_bias), ins, x.shape, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 3)])
def test_batchnorm(gpu, shape):
    x, scale, bias, mean = randn(*shape), randn(3), randn(3), randn(3)
    var = np.abs(randn(3)) + 0.1
    check_step(
        gpu, Kernel.BATCHNORM, BatchNormParams(1e-5), [x, scale, bias, mean, var], shape, rtol=1e-5, atol=1e-6
    )


# ---- CAST and GATHER ----

FLOATS = np.array([-2.7, -0.5, -0.0, 0.0, 0.5, 2.7, 100.25, -100.75], np.float32)
CASTS = [
    (FLOATS, np.int32),
    (FLOATS, np.int64),
    (FLOATS, np.bool_),
    (FLOATS, np.float16),
    (FLOATS, np.int8),
    (np.array([-(2**40), 3, -1, 2**31], np.int64), np.float32),
    (np.array([-(2**40) - 5, 3, -1, 2**31 + 7], np.int64), np.int32),
    (np.array([0, 5, -(2**40)], np.int64), np.bool_),
    (np.array([True, False, True]), np.int64),
    (np.array([True, False, True]), np.float32),
    (np.array([-5, 0, 2**30], np.int32), np.int64),
    (np.array([-5, 0, 200], np.int32), np.uint8),
    (np.array([250, 1, 0], np.uint8), np.float32),
    (np.array([-128, 1, 127], np.int8), np.int32),
    (np.array([1.5, -2.25, 65504], np.float16), np.float32),
    # float64 is emulated on its bits: rounding ties, subnormals, overflow, -0.0, int64 beyond 2^53;
    # one rounding into the subnormals (rounding to 24 bits first would make 1.5 * 2^-149 a tie)
    (np.array([1 + 2**-24, 1 + 3 * 2**-24, 1e-40, -1e300, -0.0, np.inf, 2.5, -1e-310]), np.float32),
    (
        np.array([(1.5 - 2**-30) * 2**-149, 2**-150, -3 * 2**-151, 3.4028235677973366e38, 3.4028234e38]),
        np.float32,
    ),
    (np.array([-(2**60) - 0.5, 2**53 + 2.0, -2.7, 0.99, 1e18]), np.int64),
    (np.array([0.0, -0.0, 1e-310, np.nan]), np.bool_),
    (np.array([1e-40, -3.5, np.inf, 1 / 3], np.float32), np.float64),
    (np.array([2**53 + 1, -(2**62) - 3, 7, 0], np.int64), np.float64),
    (np.array([True, False]), np.float64),
    (np.array([1.5, -2.25], np.float16), np.float64),
]


@pytest.mark.parametrize(("x", "to"), CASTS, ids=[f"{x.dtype}-{np.dtype(t)}" for x, t in CASTS])
@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # the reference's -1e300 -> -inf
def test_cast(gpu, x: np.ndarray, to):
    check_step(gpu, Kernel.CAST, CastParams(), [x], x.shape, to)


def test_binary_rejects_double(gpu):
    x = TensorRef(ARENA, 0, dtypes.DType.DOUBLE, (4,))
    assert "double" in gpu.unsupported(
        Step(Kernel.BINARY, (x, x, x), BinaryParams(BinOp.ADD, (4,), (1,), (1,)))
    )


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("data_dtype", [np.int64, np.float32, np.bool_])
def test_gather_negative_indices(gpu, index_dtype, data_dtype):
    data = rng.integers(0, 2, (2, 5, 3)).astype(data_dtype)
    idx = np.array([-1, 0, 4, -5, 2], index_dtype)
    got = check_step(gpu, Kernel.GATHER, GatherParams(2, 5, 3, 5), [data, idx], (2, 5, 3), data_dtype)
    np.testing.assert_array_equal(got, np.take(data, idx, axis=1))


@pytest.mark.parametrize("bad", [5, -6, 2**40])
def test_gather_out_of_range(gpu, bad: int):
    data, idx = randn(5, 2), np.array([0, bad], np.int64)

    def build(i, o):
        return [Step(Kernel.GATHER, (*i, *o), GatherParams(1, 5, 2, 2), "node0")]

    plan_outs = [((2, 2), np.float32)]
    with pytest.raises(BackendError, match=rf"node0.*{bad}.*\[-5, 5\)"):
        run_plan(gpu, build, [data, idx], plan_outs)
    good = run_plan(gpu, build, [data, np.array([4, -5], np.int64)], plan_outs)  # no stale error
    np.testing.assert_array_equal(good[0], data[[4, 0]])


# ---- whole plans ----


def test_plan_through_arena_weights_and_consts(gpu):
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
        (y,) = run_plan(gpu, build, [x], [((4,), f32)], arena_bytes=64, weights=weights, consts=c.tobytes())
        np.testing.assert_allclose(y, (np.maximum(x, 0) + w) * c)


def test_tensor_outside_its_buffer_names_the_node(gpu):
    def build(i, o):
        big = TensorRef(i[0].buffer, 8, i[0].dtype, (4,))
        return [Step(Kernel.UNARY, (big, o[0]), UnaryParams(Act.NONE), "/layer1/Relu")]

    with pytest.raises(BackendError, match=r"/layer1/Relu.*outside"):
        run_plan(gpu, build, [randn(4)], [((4,), np.float32)])


def test_inputs_are_read_only(gpu):
    def build(i, o):
        return [Step(Kernel.UNARY, (o[0], i[0]), UnaryParams(Act.NONE), "writes_input")]

    with pytest.raises(BackendError, match="writes_input"):
        run_plan(gpu, build, [randn(4)], [((4,), np.float32)])


def test_compile_refuses_unsupported_steps(gpu):
    x = TensorRef(FIRST_IO, 0, dtypes.DType.INT32, (4,))
    plan = Plan([Step(Kernel.SOFTMAX, (x, x), SoftmaxParams(1, 4, 1, 0), "sm")], 0, b"", ["x"], [])
    with pytest.raises(BackendError, match=r"sm.*float32"):
        gpu.compile(plan)
