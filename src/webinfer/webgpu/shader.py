"""What a kernel generator produces (Shader) and the helpers every generator builds it with (Target).

A generator names the step's tensors (their accessor names), picks a template and fills it; Target
adds the prelude, the grid and what the runtime needs to know (the operands, whether the shader
reports errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..kernels import Act
from ..plan import Step
from .gpu import Limits
from .wgsl import Operand, f32, i32, render, source, u32

FLAT_WG = 64  # threads per workgroup of the one-thread-per-element kernels (flat.wgsl)
ROW_WG_MAX = 256  # threads per workgroup of the one-workgroup-per-row kernels (rows.wgsl)

# act(x) of kernels.Act as WGSL over x (math.wgsl's helpers); {a}, {b}: the act's alpha and beta
ACTS = {
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


def act(code: int, alpha: float, beta: float) -> str:
    return ACTS[Act(code)].format(a=f32(alpha), b=f32(beta))


@dataclass(frozen=True)
class Shader:
    """A step's WGSL, its grid, and what the runtime must provide for it."""

    source: str
    groups: tuple[int, int, int]
    operands: tuple[Operand, ...]  # in the step's tensor order
    status: bool  # reports run-time errors
    then: Shader | None = None  # a second dispatch of the step, with the same bindings (split-K)
    scratch_bytes: int = 0  # bytes both dispatches share at wgsl.SCRATCH_BINDING


@dataclass(frozen=True)
class Target:
    """A step to generate for: its tensors' binding slots (one per GPU buffer) and the device limits."""

    step: Step
    slots: tuple[int, ...]
    limits: Limits

    def operands(
        self, names: list[str], raw: tuple[str, ...] = (), wide: tuple[str, ...] = ()
    ) -> tuple[Operand, ...]:
        """The step's tensors under `names` (in order); the last one is the output."""
        last = len(self.step.tensors) - 1
        return tuple(
            Operand(name, t.dtype, slot, i == last, name in raw, name in wide)
            for i, (name, t, slot) in enumerate(zip(names, self.step.tensors, self.slots, strict=True))
        )

    def grid(self, n: int, per_group: int) -> tuple[int, int, int]:
        """Workgroups for n items, folded into a second dimension past the per-dimension limit."""
        groups, limit = max(1, -(-n // per_group)), self.limits.groups_per_dim
        return (groups, 1, 1) if groups <= limit else (limit, -(-groups // limit), 1)

    def shader(
        self,
        names: list[str],
        body: str,
        groups: tuple[int, int, int],
        includes: tuple[str, ...] = (),
        raw: tuple[str, ...] = (),
        status: bool = False,
        wide: tuple[str, ...] = (),
    ) -> Shader:
        operands = self.operands(names, raw, wide)
        return Shader(source(list(operands), body, includes, status), groups, operands, status)

    def flat(
        self,
        names: list[str],
        template: str,
        n: int,
        includes: tuple[str, ...] = (),
        raw: tuple[str, ...] = (),
        status: bool = False,
        **values: object,
    ) -> Shader:
        """A one-thread-per-element kernel over n elements: `template` defines element(i)."""
        return self.per_element(names, render(template, **values), n, includes, raw, status)

    def per_element(
        self,
        names: list[str],
        body: str,
        n: int,
        includes: tuple[str, ...] = (),
        raw: tuple[str, ...] = (),
        status: bool = False,
        wide: tuple[str, ...] = (),
    ) -> Shader:
        """`body`'s element(i) for each i < n, one thread each (flat.wgsl's entry point)."""
        entry = render("flat", WG=u32(FLAT_WG), ELEMENTS=u32(n))
        return self.shader(names, f"{body}\n{entry}", self.grid(n, FLAT_WG), includes, raw, status, wide)

    def window(self) -> str:
        """window.wgsl for a CONV or POOL step (its first tensor the input, its last the output)."""
        p: Any = self.step.params
        (h, w), (oh, ow) = self.step.tensors[0].shape[2:], self.step.tensors[-1].shape[2:]
        (kh, kw), (sh, sw), (dh, dw) = p.kernel, p.strides, p.dilations
        return render("window", H=u32(h), W=u32(w), OH=u32(oh), OW=u32(ow), KH=u32(kh), KW=u32(kw),
                      SH=u32(sh), SW=u32(sw), DH=u32(dh), DW=u32(dw),
                      PT=i32(p.pads[0]), PL=i32(p.pads[1]))  # fmt: skip

    def rows(
        self, names: list[str], template: str, rows: int, n: int, inner: int, **values: object
    ) -> Shader:
        """A one-workgroup-per-row kernel (rows.wgsl) over rows of n elements at stride `inner`."""
        wg = min(ROW_WG_MAX, 1 << max(0, n - 1).bit_length())
        helpers = render("rows", WG=u32(wg), N=u32(n), INNER=u32(inner), ROWS=u32(rows))
        return self.shader(names, helpers + render(template, **values), self.grid(rows, 1))
