"""backend="auto": which backend a session runs on, and why, decided in this one place.

The rule (docs/ARCHITECTURE.md, "Choosing a backend"):

1. Start on the first available CPU backend of CPU_ORDER (native, wasm, reference; under Pyodide
   wasm, reference).
2. Move to webgpu only when its adapter is a hardware GPU (a CPU renderer such as lavapipe or
   SwiftShader runs shaders on the same cores, slower than the C kernels) AND the plan for the
   session's first input shapes does at least `min_gflops` of GEMM/CONV work per inference. A GPU
   inference pays a fixed cost (input upload, submit, one dispatch per step, readback: ~1-2 ms even
   on an H100) that only a large enough model wins back.

The defaults come from the measurements of 2026-11-23, native kernels on one core against an H100
through wgpu-py: ResNet-18 (3.6 GFLOP) runs 17.8 ms native vs 4.7 ms webgpu; MobileNetV2
(0.6 GFLOP) 3.9 vs 2.1-3.6 ms, about even; BERT-tiny at 1x128 (0.1 GFLOP) 1.0 vs 1.1-2.4 ms, a loss.
So 1 GFLOP against native: the GPU is taken where it clearly wins (on the H200, README.md,
2026-12-04, webgpu also beat 16 native cores on BERT-tiny, 0.90 vs 1.36 ms: the rule errs on the
CPU's side). The wasm kernels run 4-5x slower
than native (README.md), which moves the break-even down by that factor: 0.25 GFLOP against wasm or
the numpy reference. $WEBINFER_AUTO_WEBGPU_GFLOPS replaces both ("inf" keeps auto off the GPU
without touching it; 0 takes any hardware adapter).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import BackendError
from ..webgpu.gpu import open_gpu
from . import BACKENDS, unavailable_reason

MIN_GFLOPS_ENV = "WEBINFER_AUTO_WEBGPU_GFLOPS"
# Under Pyodide the wasm kernels are the only compiled ones (and numpy is usually absent).
CPU_ORDER = ("wasm", "reference") if sys.platform == "emscripten" else ("native", "wasm", "reference")
# GEMM/CONV GFLOP per inference from which webgpu beats the CPU backend it would replace.
DEFAULT_MIN_GFLOPS = {"native": 1.0, "wasm": 0.25, "reference": 0.25}


class Adapter(Protocol):
    """What the rule needs to know of a WebGPU adapter (webgpu.gpu.GPU provides it)."""

    name: str
    software: bool


@dataclass(frozen=True)
class Survey:
    """What auto found on this machine before seeing a plan."""

    cpu: str  # the CPU backend a session starts on
    passed_over: dict[str, str]  # every other backend except webgpu: why it is not the CPU backend
    adapter: Adapter | None  # the WebGPU adapter, None when there is none (reason in `no_gpu`)
    no_gpu: str  # why webgpu is out whatever the model; "" when it depends on the plan
    min_gflops: float

    @property
    def needs_plan(self) -> bool:
        """Whether the choice waits for the first plan (a hardware adapter is there)."""
        return not self.no_gpu


@dataclass(frozen=True)
class Choice:
    """The backend a session runs on, why, and why each other backend is not the one."""

    backend: str
    reason: str
    passed_over: dict[str, str] = field(default_factory=dict)

    def describe(self) -> list[str]:
        """Lines for `webinfer info`: the pick and its reason, then each other backend and why not."""
        return [
            f"{self.backend}: {self.reason}",
            *(f"not {name}: {why}" for name, why in self.passed_over.items()),
        ]


def min_gflops(cpu: str) -> float:
    """The threshold against a CPU backend: the default, or $WEBINFER_AUTO_WEBGPU_GFLOPS."""
    value = os.environ.get(MIN_GFLOPS_ENV)
    if value is None:
        return DEFAULT_MIN_GFLOPS[cpu]
    try:
        threshold = float(value)
    except ValueError:
        raise BackendError(f"${MIN_GFLOPS_ENV} must be a number of GFLOP or 'inf', not {value!r}") from None
    if not threshold >= 0:
        raise BackendError(f"${MIN_GFLOPS_ENV} must not be negative or NaN, got {value!r}")
    return threshold


def survey() -> Survey:
    """Find the CPU backend and the adapter; touches the GPU only when the threshold is finite."""
    passed_over: dict[str, str] = {}
    cpu = ""
    for name in CPU_ORDER:
        if cpu:
            passed_over[name] = f"{cpu} comes first in auto's order {' > '.join(CPU_ORDER)}"
        elif (reason := unavailable_reason(name)) is not None:
            passed_over[name] = reason
        else:
            cpu = name
    if not cpu:
        raise BackendError(
            "no backend is available: " + "; ".join(f"{n}: {r}" for n, r in passed_over.items())
        )
    for name in BACKENDS:
        if name not in CPU_ORDER and name != "webgpu":
            passed_over[name] = "not a candidate here (no native code under Pyodide)"
    threshold = min_gflops(cpu)
    adapter, no_gpu = None, f"is turned off (${MIN_GFLOPS_ENV}=inf)"
    if threshold != float("inf"):
        adapter, no_gpu = _probe_gpu()
    if adapter is not None and adapter.software:
        no_gpu = (
            f"has only a software renderer, '{adapter.name}': it runs shaders on the CPU, "
            f"slower than the {cpu} kernels"
        )
    return Survey(cpu, passed_over, adapter, no_gpu, threshold)


def _probe_gpu() -> tuple[Adapter | None, str]:
    """The adapter, or None and why not. A probe that fails in any way counts as no adapter: auto
    must give a working session whatever an adapter does, and says what went wrong."""
    try:
        reason = unavailable_reason("webgpu")
        return (open_gpu(), "") if reason is None else (None, f"is unavailable: {reason}")
    except Exception as exc:
        return None, f"could not be probed ({type(exc).__name__}: {exc})"


def decide(found: Survey, gflops: float | None) -> Choice:
    """The rule, given the GEMM/CONV GFLOP per inference of the first plan (plan.plan_flops). Before
    any plan (gflops None) a choice that depends on it is provisional: the CPU backend, saying so."""
    cpu_first = f"{found.cpu} is the first available CPU backend"
    if found.no_gpu:
        return Choice(
            found.cpu,
            f"{cpu_first}, and no GPU qualifies: webgpu {found.no_gpu}",
            {"webgpu": found.no_gpu, **found.passed_over},
        )
    assert found.adapter is not None
    gpu, limit = f"hardware adapter '{found.adapter.name}'", f"{found.min_gflops:g} GFLOP"
    if gflops is None:
        why = f"until the first plan, which moves to webgpu ({gpu}) if it does {limit} of GEMM/CONV or more"
        return Choice(found.cpu, why, found.passed_over)
    work = f"the plan does {gflops:.3g} GFLOP of GEMM/CONV per inference"
    if gflops >= found.min_gflops:
        return Choice(
            "webgpu",
            f"{gpu}, and {work} (at least {limit})",
            {found.cpu: f"{work} (at least {limit}): the GPU wins", **found.passed_over},
        )
    below = f"{work}, below the {limit} from which webgpu ({gpu}) wins back its fixed cost per inference"
    return Choice(found.cpu, f"{below}; {cpu_first}", {"webgpu": below, **found.passed_over})


def fall_back(picked: Choice, cpu: str, problem: str) -> Choice:
    """The CPU backend after all, when the backend the rule picked cannot run the model (weights
    beyond the device's largest buffer, a tensor beyond its binding limit)."""
    others = {name: why for name, why in picked.passed_over.items() if name != cpu}
    why = f"{picked.backend} qualified ({picked.reason}) but cannot run this model: {problem}"
    return Choice(cpu, why, {picked.backend: f"cannot run this model: {problem}", **others})
