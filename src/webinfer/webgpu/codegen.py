"""Plan steps to WGSL: one generator per kernel, specialised to the step's shapes, dtypes and params.

Shapes, strides and float parameters become constants of the source (the shader compiler folds
the index arithmetic); where tensors lie does not (see wgsl.py), so equal layers share a pipeline.
GEMM and CONV share one tiled matrix-product template whose tile sizes come from tuning.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import dtypes
from ..dtypes import DType
from ..kernels import (
    Act,
    BatchNormParams,
    BiasMode,
    BinaryParams,
    BinOp,
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
from ..plan import Step
from .gpu import Limits
from .tuning import DEFAULTS, Problem, Tile, default_tile, usable
from .wgsl import Operand, f32, i32, render, shader, u32, value_type

FLAT_WG = 64  # threads per workgroup of the one-thread-per-element kernels (flat.wgsl)
ROW_WG_MAX = 256
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
_ACTS = {
    Act.NONE: "x",
    Act.RELU: "max(x, 0.0)",
    Act.SIGMOID: "sigmoid(x)",
    Act.TANH: "tanh_f32(x)",
    Act.ERF: "erf_f32(x)",
    Act.GELU: "gelu(x)",
    Act.GELU_TANH: "0.5 * x * (1.0 + tanh_f32(0.7978845608028654 * (x + 0.044715 * x * x * x)))",
    Act.SQRT: "sqrt(x)",
    Act.EXP: "exp(x)",
    Act.LOG: "log(x)",
    Act.ABS: "abs(x)",
    Act.NEG: "-x",
    Act.RECIPROCAL: "1.0 / x",
    Act.HARDSIGMOID: "clamp({a} * x + {b}, 0.0, 1.0)",
    Act.HARDSWISH: "x * clamp(x / 6.0 + 0.5, 0.0, 1.0)",
    Act.CLIP: "min(max(x, {a}), {b})",
    Act.LEAKYRELU: "select({a} * x, x, x >= 0.0)",
    Act.FLOOR: "floor(x)",
    Act.CEIL: "ceil(x)",
}
# BINARY bodies by operand kind; `fail` reports a run-time error (integer division by zero)
_ARITH = {
    BinOp.ADD: "a + b",
    BinOp.SUB: "a - b",
    BinOp.MUL: "a * b",
    BinOp.MAX: "max(a, b)",
    BinOp.MIN: "min(a, b)",
}
_COMPARE = {BinOp.EQUAL: "a == b", BinOp.LESS: "a < b", BinOp.GREATER: "a > b"}
_I64 = {
    BinOp.ADD: "i64_add(a, b)",
    BinOp.SUB: "i64_sub(a, b)",
    BinOp.MUL: "i64_mul(a, b)",
    BinOp.MAX: "select(a, b, i64_less(a, b))",
    BinOp.MIN: "select(b, a, i64_less(a, b))",
}
_I64_COMPARE = {BinOp.EQUAL: "all(a == b)", BinOp.LESS: "i64_less(a, b)", BinOp.GREATER: "i64_less(b, a)"}
_BINARY_KINDS = {DType.FLOAT: "f32", DType.INT32: "i32", DType.INT64: "vec2<u32>"}
_REDUCE = {  # op -> (combine code in rows.wgsl, identity, result)
    ReduceOp.SUM: (0, "0.0", "total"),
    ReduceOp.MEAN: (0, "0.0", "total / f32(N)"),
    ReduceOp.MAX: (1, f32(-math.inf), "total"),
    ReduceOp.MIN: (2, f32(math.inf), "total"),
    ReduceOp.PROD: (3, "1.0", "total"),
}
DIVISION_BY_ZERO = "integer division by zero"


@dataclass(frozen=True)
class Shader:
    """A step's WGSL, its grid, and what the runtime must provide for it."""

    source: str
    groups: tuple[int, int, int]
    operands: tuple[Operand, ...]  # in the step's tensor order
    starts: tuple[int, ...]  # elements to add to each tensor's offset (COPY's starts)
    status: bool  # reports run-time errors


# ---- what can run ----


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
    if step.kernel in (Kernel.UNARY, Kernel.GEMM, Kernel.CONV) and p.act not in _ACTS:
        return f"unknown activation {p.act}"
    if step.kernel in (Kernel.CONV, Kernel.POOL) and (len(p.kernel) != 2 or step.tensors[0].shape[2:] == ()):
        return f"{name} supports 2-D windows over NCHW tensors only on webgpu"
    if step.kernel == Kernel.BINARY:
        return _binary_unsupported(p.op, *codes)
    if step.kernel == Kernel.WHERE and (codes[0] != DType.BOOL or not codes[1] == codes[2] == codes[3]):
        return "WHERE needs a bool condition and one value dtype"
    if step.kernel == Kernel.CAST and not all(value_type(c) for c in codes):
        return f"CAST between {dtypes.name(codes[0])} and {dtypes.name(codes[1])}: WGSL has no float64"
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
    product = problem(step)
    if product is not None:
        z = math.prod(p.batch_dims) if step.kernel == Kernel.GEMM else p.group
        if z > limits.groups_per_dim or not any(usable(t, product.m, product.n, limits) for t in DEFAULTS):
            return (
                f"{name} needs more workgroups than one dispatch has ({limits.groups_per_dim} per dimension)"
            )
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


# ---- shared pieces ----


def _operands(
    step: Step, names: list[str], slots: tuple[int, ...], raw: tuple[str, ...] = ()
) -> tuple[Operand, ...]:
    last = len(step.tensors) - 1
    return tuple(
        Operand(name, t.dtype, slot, i == last, name in raw)
        for i, (name, t, slot) in enumerate(zip(names, step.tensors, slots, strict=True))
    )


def _grid(n: int, per_group: int, limits: Limits) -> tuple[int, int, int]:
    """Workgroups for n items, folded into a second dimension past the per-dimension limit."""
    groups = max(1, -(-n // per_group))
    if groups <= limits.groups_per_dim:
        return groups, 1, 1
    return limits.groups_per_dim, -(-groups // limits.groups_per_dim), 1


def _act(act: int, alpha: float, beta: float) -> str:
    return _ACTS[Act(act)].format(a=f32(alpha), b=f32(beta))


def _collapse(dims: tuple[int, ...], strides: list[tuple[int, ...]]) -> tuple[list[int], list[list[int]]]:
    """Drop unit dims and merge neighbours every operand steps through contiguously: fewer divisions,
    and more steps with one shader."""
    out_dims: list[int] = []
    out_strides: list[list[int]] = [[] for _ in strides]
    for k, d in enumerate(dims):
        if d == 1:
            continue
        if out_dims and all(s[-1] == st[k] * d for s, st in zip(out_strides, strides, strict=True)):
            out_dims[-1] *= d
            for s, st in zip(out_strides, strides, strict=True):
                s[-1] = st[k]
            continue
        out_dims.append(d)
        for s, st in zip(out_strides, strides, strict=True):
            s.append(st[k])
    return out_dims, out_strides


def _index(dims: tuple[int, ...], named: dict[str, tuple[int, ...]]) -> str:
    """Statements that turn the flat thread index i into `i_<name>` for each strided operand."""
    shape, strides = _collapse(dims, list(named.values()))
    lines, coords = ["    var r = i;"], []
    for k in range(len(shape) - 1, -1, -1):
        if k:
            lines.append(f"    let c{k} = r % {u32(shape[k])};")
            lines.append(f"    r = r / {u32(shape[k])};")
        else:
            lines.append("    let c0 = r;")
        coords.append(k)
    for name, st in zip(named, strides, strict=True):
        if any(s < 0 for s in st):
            terms = [f"i32(c{k}) * {i32(st[k])}" for k in sorted(coords) if st[k]]
            lines.append(f"    let i_{name} = u32({' + '.join(terms) or '0i'});")
        else:
            terms = [f"c{k} * {u32(st[k])}" if st[k] != 1 else f"c{k}" for k in sorted(coords) if st[k]]
            lines.append(f"    let i_{name} = {' + '.join(terms) or '0u'};")
    return "\n".join(lines)


def _flat(
    step: Step,
    slots: tuple[int, ...],
    limits: Limits,
    names: list[str],
    template: str,
    n: int,
    includes: tuple[str, ...] = (),
    raw: tuple[str, ...] = (),
    starts: tuple[int, ...] = (),
    status: bool = False,
    **values: object,
) -> Shader:
    """A one-thread-per-element kernel over n elements."""
    operands = _operands(step, names, slots, raw)
    body = render(template, N=u32(n), **values)
    source = shader(list(operands), body, ("flat", *includes), status)
    return Shader(source, _grid(n, FLAT_WG, limits), operands, starts or (0,) * len(operands), status)


def _rows(
    step: Step,
    slots: tuple[int, ...],
    limits: Limits,
    names: list[str],
    template: str,
    rows: int,
    n: int,
    inner: int,
    **values: object,
) -> Shader:
    """A one-workgroup-per-row kernel (rows.wgsl)."""
    operands = _operands(step, names, slots)
    wg = min(ROW_WG_MAX, 1 << max(0, n - 1).bit_length())
    helpers = render("rows", WG=u32(wg), N=u32(n), INNER=u32(inner), ROWS=u32(rows))
    source = shader(list(operands), helpers + render(template, **values))
    return Shader(source, _grid(rows, 1, limits), operands, (0,) * len(operands), False)


# ---- kernels ----


def _copy(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: CopyParams = step.params  # type: ignore[assignment]
    index = _index(p.dims, {"src": p.src_strides, "dst": p.dst_strides})
    return _flat(
        step,
        slots,
        limits,
        ["src", "dst"],
        "copy",
        math.prod(p.dims),
        raw=("src", "dst"),
        starts=(p.src_start, p.dst_start),
        INDEX=index,
    )


def _unary(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: UnaryParams = step.params  # type: ignore[assignment]
    return _flat(
        step,
        slots,
        limits,
        ["x", "y"],
        "unary",
        step.tensors[1].numel,
        ("math",),
        ACT=_act(p.act, p.alpha, p.beta),
    )


def _binary(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: BinaryParams = step.params  # type: ignore[assignment]
    a = DType(step.tensors[0].dtype)
    op = BinOp(p.op)
    kind = _BINARY_KINDS.get(a, "u32")  # bool: 0 or 1 in a u32
    out = "u32" if op in _COMPARE or op in (BinOp.AND, BinOp.OR) else kind
    status = op == BinOp.DIV and kind != "f32"
    if op in (BinOp.AND, BinOp.OR):
        body = f"return a {'&' if op == BinOp.AND else '|'} b;"
    elif kind == "vec2<u32>":
        if op in _I64_COMPARE:
            body = f"return select(0u, 1u, {_I64_COMPARE[op]});"
        elif op == BinOp.DIV:
            body = "if (all(b == vec2<u32>())) { fail(0u, 0u); return b; }\n    return i64_div(a, b);"
        else:
            body = f"return {_I64[op]};"
    elif op in _COMPARE:
        body = f"return select(0u, 1u, {_COMPARE[op]});"
    elif op == BinOp.DIV:
        body = "if (b == 0i) { fail(0u, 0u); return 0i; }\n    return a / b;" if status else "return a / b;"
    elif op == BinOp.POW:
        body = "return pow_f32(a, b);"
    else:
        body = f"return {_ARITH[op]};"
    includes = ("int64",) if kind == "vec2<u32>" else ("math",) if op == BinOp.POW else ()
    index = _index(p.dims, {"a": p.a_strides, "b": p.b_strides})
    return _flat(
        step,
        slots,
        limits,
        ["a", "b", "y"],
        "binary",
        math.prod(p.dims),
        includes,
        status=status,
        T=kind,
        R=out,
        OP=body,
        INDEX=index,
    )


def _where(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: WhereParams = step.params  # type: ignore[assignment]
    index = _index(p.dims, {"cond": p.c_strides, "x": p.x_strides, "y": p.y_strides})
    return _flat(
        step,
        slots,
        limits,
        ["cond", "x", "y", "out"],
        "where",
        math.prod(p.dims),
        raw=("x", "y", "out"),
        INDEX=index,
    )


def _conversion(src: DType, dst: DType) -> str:
    """WGSL turning a value of src's type (`v`) into dst's, as C casts do through int64."""
    s, d = value_type(src), value_type(dst)
    if dst == DType.BOOL:
        zero = {"f32": "0.0", "i32": "0i", "u32": "0u", "vec2<u32>": "vec2<u32>()"}[s]  # type: ignore[index]
        return f"select(0u, 1u, any(v != {zero}))"
    if d == "f32":
        return {"f32": "v", "i32": "f32(v)", "u32": "f32(v)", "vec2<u32>": "i64_to_f32(v)"}[s]  # type: ignore[index]
    wide = {
        "f32": "i64_from_f32(v)",
        "i32": "vec2<u32>(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0i))",
        "u32": "vec2<u32>(v, 0u)",
        "vec2<u32>": "v",
    }[s]  # type: ignore[index]
    return {"vec2<u32>": wide, "i32": f"bitcast<i32>(({wide}).x)", "u32": f"({wide}).x"}[d]  # type: ignore[index]


def _cast(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    src, dst = (DType(t.dtype) for t in step.tensors)
    return _flat(
        step,
        slots,
        limits,
        ["x", "y"],
        "cast",
        step.tensors[1].numel,
        ("int64",),
        FROM=value_type(src),
        TO=value_type(dst),
        CONVERT=_conversion(src, dst),
    )


def _gather(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: GatherParams = step.params  # type: ignore[assignment]
    if DType(step.tensors[1].dtype) == DType.INT64:
        position = (
            "let lo = bitcast<i32>(v.x);\n"
            "    if (v.y != select(0u, 0xffffffffu, lo < 0i) || lo < -AXIS || lo >= AXIS) {\n"
            "        fail(v.x, v.y);\n        return -1i;\n    }\n"
            "    return select(lo, lo + AXIS, lo < 0i);"
        )
    else:
        position = (
            "if (v < -AXIS || v >= AXIS) {\n"
            "        fail(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0i));\n        return -1i;\n    }\n"
            "    return select(v, v + AXIS, v < 0i);"
        )
    zero = "vec2<u32>()" if dtypes.info(step.tensors[0].dtype).itemsize == 8 else "0u"
    return _flat(
        step,
        slots,
        limits,
        ["data", "idx", "y"],
        "gather",
        step.tensors[2].numel,
        raw=("data", "y"),
        status=True,
        INNER=u32(p.inner),
        N_IDX=u32(p.n_idx),
        AXIS=i32(p.axis_dim),
        POSITION=position,
        ZERO=zero,
    )


def _batchnorm(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: BatchNormParams = step.params  # type: ignore[assignment]
    shape = step.tensors[0].shape
    return _flat(
        step,
        slots,
        limits,
        ["x", "scale", "bias", "mean", "variance", "y"],
        "batchnorm",
        math.prod(shape),
        C=u32(shape[1]),
        SPATIAL=u32(math.prod(shape[2:])),
        EPS=f32(p.epsilon),
    )


def _pool(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: PoolParams = step.params  # type: ignore[assignment]
    (_, _, h, w), (_, _, oh, ow) = step.tensors[0].shape, step.tensors[1].shape
    return _flat(
        step,
        slots,
        limits,
        ["x", "y"],
        "pool",
        step.tensors[1].numel,
        H=u32(h),
        W=u32(w),
        OH=u32(oh),
        OW=u32(ow),
        KH=u32(p.kernel[0]),
        KW=u32(p.kernel[1]),
        SH=u32(p.strides[0]),
        SW=u32(p.strides[1]),
        DH=u32(p.dilations[0]),
        DW=u32(p.dilations[1]),
        PT=i32(p.pads[0]),
        PL=i32(p.pads[1]),
        PB=i32(p.pads[2]),
        PR=i32(p.pads[3]),
        COUNT_PADS=str(bool(p.count_include_pad)).lower(),
        IS_MAX=str(p.kind == PoolKind.MAX).lower(),
    )


def _reduce(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: ReduceParams = step.params  # type: ignore[assignment]
    code, identity, result = _REDUCE[ReduceOp(p.op)]
    return _rows(
        step,
        slots,
        limits,
        ["x", "y"],
        "reduce",
        p.outer * p.inner,
        p.n,
        p.inner,
        OP=u32(code),
        IDENTITY=identity,
        RESULT=result,
    )


def _softmax(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: SoftmaxParams = step.params  # type: ignore[assignment]
    return _rows(
        step,
        slots,
        limits,
        ["x", "y"],
        "softmax",
        p.outer * p.inner,
        p.n,
        p.inner,
        LOG=str(bool(p.log)).lower(),
    )


def _layernorm(step: Step, slots: tuple[int, ...], limits: Limits, _tile: Tile | None) -> Shader:
    p: LayerNormParams = step.params  # type: ignore[assignment]
    names = ["x", "scale", "bias", "y"] if p.has_bias else ["x", "scale", "y"]
    return _rows(
        step,
        slots,
        limits,
        names,
        "layernorm",
        p.outer,
        p.n,
        1,
        EPS=f32(p.epsilon),
        BIAS=" + ld_bias(j)" if p.has_bias else "",
    )


# ---- matrix products ----


def problem(step: Step) -> Problem | None:
    """The matrix product a GEMM or (non-depthwise) CONV step tiles, for tuning; None otherwise."""
    p: Any = step.params
    if step.kernel == Kernel.GEMM:
        sig = f"gemm b{math.prod(p.batch_dims)} m{p.M} n{p.N} k{p.K} t{p.trans_a}{p.trans_b}"
        return Problem(sig, p.M, p.N)
    if step.kernel == Kernel.CONV and not _depthwise(step):
        (n, c, h, w), (_, m, oh, ow) = step.tensors[0].shape, step.tensors[-1].shape
        sig = f"conv n{n} c{c} h{h} w{w} m{m} g{p.group} k{p.kernel} s{p.strides} p{p.pads} d{p.dilations}"
        return Problem(sig.replace(" ", "").replace(",", "x"), m // p.group, n * oh * ow)
    return None


def _depthwise(step: Step) -> bool:
    p: ConvParams = step.params  # type: ignore[assignment]
    return p.group > 1 and step.tensors[0].shape[1] == p.group


def _batch_offset(dims: tuple[int, ...], strides: tuple[int, ...]) -> str:
    """The element offset of batch z (row-major over dims) for one operand's batch strides."""
    terms, step = [], 1
    for d, s in reversed(list(zip(dims, strides, strict=True))):
        if s and d > 1:
            coord = f"z / {u32(step)} % {u32(d)}" if step > 1 else f"z % {u32(d)}"
            terms.append(f"({coord}) * {u32(s)}")
        step *= d
    return " + ".join(terms) or "0u"


def _tiled(
    step: Step,
    slots: tuple[int, ...],
    limits: Limits,
    tile: Tile | None,
    names: list[str],
    operands_wgsl: str,
    shape: tuple[int, int, int, int],
    a_k_fast: bool,
    b_n_fast: bool,
) -> Shader:
    """gemm.wgsl for an [M, K] x [K, N] product per z < Z, with operand functions from a template.

    a_k_fast / b_n_fast: whether consecutive k of A / n of B are adjacent in memory, so consecutive
    threads load them (coalesced); then a thread's B column also stays fixed over the k loop."""
    m, n, k, z = shape
    t = tile or default_tile(m, n, limits)
    setup, fetch, stash = _tile_copies(t, (m, n, k), a_k_fast, b_n_fast)
    acc, product, store = _micro_kernel(t)
    tiles = {name: u32(getattr(t, name.lower())) for name in ("TM", "TN", "TK", "WM", "WN")}
    body = render(
        "gemm",
        **tiles,
        M=u32(m),
        N=u32(n),
        K=u32(k),
        OPERANDS=operands_wgsl,
        SETUP=setup + "\n" + acc,
        FETCH=fetch,
        STASH=stash,
        PRODUCT=product,
        STORE=store,
    )
    operands = _operands(step, names, slots)
    groups = (-(-n // t.tn), -(-m // t.tm), z)
    return Shader(shader(list(operands), body, ("math",)), groups, operands, (0,) * len(operands), False)


def _tile_copies(
    t: Tile, shape: tuple[int, int, int], a_k_fast: bool, b_n_fast: bool
) -> tuple[str, str, str]:
    """Unrolled code moving one A and one B tile per k step: register declarations (and B's fixed
    column), the fetch from the operands into registers (at depth kf) and the stash into the tiles."""
    m, n, k = shape
    a_loads, b_loads = t.tm * t.tk // t.threads, t.tk * t.tn // t.threads
    a_mk = ("e / TK", "e % TK") if a_k_fast else ("e % TM", "e / TM")
    a_inside = [c for c, cut in (("m0 + m < M", m % t.tm), ("kf + k < K", k % t.tk)) if cut]
    b_inside = [c for c, cut in (("kf + k < K", k % t.tk), ("n0 + n < N", n % t.tn)) if cut]
    setup = [f"var ra{i} = 0.0;" for i in range(a_loads)] + [f"var rb{i} = 0.0;" for i in range(b_loads)]
    if b_n_fast:  # e % TN == lid % TN for every load, as THREADS is a multiple of TN
        setup += ["let n_fixed = lid % TN;", "let col_fixed = column(z, min(n0 + n_fixed, N - 1u));"]
        b_kn, b_col = ("e / TN", "n_fixed"), "col_fixed"
    else:
        b_kn, b_col = ("e % TK", "e / TK"), "column(z, min(n0 + n, N - 1u))"
    fetch, stash = [], []
    for i in range(a_loads):
        e = f"lid + {i * t.threads}u"
        guard = " && ".join(a_inside) or "true"
        fetch.append(
            f"{{ let e = {e}; let m = {a_mk[0]}; let k = {a_mk[1]}; ra{i} = 0.0; "
            f"if ({guard}) {{ ra{i} = load_a(z, m0 + m, kf + k); }} }}"
        )
        stash.append(
            f"{{ let e = {e}; let at = {a_mk[1]} * A_ROW + {a_mk[0]}; tile_a[at / 4u][at % 4u] = ra{i}; }}"
        )
    for i in range(b_loads):
        e = f"lid + {i * t.threads}u"
        guard = " && ".join(b_inside) or "true"
        fetch.append(
            f"{{ let e = {e}; let k = {b_kn[0]}; let n = {b_kn[1]}; rb{i} = 0.0; "
            f"if ({guard}) {{ rb{i} = load_b({b_col}, kf + k); }} }}"
        )
        stash.append(
            f"{{ let e = {e}; let at = {b_kn[0]} * B_ROW + {b_kn[1]}; tile_b[at / 4u][at % 4u] = rb{i}; }}"
        )
    return (
        "\n".join(" " * 4 + line for line in setup),
        "\n".join(" " * 8 + line for line in fetch),
        "\n".join(" " * 8 + line for line in stash),
    )


def _micro_kernel(t: Tile) -> tuple[str, str, str]:
    """Unrolled register code for a WM x WN block: declarations, one k step, and the stores."""
    cols = t.wn // 4
    acc = "\n".join(f"    var acc_{i}_{j} = vec4<f32>();" for i in range(t.wm) for j in range(cols))
    lines = []
    if t.wm % 4 == 0:
        lines += [f"let a{v} = tile_a[(k * A_ROW + tm) / 4u + {v}u];" for v in range(t.wm // 4)]
        rows = [f"a{i // 4}.{'xyzw'[i % 4]}" for i in range(t.wm)]
    else:
        lines += [f"let a{i} = tile_a[(k * A_ROW + tm + {i}u) / 4u][(tm + {i}u) % 4u];" for i in range(t.wm)]
        rows = [f"a{i}" for i in range(t.wm)]
    lines += [f"let b{j} = tile_b[(k * B_ROW + tn) / 4u + {j}u];" for j in range(cols)]
    lines += [
        f"acc_{i}_{j} = fma(vec4<f32>({rows[i]}), b{j}, acc_{i}_{j});"
        for i in range(t.wm)
        for j in range(cols)
    ]
    product = "\n".join(" " * 12 + line for line in lines)
    store = "\n".join(
        f"    store(z, m0 + tm + {i}u, n0 + tn + {4 * j}u, acc_{i}_{j});"
        for i in range(t.wm)
        for j in range(cols)
    )
    return acc, product, store


def _gemm(step: Step, slots: tuple[int, ...], limits: Limits, tile: Tile | None) -> Shader:
    p: GemmParams = step.params  # type: ignore[assignment]
    has_bias = len(step.tensors) == 4
    value = "acc" if p.alpha == 1.0 else f"{f32(p.alpha)} * acc"
    if has_bias and p.bias_mode != BiasMode.NONE:
        at = {BiasMode.SCALAR: "0u", BiasMode.ROW: "n", BiasMode.COL: "m", BiasMode.FULL: "m * N + n"}
        bias = f"ld_bias({at[BiasMode(p.bias_mode)]})"
        value += f" + {bias}" if p.beta == 1.0 else f" + {f32(p.beta)} * {bias}"
    operands = render(
        "matmul",
        ACT=_act(p.act, p.act_alpha, p.act_beta),
        A_BATCH=_batch_offset(p.batch_dims, p.a_strides),
        B_BATCH=_batch_offset(p.batch_dims, p.b_strides),
        A_INDEX="k * M + m" if p.trans_a else "m * K + k",
        B_COLUMN="n * K" if p.trans_b else "n",
        B_ROW="k" if p.trans_b else "k * N",
        VALUE=value,
    )
    names = ["a", "b", "bias", "y"] if has_bias else ["a", "b", "y"]
    shape = (p.M, p.N, p.K, math.prod(p.batch_dims))
    return _tiled(step, slots, limits, tile, names, operands, shape, not p.trans_a, not p.trans_b)


def _conv_names(p: ConvParams) -> list[str]:
    return ["x", "w", *(["bias"] if p.has_bias else []), *(["res"] if p.has_residual else []), "y"]


def _conv_extra(p: ConvParams, channel: str) -> str:
    return (f" + ld_bias({channel})" if p.has_bias else "") + (" + ld_res(i)" if p.has_residual else "")


def _conv_geometry(step: Step) -> dict[str, str]:
    p: ConvParams = step.params  # type: ignore[assignment]
    (_, c, h, w), (_, _, oh, ow) = step.tensors[0].shape, step.tensors[-1].shape
    return dict(
        C=u32(c),
        H=u32(h),
        W=u32(w),
        OH=u32(oh),
        OW=u32(ow),
        KH=u32(p.kernel[0]),
        KW=u32(p.kernel[1]),
        SH=u32(p.strides[0]),
        SW=u32(p.strides[1]),
        DH=u32(p.dilations[0]),
        DW=u32(p.dilations[1]),
        PT=i32(p.pads[0]),
        PL=i32(p.pads[1]),
        ACT=_act(p.act, p.act_alpha, p.act_beta),
    )


def _conv(step: Step, slots: tuple[int, ...], limits: Limits, tile: Tile | None) -> Shader:
    p: ConvParams = step.params  # type: ignore[assignment]
    (n, c, h, w), (_, m, oh, ow) = step.tensors[0].shape, step.tensors[-1].shape
    if _depthwise(step):
        return _flat(
            step,
            slots,
            limits,
            _conv_names(p),
            "conv_direct",
            step.tensors[-1].numel,
            ("math",),
            M=u32(m),
            M_PER_GROUP=u32(m // p.group),
            EXTRA=_conv_extra(p, "m"),
            **_conv_geometry(step),
        )
    (kh, kw), (sh, sw), (dh, dw) = p.kernel, p.strides, p.dilations
    inside = not any(p.pads) and (oh - 1) * sh + (kh - 1) * dh < h and (ow - 1) * sw + (kw - 1) * dw < w
    check = (
        ""
        if inside
        else "    if (ih < 0 || ih >= i32(H) || iw < 0 || iw >= i32(W)) {\n        return 0.0;\n    }"
    )
    operands = render(
        "conv",
        M_ALL=u32(m),
        C_G=u32(c // p.group),
        PAD_CHECK=check,
        EXTRA=_conv_extra(p, "channel"),
        **_conv_geometry(step),
    )
    shape = (m // p.group, n * oh * ow, c // p.group * kh * kw, p.group)
    return _tiled(step, slots, limits, tile, _conv_names(p), operands, shape, True, True)


_GENERATORS: dict[Kernel, Callable[[Step, tuple[int, ...], Limits, Tile | None], Shader]] = {
    Kernel.COPY: _copy,
    Kernel.UNARY: _unary,
    Kernel.BINARY: _binary,
    Kernel.WHERE: _where,
    Kernel.GEMM: _gemm,
    Kernel.CONV: _conv,
    Kernel.POOL: _pool,
    Kernel.REDUCE: _reduce,
    Kernel.SOFTMAX: _softmax,
    Kernel.LAYERNORM: _layernorm,
    Kernel.BATCHNORM: _batchnorm,
    Kernel.CAST: _cast,
    Kernel.GATHER: _gather,
}


def generate(step: Step, slots: tuple[int, ...], limits: Limits, tile: Tile | None = None) -> Shader:
    """The shader of a step whose tensors are bound at `slots` (tensors of one buffer share a slot).
    `tile` sizes a GEMM/CONV (default: tuning.default_tile)."""
    return _GENERATORS[step.kernel](step, slots, limits, tile)
