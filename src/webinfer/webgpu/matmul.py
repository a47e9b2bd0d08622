"""GEMM and CONV shaders: one tiled matrix-product template (gemm.wgsl) with operand functions per op.

GEMM reads A and B through their batch strides and transposes (matmul.wgsl); CONV is an implicit
GEMM whose B is the im2col matrix read straight from the input (conv.wgsl). Depthwise convolutions,
whose products would be only KH * KW deep, run directly instead (conv_direct.wgsl). The register
code of the tile (fetching, stashing, the WM x WN multiply-adds, the stores) is unrolled here for
the tile sizes of tuning.py.
"""

from __future__ import annotations

import math
from typing import Any

from ..kernels import BiasMode, ConvParams, GemmParams, Kernel
from ..plan import Step
from .shader import Shader, Target, act
from .tuning import Problem, Tile, default_tile
from .wgsl import f32, i32, render, u32


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
    operands = render(
        "matmul",
        ACT=act(p.act, p.act_alpha, p.act_beta),
        A_BATCH=_batch_offset(p.batch_dims, p.a_strides),
        B_BATCH=_batch_offset(p.batch_dims, p.b_strides),
        A_INDEX="k * M + m" if p.trans_a else "m * K + k",
        B_COLUMN="n * K" if p.trans_b else "n",
        B_ROW="k" if p.trans_b else "k * N",
        VALUE=value,
    )
    names = ["a", "b", "bias", "y"] if has_bias else ["a", "b", "y"]
    shape = (p.M, p.N, p.K, batches(t.step))
    return _tiled(t, tile, names, operands, shape, not p.trans_a, not p.trans_b)


def conv(t: Target, tile: Tile | None) -> Shader:
    p: ConvParams = t.step.params  # type: ignore[assignment]
    (n, c, h, w), (_, m, oh, ow) = t.step.tensors[0].shape, t.step.tensors[-1].shape
    names = ["x", "w", *(["bias"] if p.has_bias else []), *(["res"] if p.has_residual else []), "y"]
    residual = " + ld_res(i)" if p.has_residual else ""
    geometry: dict[str, Any] = dict(  # template values (Any: they also pass through Target.flat)
        C=u32(c), H=u32(h), W=u32(w), OH=u32(oh), OW=u32(ow),
        KH=u32(p.kernel[0]), KW=u32(p.kernel[1]), SH=u32(p.strides[0]), SW=u32(p.strides[1]),
        DH=u32(p.dilations[0]), DW=u32(p.dilations[1]), PT=i32(p.pads[0]), PL=i32(p.pads[1]),
        ACT=act(p.act, p.act_alpha, p.act_beta),
    )  # fmt: skip
    if _depthwise(t.step):
        extra = (" + ld_bias(m)" if p.has_bias else "") + residual
        return t.flat(names, "conv_direct", t.step.tensors[-1].numel, ("math",), M=u32(m),
                      M_PER_GROUP=u32(m // p.group), EXTRA=extra, **geometry)  # fmt: skip
    (kh, kw), (sh, sw), (dh, dw) = p.kernel, p.strides, p.dilations
    inside = not any(p.pads) and (oh - 1) * sh + (kh - 1) * dh < h and (ow - 1) * sw + (kw - 1) * dw < w
    check = "    if (ih < 0 || ih >= i32(H) || iw < 0 || iw >= i32(W)) {\n        return 0.0;\n    }"
    extra = (" + ld_bias(channel)" if p.has_bias else "") + residual
    operands = render("conv", M_ALL=u32(m), C_G=u32(c // p.group), PAD_CHECK="" if inside else check,
                      EXTRA=extra, **geometry)  # fmt: skip
    shape = (m // p.group, n * oh * ow, c // p.group * kh * kw, p.group)
    return _tiled(t, tile, names, operands, shape, True, True)


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
    t: Target,
    tile: Tile | None,
    names: list[str],
    operands: str,
    shape: tuple[int, int, int, int],
    a_k_fast: bool,
    b_n_fast: bool,
) -> Shader:
    """gemm.wgsl for an [M, K] x [K, N] product per z < Z, with operand functions from a template.

    a_k_fast / b_n_fast: whether consecutive k of A / n of B are adjacent in memory, so consecutive
    threads load them (coalesced); then a thread's B column also stays fixed over the k loop."""
    m, n, k, z = shape
    tile = tile or default_tile(m, n, t.limits)
    setup, fetch, stash = _tile_copies(tile, (m, n, k), a_k_fast, b_n_fast)
    acc, product, store = _micro_kernel(tile)
    sizes = {name: u32(getattr(tile, name.lower())) for name in ("TM", "TN", "TK", "WM", "WN")}
    body = render("gemm", **sizes, M=u32(m), N=u32(n), K=u32(k), OPERANDS=operands, SETUP=f"{setup}\n{acc}",
                  FETCH=fetch, STASH=stash, PRODUCT=product, STORE=store)  # fmt: skip
    return t.shader(names, body, (-(-n // tile.tn), -(-m // tile.tm), z), ("math",))


def _lines(indent: int, lines: list[str]) -> str:
    return "\n".join(" " * indent + line for line in lines)


def _tile_copies(
    t: Tile, shape: tuple[int, int, int], a_k_fast: bool, b_n_fast: bool
) -> tuple[str, str, str]:
    """Unrolled code moving one A and one B tile per k step: register declarations (and B's fixed
    column), the fetch from the operands into registers (at depth kf) and the stash into the tiles."""
    m, n, k = shape
    a_loads, b_loads = t.tm * t.tk // t.threads, t.tk * t.tn // t.threads
    a_m, a_k = ("e / TK", "e % TK") if a_k_fast else ("e % TM", "e / TM")
    a_guard = " && ".join(c for c, cut in (("m0 + m < M", m % t.tm), ("kf + k < K", k % t.tk)) if cut)
    b_guard = " && ".join(c for c, cut in (("kf + k < K", k % t.tk), ("n0 + n < N", n % t.tn)) if cut)
    setup = [f"var ra{i} = 0.0;" for i in range(a_loads)] + [f"var rb{i} = 0.0;" for i in range(b_loads)]
    if b_n_fast:  # e % TN == lid % TN for every copy, as THREADS is a multiple of TN
        setup += ["let n_fixed = lid % TN;", "let col_fixed = column(z, min(n0 + n_fixed, N - 1u));"]
        (b_k, b_n), b_col = ("e / TN", "n_fixed"), "col_fixed"
    else:
        (b_k, b_n), b_col = ("e % TK", "e / TK"), "column(z, min(n0 + n, N - 1u))"
    fetch, stash = [], []
    for i in range(a_loads):
        e = f"let e = lid + {i * t.threads}u;"
        fetch.append(f"{{ {e} let m = {a_m}; let k = {a_k}; ra{i} = 0.0; "
                     f"if ({a_guard or 'true'}) {{ ra{i} = load_a(z, m0 + m, kf + k); }} }}")  # fmt: skip
        stash.append(f"{{ {e} let at = {a_k} * A_ROW + {a_m}; tile_a[at / 4u][at % 4u] = ra{i}; }}")
    for i in range(b_loads):
        e = f"let e = lid + {i * t.threads}u;"
        fetch.append(f"{{ {e} let k = {b_k}; let n = {b_n}; rb{i} = 0.0; "
                     f"if ({b_guard or 'true'}) {{ rb{i} = load_b({b_col}, kf + k); }} }}")  # fmt: skip
        stash.append(f"{{ {e} let at = {b_k} * B_ROW + {b_n}; tile_b[at / 4u][at % 4u] = rb{i}; }}")
    return _lines(4, setup), _lines(8, fetch), _lines(8, stash)


def _micro_kernel(t: Tile) -> tuple[str, str, str]:
    """Unrolled register code for a WM x WN block: accumulators, one k step, and the stores."""
    cols = range(t.wn // 4)
    blocks = [(i, j) for i in range(t.wm) for j in cols]
    if t.wm % 4 == 0:  # a thread's rows are 4-aligned: read them as vec4s
        step = [f"let a{v} = tile_a[(k * A_ROW + tm) / 4u + {v}u];" for v in range(t.wm // 4)]
        rows = [f"a{i // 4}.{'xyzw'[i % 4]}" for i in range(t.wm)]
    else:
        step = [f"let a{i} = tile_a[(k * A_ROW + tm + {i}u) / 4u][(tm + {i}u) % 4u];" for i in range(t.wm)]
        rows = [f"a{i}" for i in range(t.wm)]
    step += [f"let b{j} = tile_b[(k * B_ROW + tn) / 4u + {j}u];" for j in cols]
    step += [f"acc_{i}_{j} = fma(vec4<f32>({rows[i]}), b{j}, acc_{i}_{j});" for i, j in blocks]
    acc = _lines(4, [f"var acc_{i}_{j} = vec4<f32>();" for i, j in blocks])
    store = _lines(4, [f"store(z, m0 + tm + {i}u, n0 + tn + {4 * j}u, acc_{i}_{j});" for i, j in blocks])
    return acc, _lines(12, step), store
