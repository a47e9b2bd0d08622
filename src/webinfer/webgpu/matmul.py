"""GEMM and CONV shaders: one matrix product (product.wgsl) in two kernels, with operand functions per op.

GEMM reads A and B through their batch strides and transposes (matmul.wgsl); CONV is an implicit
GEMM whose B is the im2col matrix read straight from the input (conv.wgsl). Depthwise convolutions,
whose products would be only KH * KW deep, run directly instead (conv_direct.wgsl). The tile
(tuning.py) picks the kernel. The tiled one (gemm.wgsl) stages operand tiles in workgroup memory;
its register code (fetching, stashing, the WM x WN multiply-adds over every k of a step, the
stores) is unrolled here: constant indices into the workgroup tiles need no bounds checks, and on an
H200 the unrolled step ran 30% faster than a loop. The direct one (gemm_direct.wgsl) has no
workgroup memory and no barriers: each thread loads its operands itself in a plain k loop, which
CPU renderers compile in a fraction of the time. Operands that start on 16 bytes with rows of a
multiple of 4 floats are loaded as vec4s (20% faster there); the others, and CONV's im2col matrix,
as scalars. Bounds checks in unrolled code use the non-short-circuit `&` / `|`: SwiftShader took
minutes (or gave up) compiling a tile of a few dozen `&&` guards, 1-2 s with `&`. A split-K tile
(tuning.Tile.split) runs the tiled kernel on slices of K into a scratch buffer and adds the slices
up in a second kernel that applies the epilogue (split.wgsl, split_sum.wgsl).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..kernels import BiasMode, ConvParams, GemmParams, Kernel
from ..plan import Step
from .gpu import Limits
from .shader import Shader, Target, act
from .tuning import Problem, Tile, default_tile
from .wgsl import SCRATCH_BINDING, f32, render, u32

# Part of every tuning signature: tiles timed with earlier templates (or an earlier tile space:
# v3 added direct tiles, v4 split-K) are not reused.
TEMPLATE_VERSION = "v4"


def problem(step: Step) -> Problem | None:
    """The matrix product a GEMM or (non-depthwise) CONV step tiles, for tuning; None otherwise."""
    p: Any = step.params
    if step.kernel == Kernel.GEMM:
        sig = f"gemm b{math.prod(p.batch_dims)} m{p.M} n{p.N} k{p.K} t{p.trans_a}{p.trans_b}"
        return Problem(f"{sig} {TEMPLATE_VERSION}", p.M, p.N, p.K, batches(step))
    if step.kernel == Kernel.CONV and not _depthwise(step):
        (n, c, h, w), (_, m, oh, ow) = step.tensors[0].shape, step.tensors[-1].shape
        sig = f"conv n{n} c{c} h{h} w{w} m{m} g{p.group} k{p.kernel} s{p.strides} p{p.pads} d{p.dilations}"
        sig = sig.replace(" ", "").replace(",", "x")
        depth = c // p.group * p.kernel[0] * p.kernel[1]
        return Problem(f"{sig} {TEMPLATE_VERSION}", m // p.group, n * oh * ow, depth, p.group)
    return None


def batches(step: Step) -> int:
    """The z extent of the product's grid: GEMM's batch count, CONV's groups."""
    p: Any = step.params
    return math.prod(p.batch_dims) if step.kernel == Kernel.GEMM else p.group


def gemm(t: Target, tile: Tile | None) -> Shader:
    p: GemmParams = t.step.params  # type: ignore[assignment]
    has_bias = len(t.step.tensors) == 4
    value = "acc" if p.alpha == 1.0 else f"{f32(p.alpha)} * acc"
    if has_bias and p.bias_mode != BiasMode.NONE:
        at = {BiasMode.SCALAR: "0u", BiasMode.ROW: "n", BiasMode.COL: "m", BiasMode.FULL: "m * N + n"}
        bias = f"ld_bias({at[BiasMode(p.bias_mode)]})"
        value += f" + {bias}" if p.beta == 1.0 else f" + {f32(p.beta)} * {bias}"
    a_index, b_row = "k * M + m" if p.trans_a else "m * K + k", "k" if p.trans_b else "k * N"
    a_batch, b_batch = _batch_offset(p.batch_dims, p.a_strides), _batch_offset(p.batch_dims, p.b_strides)

    def operands(a4: bool, b4: bool) -> str:
        return render(
            "matmul",
            ACT=act(p.act, p.act_alpha, p.act_beta),
            A_BATCH=a_batch,
            B_BATCH=b_batch,
            A_INDEX=a_index,
            B_COLUMN="n * K" if p.trans_b else "n",
            B_ROW=b_row,
            LOAD_A4=_load4("a", "a", f"{a_batch} + {a_index}") if a4 else "",
            LOAD_B4=_load4("b", "b", f"col + {b_row}") if b4 else "",
            VALUE=value,
        )

    names = ["a", "b", "bias", "y"] if has_bias else ["a", "b", "y"]
    shape = (p.M, p.N, p.K, batches(t.step))
    a = _Operand("a", bool(p.trans_a), _aligned(t, 0, p.M if p.trans_a else p.K, *p.a_strides))
    b = _Operand("b", not p.trans_b, _aligned(t, 1, p.K if p.trans_b else p.N, *p.b_strides))
    return _product(t, tile, names, operands, shape, a, b)


def conv(t: Target, tile: Tile | None) -> Shader:
    p: ConvParams = t.step.params  # type: ignore[assignment]
    (n, c, h, w), (_, m, oh, ow) = t.step.tensors[0].shape, t.step.tensors[-1].shape
    names = ["x", "w", *(["bias"] if p.has_bias else []), *(["res"] if p.has_residual else []), "y"]
    residual = " + ld_res(i)" if p.has_residual else ""
    # template values (Any: they also pass through Target.flat)
    geometry: dict[str, Any] = dict(C=u32(c), WINDOW=t.window(), ACT=act(p.act, p.act_alpha, p.act_beta))
    if _depthwise(t.step):
        extra = (" + ld_bias(m)" if p.has_bias else "") + residual
        return t.flat(names, "conv_direct", t.step.tensors[-1].numel, ("math",), M=u32(m),
                      M_PER_GROUP=u32(m // p.group), EXTRA=extra, **geometry)  # fmt: skip
    (kh, kw), (sh, sw), (dh, dw) = p.kernel, p.strides, p.dilations
    inside = not any(p.pads) and (oh - 1) * sh + (kh - 1) * dh < h and (ow - 1) * sw + (kw - 1) * dw < w
    # One unsigned comparison per side (a negative i32 wraps past H or W), joined by `|`, not `||`
    # (see the module's docstring).
    check = "    if ((u32(ih) >= H) | (u32(iw) >= W)) {\n        return 0.0;\n    }"
    extra = (" + ld_bias(channel)" if p.has_bias else "") + residual

    def operands(a4: bool, _b4: bool) -> str:
        load4 = _load4("a", "w", "(z * M + m) * K + k") if a4 else ""
        return render("conv", M_ALL=u32(m), C_G=u32(c // p.group), PAD_CHECK="" if inside else check,
                      EXTRA=extra, LOAD_A4=load4, **geometry)  # fmt: skip

    shape = (m // p.group, n * oh * ow, c // p.group * kh * kw, p.group)
    weights = _Operand("w", False, _aligned(t, 1, shape[2]))
    return _product(t, tile, names, operands, shape, weights, _Operand("x", True, False))


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


def _load4(x: str, name: str, index: str) -> str:
    """load_a4 or load_b4 (x: "a" or "b") over tensor `name`, at `index` of its first element."""
    args = "z: u32, m: u32, k: u32" if x == "a" else "col: Column, k: u32"
    return f"fn load_{x}4({args}) -> vec4<f32> {{\n    return ld4_{name}({index});\n}}"


def _aligned(t: Target, index: int, *extents: int) -> bool:
    """Whether tensor `index` can be read four floats at a time: it starts on 16 bytes inside its
    binding (bindings start on multiples of the offset alignment) and every extent that steps
    through it (row lengths, batch strides) is a multiple of 4."""
    start = t.step.tensors[index].offset
    return start % 16 == 0 and t.limits.binding_alignment % 16 == 0 and all(e % 4 == 0 for e in extents)


@dataclass(frozen=True)
class _Operand:
    """How the product reads A or B: its accessor name; rows_adjacent: whether consecutive m of A
    (n of B) are adjacent in memory, else consecutive k (consecutive threads load adjacent elements,
    coalesced; a thread's column of B then stays fixed); vector: whether it may be loaded as vec4s
    along that adjacent dimension (load_a4 / load_b4, see _aligned), which a tiled kernel does when
    its copies divide evenly among its threads, a direct one where its lanes allow (_Reads)."""

    name: str
    rows_adjacent: bool
    vector: bool


def _product(
    t: Target,
    tile: Tile | None,
    names: list[str],
    operands: Callable[[bool, bool], str],
    shape: tuple[int, int, int, int],
    a: _Operand,
    b: _Operand,
) -> Shader:
    """The kernel of an [M, K] x [K, N] product per z < Z: tiled (gemm.wgsl) or direct
    (gemm_direct.wgsl) as the tile says, with operand functions from a template (`operands(a4, b4)`:
    with load_a4 / load_b4 where the kernel reads that operand as vec4s); split-K tiles add the
    summing kernel (split_sum.wgsl) as the shader's second dispatch."""
    m, n, k, z = shape
    tile = tile or default_tile(m, n, t.limits)
    split, depth = _slices(tile, k, z * m * n, t.limits)
    tile = replace(tile, split=split)
    a_vec, b_vec, template, values = (_direct if tile.direct else _tiled)(tile, shape, a, b)
    sizes = {name: u32(getattr(tile, name.lower())) for name in ("TM", "TN", "TK", "WM", "WN")}
    result, extra = "epilogue(z, m, n + c, v[c]);", []
    if split > 1:
        result = "part[((slice * Z + z) * M + m) * N + n + c] = v[c];"
        uses = "\n".join(f"    _ = arrayLength(&s{slot});" for slot in sorted(set(t.slots)))
        extra = [render("split", Z=u32(z), SPLIT=u32(split), KS=u32(depth), BINDING=u32(SCRATCH_BINDING),
                        USES=uses)]  # fmt: skip
    head = [render("product", M=u32(m), N=u32(n), K=u32(k), RESULT=result), operands(a_vec, b_vec), *extra]
    body = "\n".join([*head, render(template, **sizes, **values)])
    wide = tuple(x.name for x, vec in ((a, a_vec), (b, b_vec)) if vec)
    product = t.shader(names, body, (-(-n // tile.tn), -(-m // tile.tm), z * split), ("math",), wide=wide)
    if split == 1:
        return product
    results = z * m * n
    summed = t.per_element(names, "\n".join([*head, render("split_sum")]), results, ("math",), wide=wide)
    return replace(product, then=summed, scratch_bytes=4 * split * results)


def _slices(tile: Tile, k: int, results: int, limits: Limits) -> tuple[int, int]:
    """The slices a product's K is cut into, and their depth (whole k steps of the tile): at most
    tile.split, none empty, and the partial products within one binding."""
    if tile.split == 1 or k == 0 or results == 0:
        return 1, k
    split = max(1, min(tile.split, limits.max_binding_bytes // (4 * results)))
    per_slice = -(-k // split)
    depth = -(-per_slice // tile.tk) * tile.tk
    return -(-k // depth), depth


# What _tiled and _direct give _product: whether A and B are read as vec4s, the kernel's template
# and its values beyond the tile sizes.
_Kernel = tuple[bool, bool, str, dict[str, str]]


def _tiled(tile: Tile, shape: tuple[int, int, int, int], a: _Operand, b: _Operand) -> _Kernel:
    """gemm.wgsl's workgroup tiles, copies and unrolled register code (of one K slice under split-K)."""
    m, n, k, _ = shape
    a_vec = a.vector and tile.tm * tile.tk % (4 * tile.threads) == 0
    b_vec = b.vector and tile.tk * tile.tn % (4 * tile.threads) == 0
    copy_a = _Copies("a", tile, tile.tm, (m, k), a.rows_adjacent, a_vec)
    copy_b = _Copies("b", tile, tile.tn, (n, k), b.rows_adjacent, b_vec)
    fetch = copy_a.fetch() + copy_b.fetch()
    acc, product, store = _micro_kernel(tile)
    stash = [_lines(8, copy_a.stash(i) + copy_b.stash(i)) for i in range(tile.buffers)]
    products = [_lines(8, product(i)) for i in range(tile.buffers)]
    first = _lines(4, fetch if tile.buffers == 1 else fetch + copy_a.stash(0) + copy_b.stash(0))
    sliced = tile.split > 1
    begin, end = ("k_begin", "k_end") if sliced else ("0u", "K")
    loop = (_SINGLE if tile.buffers == 1 else _DOUBLE).format(
        fetch=_lines(12, fetch), stash=stash, product=products, first=first, begin=begin, end=end
    )
    tiles = [
        f"var<workgroup> tile_{x}{i}: array<array<vec4<f32>, TK + 1u>, {rows} / 4u>;"
        for i in range(tile.buffers)
        for x, rows in (("a", "TM"), ("b", "TN"))
    ]
    # The slice's bounds from wg.z itself: derived from the private `slice`, Tint would take them
    # (and so the loop's barriers) for non-uniform.
    slice_lines = ["use_bindings();", "slice = wg.z % SPLIT;", "let k_begin = wg.z % SPLIT * KS;",
                   "let k_end = min(K, k_begin + KS);"] if sliced else []  # fmt: skip
    setup = _lines(4, [*slice_lines, *copy_a.setup(), *copy_b.setup(), *acc])
    values = dict(TILES="\n".join(tiles), SETUP=setup, LOOP=loop, STORE=_lines(4, store),
                  Z="wg.z / SPLIT" if sliced else "wg.z")  # fmt: skip
    return a_vec, b_vec, "gemm", values


# The k loop, one tile per step: stash the fetched registers, then fetch the next step's operands
# while this step's tiles are multiplied. Double-buffered: the next tiles are stashed into the other
# buffer while this one is read, so one barrier per step suffices.
_SINGLE = """    var kf = {begin};
{first}
    for (var k0 = {begin}; k0 < {end}; k0 += TK) {{
{stash[0]}
        workgroupBarrier();
        kf = k0 + TK;
        if (kf < {end}) {{
{fetch}
        }}
{product[0]}
        workgroupBarrier();
    }}"""
_DOUBLE = """    var kf = {begin};
{first}
    workgroupBarrier();
    for (var k0 = {begin}; k0 < {end}; k0 += 2u * TK) {{
        kf = k0 + TK;
        if (kf < {end}) {{
{fetch}
        }}
{product[0]}
        if (kf >= {end}) {{
            break;
        }}
{stash[1]}
        workgroupBarrier();
        kf += TK;
        if (kf < {end}) {{
{fetch}
        }}
{product[1]}
        if (kf >= {end}) {{
            break;
        }}
{stash[0]}
        workgroupBarrier();
    }}"""


def _lines(indent: int, lines: list[str]) -> str:
    return "\n".join(" " * indent + line for line in lines)


class _Copies:
    """Unrolled code moving operand x's part of one k step into its tile: x = "a" (rows m of A, TM
    of them) or "b" (columns n of B, TN). Tiles are k-major, tile_x[r / 4][k][r % 4], so that the
    product reads four rows (columns) of one k as a vec4. Each thread copies the same elements every
    step: `count` scalars or vec4s, element e = lid + i * THREADS of the tile in the operand's memory
    order (its adjacent dimension fastest)."""

    def __init__(self, x: str, tile: Tile, rows: int, extents: tuple[int, int], adjacent: bool, vec: bool):
        self.x, self.r, self.adjacent, self.vec = x, "m" if x == "a" else "n", adjacent, vec
        self.threads, self.width = tile.threads, 4 if vec else 1
        self.count = rows * tile.tk // self.width // tile.threads
        r = self.r
        guards = [(f"{r}0 + {r} < {r.upper()}", extents[0] % rows), ("kf + k < K", extents[1] % tile.tk)]
        self.guard = " & ".join(f"({c})" for c, cut in guards if cut)
        self.across = (rows if adjacent else tile.tk) // self.width  # copies along the adjacent dimension
        along, step = f"e % {u32(self.across)} * {u32(self.width)}", f"e / {u32(self.across)}"
        self.fixed = x == "b" and adjacent  # e % across == lid % across: a thread keeps one column of B
        self.coords = ("n_fixed" if self.fixed else along, step) if adjacent else (step, along)

    def setup(self) -> list[str]:
        zero = "vec4<f32>()" if self.vec else "0.0"
        lines = [f"var r{self.x}{i} = {zero};" for i in range(self.count)]
        if self.fixed:
            lines += [
                f"let n_fixed = lid % {u32(self.across)} * {u32(self.width)};",
                "let col_fixed = column(z, min(n0 + n_fixed, N - 1u));",
            ]
        return lines

    def _element(self, i: int) -> str:
        r, k = self.coords
        return f"let e = lid + {u32(i * self.threads)}; let {self.r} = {r}; let k = {k};"

    def fetch(self) -> list[str]:
        four = "4" if self.vec else ""
        if self.x == "a":
            load = f"load_a{four}(z, m0 + m, kf + k)"
        else:
            col = "col_fixed" if self.fixed else "column(z, min(n0 + n, N - 1u))"
            load = f"load_b{four}({col}, kf + k)"
        lines = []
        for i in range(self.count):
            reg = f"r{self.x}{i}"
            if self.guard:
                zero = "vec4<f32>()" if self.vec else "0.0"
                code = f"{reg} = {zero}; if ({self.guard}) {{ {reg} = {load}; }}"
            else:
                code = f"{reg} = {load};"
            lines.append(f"{{ {self._element(i)} {code} }}")
        return lines

    def stash(self, buffer: int) -> list[str]:
        r, tile = self.r, f"tile_{self.x}{buffer}"
        lines = []
        for i in range(self.count):
            reg = f"r{self.x}{i}"
            if not self.vec:
                code = [f"{tile}[{r} / 4u][k][{r} % 4u] = {reg};"]
            elif self.adjacent:  # four rows (columns) of one k: one vec4
                code = [f"{tile}[{r} / 4u][k] = {reg};"]
            else:  # four k of one row (column)
                code = [f"{tile}[{r} / 4u][k + {q}u][{r} % 4u] = {reg}.{'xyzw'[q]};" for q in range(4)]
            lines.append(f"{{ {self._element(i)} {' '.join(code)} }}")
        return lines


def _micro_kernel(t: Tile) -> tuple[list[str], Callable[[int], list[str]], list[str]]:
    """Unrolled register code for a thread's WM x WN block: accumulators (and the tile rows the
    thread reads), the multiply-adds of one tile step from buffer b, and the stores. Its rows and
    columns come in groups of four, spread across the tile (group g of a thread at its index plus g
    times the threads across), so that neighbouring threads read neighbouring vec4s of workgroup
    memory; k is a constant of every read, so only the thread's own offsets need bounds checks
    (WGSL clamps dynamic indices into workgroup arrays)."""
    rows_across, cols_across = t.tm // t.wm, t.tn // t.wn
    if t.wm < 4:  # the thread's rows share one vec4 group: read them one by one
        setup = [f"let tm = lid / {u32(cols_across)} * WM;", "let ga0 = tm / 4u;", "let ca = tm % 4u;"]
        a_loads = [f"let a{q} = tile_a{{b}}[ga0][{{k}}][ca + {u32(q)}];" for q in range(t.wm)]
        rows = [f"a{q}" for q in range(t.wm)]
        row_at = [f"tm + {u32(q)}" for q in range(t.wm)]
    else:
        setup = [f"let ga{v} = lid / {u32(cols_across)} + {u32(v * rows_across)};" for v in range(t.wm // 4)]
        a_loads = [f"let a{v} = tile_a{{b}}[ga{v}][{{k}}];" for v in range(t.wm // 4)]
        rows = [f"a{i // 4}.{'xyzw'[i % 4]}" for i in range(t.wm)]
        row_at = [f"4u * ga{i // 4} + {u32(i % 4)}" for i in range(t.wm)]
    cols = range(t.wn // 4)
    setup += [f"let gb{j} = lid % {u32(cols_across)} + {u32(j * cols_across)};" for j in cols]
    blocks = [(i, j) for i in range(t.wm) for j in cols]
    setup += [f"var acc_{i}_{j} = vec4<f32>();" for i, j in blocks]

    def product(b: int) -> list[str]:
        lines = []
        for k in range(t.tk):
            loads = [line.format(b=b, k=k) for line in a_loads]
            loads += [f"let b{j} = tile_b{b}[gb{j}][{k}];" for j in cols]
            fmas = [f"acc_{i}_{j} = fma(vec4<f32>({rows[i]}), b{j}, acc_{i}_{j});" for i, j in blocks]
            lines += ["{", *("    " + line for line in loads + fmas), "}"]
        return lines

    store = [f"store(z, m0 + {row_at[i]}, n0 + 4u * gb{j}, acc_{i}_{j});" for i, j in blocks]
    return setup, product, store


def _direct(tile: Tile, shape: tuple[int, int, int, int], a: _Operand, b: _Operand) -> _Kernel:
    """gemm_direct.wgsl's register code: a thread's WM x WN block, its operands loaded per k step."""
    across = tile.tn // tile.wn
    a_vec = a.vector and (tile.wm % 4 == 0 or not a.rows_adjacent)  # vec4s across rows: whole groups
    rows = _Reads("a", tile.wm, list(range(tile.wm)), a.rows_adjacent, a_vec)
    columns = [4 * across * (c // 4) + c % 4 for c in range(tile.wn)]
    cols = _Reads("b", tile.wn, columns, b.rows_adjacent, b.vector)
    blocks = [(i, j) for i in range(tile.wm) for j in range(tile.wn // 4)]

    def step(k: str, count: int, full: bool) -> list[str]:
        """Loads and multiply-adds of k .. k + count - 1 (full: a whole TK step of the loop)."""
        lines = rows.loads(k, count, full) + cols.loads(k, count, full)
        for q in range(count):
            lines += [f"acc_{i}_{j} = fma(vec4<f32>({rows.lane(i, q, full)}), {cols.four(4 * j, q, full)}, "
                      f"acc_{i}_{j});" for i, j in blocks]  # fmt: skip
        return lines

    setup = [*rows.setup(), *cols.setup(), *(f"var acc_{i}_{j} = vec4<f32>();" for i, j in blocks)]
    tail = f"    for (var k = K_MAIN; k < K; k++) {{\n{_lines(8, step('k', 1, False))}\n    }}"
    store = [f"store(z, m + {u32(i)}, n + {u32(columns[4 * j])}, acc_{i}_{j});" for i, j in blocks]
    values = dict(SETUP=_lines(4, setup), STEP=_lines(8, step("k", tile.tk, True)),
                  TAIL=tail if shape[2] % tile.tk else "", STORE=_lines(4, store))  # fmt: skip
    return rows.vector, cols.vector, "gemm_direct", values


class _Reads:
    """How a thread of the direct product reads its lanes of operand x ("a": its rows, "b": its
    columns) at `offsets` from its first: as vec4s along the lanes where they are adjacent in memory
    (any k; one per four lanes), as vec4s along k otherwise (four k from a multiple of 4: only in
    the loop's full steps), or as scalars when the operand is not aligned."""

    def __init__(self, x: str, lanes: int, offsets: list[int], adjacent: bool, vector: bool) -> None:
        self.x, self.lanes, self.offsets, self.vector = x, lanes, offsets, vector
        self.across, self.along_k = vector and adjacent, vector and not adjacent

    def setup(self) -> list[str]:
        """Where each lane (group of four, reading across) is, clamped into the matrix: lanes past its
        edge read its last row (column), and their results are never stored."""
        first, extent = ("m", "M") if self.x == "a" else ("n", "N")
        width = 4 if self.across else 1
        lines = []
        for c in range(0, self.lanes, width):
            at = f"min({first} + {u32(self.offsets[c])}, {extent} - {u32(width)})"
            lines.append(f"let {self.x}i{c} = {at if self.x == 'a' else f'column(z, {at})'};")
        return lines

    def loads(self, k: str, count: int, full: bool) -> list[str]:
        """The loads of the lanes at k .. k + count - 1 (full: a whole step), as `lane` names them."""
        lanes, ks, four = range(self.lanes), range(count), "4"
        if self.across:
            lanes = range(0, self.lanes, 4)
        elif self.along_k and full:
            ks = range(0, count, 4)
        else:
            four = ""
        x, at = self.x, "z, ai" if self.x == "a" else "bi"
        return [f"let {x}{c}_{q} = load_{x}{four}({at}{c}, {_plus(k, q)});" for c in lanes for q in ks]

    def lane(self, c: int, q: int, full: bool) -> str:
        """Lane c at k + q, from what `loads` read."""
        if self.across:
            return f"{self.x}{c - c % 4}_{q}.{'xyzw'[c % 4]}"
        if self.along_k and full:
            return f"{self.x}{c}_{q - q % 4}.{'xyzw'[q % 4]}"
        return f"{self.x}{c}_{q}"

    def four(self, c: int, q: int, full: bool) -> str:
        """Lanes c .. c + 3 (c a multiple of 4) at k + q as one vec4."""
        if self.across:
            return f"{self.x}{c}_{q}"
        return f"vec4<f32>({', '.join(self.lane(c + d, q, full) for d in range(4))})"


def _plus(k: str, q: int) -> str:
    return f"{k} + {u32(q)}" if q else k
