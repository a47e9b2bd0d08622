"""Lowering: ONNX nodes emit kernel steps over *named* tensors; offsets come later from the planner.

Working on names keeps ops free of memory layout: an op says "COPY this into that", the planner
decides where "that" lives, and fusion passes can rewrite steps before any byte is placed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .graph import TensorData, TensorInfo
from .kernels import Kernel


@dataclass
class KStep:
    """A kernel step before planning. The last tensor is the one written; the others are read."""

    kernel: Kernel
    tensors: list[tuple[str, tuple[int, ...]]]  # (tensor name, shape the kernel sees)
    params: object
    origin: str
    inplace_ok: bool = False  # output may share the first input's bytes (same index map)

    @property
    def output(self) -> str:
        return self.tensors[-1][0]

    @property
    def reads(self) -> list[str]:
        return [name for name, _ in self.tensors[:-1]]


@dataclass
class Lowering:
    """Collects steps, aliases and new tensors while the nodes of one plan are lowered."""

    infos: dict[str, TensorInfo]
    steps: list[KStep] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # tensor -> tensor whose bytes it reuses
    origin: str = ""
    _temps: int = 0

    def info(self, name: str) -> TensorInfo:
        return self.infos[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self.infos[name].shape

    def temp(self, dtype: int, shape: tuple[int, ...]) -> str:
        """A fresh intermediate (e.g. a transposed copy before a reduction)."""
        self._temps += 1
        name = f"{self.origin}::tmp{self._temps}"
        self.infos[name] = TensorInfo(dtype, tuple(shape))
        return name

    def const(self, data: TensorData) -> str:
        """A new constant (e.g. a parameter that an op derives from attributes)."""
        name = self.temp(data.dtype, data.shape)
        self.infos[name].const = data
        return name

    def step(
        self,
        kernel: Kernel,
        tensors: list[str | tuple[str, tuple[int, ...]]],
        params: object,
        inplace_ok: bool = False,
    ) -> None:
        views = [t if isinstance(t, tuple) else (t, self.shape(t)) for t in tensors]
        for name, shape in views:
            if math.prod(shape) != math.prod(self.shape(name)):
                raise AssertionError(f"{self.origin}: view {shape} of {name} {self.shape(name)}")
        self.steps.append(KStep(kernel, views, params, self.origin, inplace_ok))

    def alias(self, out: str, src: str) -> None:
        """`out` is `src` with another shape: no step, the same bytes."""
        self.aliases[out] = src
