"""Plan steps to WGSL: one generator per kernel, specialised to the step's shapes, dtypes and params.

Shapes, strides and float parameters become constants of the source (the shader compiler folds
the index arithmetic); where tensors lie does not (see wgsl.py), so equal layers share a pipeline.
GEMM and CONV are in matmul.py; `unsupported` says which steps can have a shader at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import dtypes
from ..dtypes import DType
from ..kernels import (
    BatchNormParams,
    BiasMode,
    BinaryParams,
    BinOp,
    CopyParams,
    GatherParams,
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
from ..plan import Step
from . import matmul
from .gpu import Limits
from .shader import ACTS, Shader, Target, act
from .tuning import DEFAULTS, Tile, usable
from .wgsl import f32, i32, u32, value_type

_FLOAT_ONLY = {
    Kernel.UNARY,
    Kernel.GEMM,
    Kernel.CONV,
    Kernel.POOL,
    Kernel.REDUCE,
    Kernel.SOFTMAX,
    Kernel.LAYERNORM,
    Kernel.BATCHNORM,
}
# BINARY bodies: f32 and i32 share the operators, int64 (vec2<u32>) has int64.wgsl's functions
_ARITH = {BinOp.ADD: "a + b", BinOp.SUB: "a - b", BinOp.MUL: "a * b", BinOp.MAX: "max(a, b)",
          BinOp.MIN: "min(a, b)"}  # fmt: skip
_COMPARE = {BinOp.EQUAL: "a == b", BinOp.LESS: "a < b", BinOp.GREATER: "a > b"}
_I64 = {BinOp.ADD: "i64_add(a, b)", BinOp.SUB: "i64_sub(a, b)", BinOp.MUL: "i64_mul(a, b)",
        BinOp.MAX: "select(a, b, i64_less(a, b))", BinOp.MIN: "select(b, a, i64_less(a, b))"}  # fmt: skip
_I64_COMPARE = {BinOp.EQUAL: "all(a == b)", BinOp.LESS: "i64_less(a, b)", BinOp.GREATER: "i64_less(b, a)"}
_BINARY_KINDS = {DType.FLOAT: "f32", DType.INT32: "i32", DType.INT64: "vec2<u32>"}
_REDUCE = {  # op -> (combine code of rows.wgsl, identity, result)
    ReduceOp.SUM: (0, "0.0", "total"),
    ReduceOp.MEAN: (0, "0.0", "total / f32(N)"),
    ReduceOp.MAX: (1, f32(-math.inf), "total"),
    ReduceOp.MIN: (2, f32(math.inf), "total"),
    ReduceOp.PROD: (3, "1.0", "total"),
}
DIVISION_BY_ZERO = "integer division by zero"


def unsupported(step: Step, limits: Limits) -> str | None:
    """None when a shader can be generated for the step, else why not."""
    name = step.kernel.name
    for t in step.tensors:
        if not dtypes.is_known(t.dtype):
            return f"{name} cannot handle dtype {dtypes.name(t.dtype)}"
        if t.offset % min(4, dtypes.info(t.dtype).itemsize):
            return f"{name}: a {dtypes.name(t.dtype)} tensor at byte offset {t.offset} is misaligned"
    codes = [DType(t.dtype) for t in step.tensors]
    p: Any = step.params
    if step.kernel in _FLOAT_ONLY and any(c != DType.FLOAT for c in codes):
        return f"{name} is float32-only on webgpu"
    if step.kernel in (Kernel.UNARY, Kernel.GEMM, Kernel.CONV) and p.act not in ACTS:
        return f"unknown activation {p.act}"
    if step.kernel in (Kernel.CONV, Kernel.POOL) and (len(p.kernel) != 2 or len(step.tensors[0].shape) != 4):
        return f"{name} supports 2-D windows over NCHW tensors only on webgpu"
    if step.kernel == Kernel.BINARY:
        return _binary_unsupported(p.op, *codes)
    if step.kernel == Kernel.WHERE and (codes[0] != DType.BOOL or not codes[1] == codes[2] == codes[3]):
        return "WHERE needs a bool condition and one value dtype"
    if step.kernel == Kernel.GATHER and (codes[1] not in (DType.INT32, DType.INT64) or codes[0] != codes[2]):
        return "GATHER needs int32/int64 indices and equal data and output dtypes"
    if step.kernel == Kernel.COPY and codes[0] != codes[1]:
        return "COPY source and destination dtypes differ"
    if step.kernel == Kernel.REDUCE and p.op not in _REDUCE:
        return f"unknown reduce op {p.op}"
    if step.kernel == Kernel.POOL and p.kind not in (PoolKind.MAX, PoolKind.AVG):
        return f"unknown pool kind {p.kind}"
    if step.kernel == Kernel.GEMM and p.bias_mode not in list(BiasMode):
        return f"unknown bias mode {p.bias_mode}"
    product = matmul.problem(step)
    if product is not None and (
        matmul.batches(step) > limits.groups_per_dim
        or not any(usable(t, product.m, product.n, limits) for t in DEFAULTS)
    ):
        return f"{name} needs more workgroups than one dispatch has ({limits.groups_per_dim} per dimension)"
    return None


def _binary_unsupported(op: int, a: DType, b: DType, y: DType) -> str | None:
    if op not in list(BinOp):
        return f"unknown binary op {op}"
    name = BinOp(op).name
    if a != b:
        return f"{name} operands differ in dtype"
    if op in (BinOp.AND, BinOp.OR):
        ok = a == y == DType.BOOL
    elif op in _COMPARE:
        ok = y == DType.BOOL and (a in _BINARY_KINDS or (op == BinOp.EQUAL and a == DType.BOOL))
    else:
        ok = a in _BINARY_KINDS and y == a and (op != BinOp.POW or a == DType.FLOAT)
    return None if ok else f"{name} on {dtypes.name(a)} -> {dtypes.name(y)} is not implemented on webgpu"


def starts(step: Step) -> tuple[int, ...]:
    """Elements to add to each tensor's offset: COPY's starts (negative strides count down from
    them), so that copies differing only there share a shader."""
    if step.kernel == Kernel.COPY:
        p: CopyParams = step.params  # type: ignore[assignment]
        return p.src_start, p.dst_start
    return (0,) * len(step.tensors)


def generate(step: Step, slots: tuple[int, ...], limits: Limits, tile: Tile | None = None) -> Shader:
    """The shader of a step whose tensors are bound at `slots` (tensors of one buffer share a slot).
    `tile` sizes a GEMM/CONV (default: tuning.default_tile for a hardware GPU)."""
    return _GENERATORS[step.kernel](Target(step, slots, limits), tile)


def _collapse(dims: tuple[int, ...], strides: list[tuple[int, ...]]) -> tuple[list[int], list[list[int]]]:
    """Drop unit dims and merge neighbours every operand steps through contiguously: fewer divisions,
    and more steps with one shader."""
    out_dims: list[int] = []
    out_strides: list[list[int]] = [[] for _ in strides]
    for k, d in enumerate(dims):
        if d == 1:
            continue
        merge = bool(out_dims) and all(s[-1] == st[k] * d for s, st in zip(out_strides, strides, strict=True))
        if merge:
            out_dims[-1] *= d
        else:
            out_dims.append(d)
        for s, st in zip(out_strides, strides, strict=True):
            if merge:
                s[-1] = st[k]
            else:
                s.append(st[k])
    return out_dims, out_strides


def _index(dims: tuple[int, ...], named: dict[str, tuple[int, ...]]) -> str:
    """Statements that turn the flat thread index i into `i_<name>` for each strided operand."""
    shape, strides = _collapse(dims, list(named.values()))
    lines = ["    var r = i;"]
    for k in range(len(shape) - 1, 0, -1):
        lines += [f"    let c{k} = r % {u32(shape[k])};", f"    r = r / {u32(shape[k])};"]
    lines.append("    let c0 = r;")
    for name, st in zip(named, strides, strict=True):
        if any(s < 0 for s in st):
            terms = [f"i32(c{k}) * {i32(s)}" for k, s in enumerate(st) if s]
            lines.append(f"    let i_{name} = u32({' + '.join(terms) or '0i'});")
        else:
            terms = [f"c{k} * {u32(s)}" if s != 1 else f"c{k}" for k, s in enumerate(st) if s]
            lines.append(f"    let i_{name} = {' + '.join(terms) or '0u'};")
    return "\n".join(lines)


def _copy(t: Target, _tile: Tile | None) -> Shader:
    p: CopyParams = t.step.params  # type: ignore[assignment]
    index = _index(p.dims, {"src": p.src_strides, "dst": p.dst_strides})
    return t.flat(["src", "dst"], "copy", math.prod(p.dims), raw=("src", "dst"), INDEX=index)


def _unary(t: Target, _tile: Tile | None) -> Shader:
    p: UnaryParams = t.step.params  # type: ignore[assignment]
    return t.flat(["x", "y"], "unary", t.step.tensors[1].numel, ("math",), ACT=act(p.act, p.alpha, p.beta))


def _binary(t: Target, _tile: Tile | None) -> Shader:
    p: BinaryParams = t.step.params  # type: ignore[assignment]
    op = BinOp(p.op)
    kind = _BINARY_KINDS.get(DType(t.step.tensors[0].dtype), "u32")  # bool: 0 or 1 in a u32
    boolean = op in _COMPARE or op in (BinOp.AND, BinOp.OR)
    status = op == BinOp.DIV and kind != "f32"
    if op in (BinOp.AND, BinOp.OR):
        body = f"return a {'&' if op == BinOp.AND else '|'} b;"
    elif kind == "vec2<u32>" and op == BinOp.DIV:
        body = "if (all(b == vec2<u32>())) { fail(0u, 0u); return b; }\n    return i64_div(a, b);"
    elif kind == "vec2<u32>":
        body = f"return select(0u, 1u, {_I64_COMPARE[op]});" if boolean else f"return {_I64[op]};"
    elif op in _COMPARE:
        body = f"return select(0u, 1u, {_COMPARE[op]});"
    elif op == BinOp.DIV:
        body = "if (b == 0i) { fail(0u, 0u); return 0i; }\n    return a / b;" if status else "return a / b;"
    else:
        body = "return pow_f32(a, b);" if op == BinOp.POW else f"return {_ARITH[op]};"
    includes = ("int64",) if kind == "vec2<u32>" else ("math",) if op == BinOp.POW else ()
    index = _index(p.dims, {"a": p.a_strides, "b": p.b_strides})
    return t.flat(["a", "b", "y"], "binary", math.prod(p.dims), includes, status=status, T=kind,
                  R="u32" if boolean else kind, OP=body, INDEX=index)  # fmt: skip


def _where(t: Target, _tile: Tile | None) -> Shader:
    p: WhereParams = t.step.params  # type: ignore[assignment]
    index = _index(p.dims, {"cond": p.c_strides, "x": p.x_strides, "y": p.y_strides})
    return t.flat(["cond", "x", "y", "out"], "where", math.prod(p.dims), raw=("x", "y", "out"), INDEX=index)


_WIDEN = {  # a value of this WGSL type (v) as int64, sign- or zero-extended
    "i32": "vec2<u32>(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0i))",
    "u32": "vec2<u32>(v, 0u)",
    "vec2<u32>": "v",
}
_ZERO = {"f32": "0.0", "i32": "0i", "u32": "0u", "vec2<u32>": "vec2<u32>()"}


def _conversion(src: DType, dst: DType) -> str:
    """WGSL turning a value of src's type (`v`) into dst's, as C casts do through int64 (double
    values are their bits, converted by float64.wgsl)."""
    s, d = value_type(src), value_type(dst)
    if src == dst:
        return "v"
    if dst == DType.BOOL:
        nonzero = "(v & vec2<u32>(0xffffffffu, 0x7fffffffu))" if src == DType.DOUBLE else "v"  # -0.0 too
        return f"select(0u, 1u, any({nonzero} != {_ZERO[s]}))"
    if dst == DType.DOUBLE:
        return "f64_from_f32(v)" if s == "f32" else f"f64_from_i64({_WIDEN[s]})"
    if src == DType.DOUBLE:
        value, wide = "f64_to_f32(v)", "f64_to_i64(v)"
    elif s == "f32":
        value, wide = "v", "i64_from_f32(v)"
    else:
        value, wide = ("i64_to_f32(v)" if s == "vec2<u32>" else "f32(v)"), _WIDEN[s]
    if d == "f32":
        return value
    return {"vec2<u32>": wide, "i32": f"bitcast<i32>(({wide}).x)", "u32": f"({wide}).x"}[d]


def _cast(t: Target, _tile: Tile | None) -> Shader:
    src, dst = (DType(x.dtype) for x in t.step.tensors)
    return t.flat(["x", "y"], "cast", t.step.tensors[1].numel, ("int64", "float64"), FROM=value_type(src),
                  TO=value_type(dst), CONVERT=_conversion(src, dst))  # fmt: skip


_POSITION = {  # GATHER: idx[j] (v) as a position in [0, AXIS), reported and -1 when out of range
    DType.INT32: """if (v < -AXIS || v >= AXIS) {
        fail(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0i));
        return -1i;
    }
    return select(v, v + AXIS, v < 0i);""",
    DType.INT64: """let lo = bitcast<i32>(v.x);
    if (v.y != select(0u, 0xffffffffu, lo < 0i) || lo < -AXIS || lo >= AXIS) {
        fail(v.x, v.y);
        return -1i;
    }
    return select(lo, lo + AXIS, lo < 0i);""",
}


def _gather(t: Target, _tile: Tile | None) -> Shader:
    p: GatherParams = t.step.params  # type: ignore[assignment]
    data, idx, y = t.step.tensors
    zero = "vec2<u32>()" if dtypes.info(data.dtype).itemsize == 8 else "0u"
    return t.flat(["data", "idx", "y"], "gather", y.numel, raw=("data", "y"), status=True,
                  INNER=u32(p.inner), N_IDX=u32(p.n_idx), AXIS=i32(p.axis_dim),
                  POSITION=_POSITION[DType(idx.dtype)], ZERO=zero)  # fmt: skip


def _batchnorm(t: Target, _tile: Tile | None) -> Shader:
    p: BatchNormParams = t.step.params  # type: ignore[assignment]
    shape = t.step.tensors[0].shape
    return t.flat(["x", "scale", "bias", "mean", "variance", "y"], "batchnorm", math.prod(shape),
                  C=u32(shape[1]), SPATIAL=u32(math.prod(shape[2:])), EPS=f32(p.epsilon))  # fmt: skip


def _pool(t: Target, _tile: Tile | None) -> Shader:
    p: PoolParams = t.step.params  # type: ignore[assignment]
    return t.flat(
        ["x", "y"], "pool", t.step.tensors[1].numel, WINDOW=t.window(), PB=i32(p.pads[2]), PR=i32(p.pads[3]),
        COUNT_PADS=str(bool(p.count_include_pad)).lower(), IS_MAX=str(p.kind == PoolKind.MAX).lower(),
    )  # fmt: skip


def _reduce(t: Target, _tile: Tile | None) -> Shader:
    p: ReduceParams = t.step.params  # type: ignore[assignment]
    code, identity, result = _REDUCE[ReduceOp(p.op)]
    return t.rows(["x", "y"], "reduce", p.outer * p.inner, p.n, p.inner, OP=u32(code), IDENTITY=identity,
                  RESULT=result)  # fmt: skip


def _softmax(t: Target, _tile: Tile | None) -> Shader:
    p: SoftmaxParams = t.step.params  # type: ignore[assignment]
    return t.rows(["x", "y"], "softmax", p.outer * p.inner, p.n, p.inner, LOG=str(bool(p.log)).lower())


def _layernorm(t: Target, _tile: Tile | None) -> Shader:
    p: LayerNormParams = t.step.params  # type: ignore[assignment]
    names = ["x", "scale", "bias", "y"] if p.has_bias else ["x", "scale", "y"]
    return t.rows(names, "layernorm", p.outer, p.n, 1, EPS=f32(p.epsilon),
                  BIAS=" + ld_bias(j)" if p.has_bias else "")  # fmt: skip


_GENERATORS: dict[Kernel, Callable[[Target, Tile | None], Shader]] = {
    Kernel.COPY: _copy,
    Kernel.UNARY: _unary,
    Kernel.BINARY: _binary,
    Kernel.WHERE: _where,
    Kernel.GEMM: matmul.gemm,
    Kernel.CONV: matmul.conv,
    Kernel.POOL: _pool,
    Kernel.REDUCE: _reduce,
    Kernel.SOFTMAX: _softmax,
    Kernel.LAYERNORM: _layernorm,
    Kernel.BATCHNORM: _batchnorm,
    Kernel.CAST: _cast,
    Kernel.GATHER: _gather,
}
