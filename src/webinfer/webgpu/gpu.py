"""The few WebGPU calls the backend makes, behind one class each adapter implements.

Natively the adapter is wgpu-py (`wgpu_native.py`); under Pyodide it is navigator.gpu through the JS
FFI (`js_gpu.py`, the WebGPU half of the package's JS boundary). Everything else (code generation,
binding layout, tuning) is written once against this interface. Buffers, pipelines and bind groups
are opaque handles of the adapter. The interface is synchronous: a browser adapter awaits
requestDevice and mapAsync inside `open_gpu` and `run` (Pyodide's run_sync, i.e. JSPI). An
inference is ONE `run` (writes, submit, wait, readback), so a browser adapter crosses into JS and
waits once per inference: under Pyodide a crossing costs microseconds and a wait tens of them, a
large part of a small model's latency. `launch` + `settle` split that round trip where the wait is
a promise, so a caller that can await (JS, async Python) waits without run_sync.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class GPUUnavailable(Exception):
    """No usable WebGPU adapter here; the message says why (shown by `available()`)."""


class BufferKind(Enum):
    STORAGE = 0  # kernel data: read/written by shaders, written from the host, copied from
    UNIFORM = 1  # per-step parameters, written once from the host
    READBACK = 2  # mappable for reading: the destination of the one copy back per run


@dataclass(frozen=True)
class Limits:
    """The device limits code generation and binding layout must respect."""

    max_binding_bytes: int  # maxStorageBufferBindingSize
    max_buffer_bytes: int
    binding_alignment: int  # minStorageBufferOffsetAlignment
    uniform_alignment: int  # minUniformBufferOffsetAlignment
    workgroup_bytes: int  # maxComputeWorkgroupStorageSize
    workgroup_invocations: int  # maxComputeInvocationsPerWorkgroup
    groups_per_dim: int  # maxComputeWorkgroupsPerDimension


@dataclass(frozen=True)
class Binding:
    """One bind-group entry: a range of a buffer (offset aligned to the limit's alignment)."""

    binding: int
    buffer: Any
    offset: int
    size: int


@dataclass(frozen=True)
class Dispatch:
    pipeline: Any
    bind_group: Any
    groups: tuple[int, int, int]


@dataclass(frozen=True)
class Copy:
    src: Any
    src_offset: int
    dst: Any
    dst_offset: int
    size: int


@dataclass(frozen=True, eq=False)
class Trip:
    """What a round trip runs after its writes: one compute pass of the dispatches in order, then
    the copies, then the first `size` bytes of the READBACK buffer `readback` read back (no wait
    when 0). A compiled plan submits the same Trip every run, so an adapter may keep what it made
    of its lists."""

    dispatches: list[Dispatch]
    copies: list[Copy]
    readback: Any
    size: int


@dataclass(frozen=True)
class Pending:
    """A round trip `GPU.launch` submitted: `wait()` gives what is left to await (in the browser a
    JS function returning the promise: see backends/base.Started), None when the adapter waited
    already and `result` holds the readback."""

    wait: Any = None
    result: memoryview = field(default_factory=lambda: memoryview(b""))


# Adapters that run shaders on the CPU, as named in an adapter's vendor/architecture/device/description.
SOFTWARE_RENDERERS = ("llvmpipe", "lavapipe", "softpipe", "swiftshader", "microsoft basic render driver")


def software_renderer(*descriptions: str) -> bool:
    """Whether any of an adapter's descriptive strings names a known CPU renderer. Both adapters use
    it next to what their API reports (wgpu-py's adapter_type "CPU", the browser's
    GPUAdapterInfo.isFallbackAdapter), so a CPU renderer is recognised where that flag is missing
    (browsers older than the flag, drivers reporting an unknown adapter type)."""
    text = " ".join(descriptions).lower()
    return any(name in text for name in SOFTWARE_RENDERERS)


class GPU(ABC):
    """A WebGPU device. Pipelines are memoised by source, so equal shaders compile once."""

    name: str  # the adapter, for messages and as the tuning-cache key
    software: bool  # a CPU rasteriser (see software_renderer): correct, but no faster than CPU kernels
    limits: Limits

    def __init__(self) -> None:
        self._pipelines: dict[str, Any] = {}

    def pipeline(self, wgsl: str) -> Any:
        """The compute pipeline of a shader whose entry point is `main` (layout derived from it)."""
        found = self._pipelines.get(wgsl)
        if found is None:
            found = self._pipelines[wgsl] = self._compile(wgsl)
        return found

    @abstractmethod
    def _compile(self, wgsl: str) -> Any:
        """Create the shader module and its compute pipeline; raise ValueError with the compiler's
        message when the source is rejected."""

    @abstractmethod
    def buffer(self, size: int, kind: BufferKind) -> Any:
        """A zero-filled buffer of `size` bytes (a multiple of 4)."""

    @abstractmethod
    def write(self, buffer: Any, offset: int, data: bytes | memoryview) -> None:
        """Queue a host-to-buffer copy (offset and length multiples of 4); it precedes the next submit."""

    @abstractmethod
    def bind_group(self, pipeline: Any, bindings: list[Binding]) -> Any:
        """The bind group 0 of `pipeline` over the given ranges."""

    @abstractmethod
    def run(self, writes: list[tuple[Any, int, bytes | memoryview]], trip: Trip) -> memoryview:
        """One round trip: the writes (buffer, offset, bytes: as `write`; a write's (buffer,
        offset, length) recurs every run), one command encoder with the trip's pass and copies, one
        submit, and the trip's readback once that work is done. Errors the device reported are
        raised here."""

    def launch(self, writes: list[tuple[Any, int, bytes | memoryview]], trip: Trip) -> Pending:
        """`run` up to its wait: where that wait is a promise the caller awaits it (`wait()`) and
        hands what it resolved to to `settle`; an adapter that blocks finishes here."""
        return Pending(result=self.run(writes, trip))

    def settle(self, pending: Pending, value: Any) -> memoryview:
        """The readback of a launched round trip, from what its promise resolved to (ignored when it
        had none); raises the errors the device reported, as `run` does."""
        return pending.result


def open_gpu() -> GPU:
    """The process's device (requested once): wgpu-py natively, navigator.gpu under Pyodide; raises
    GPUUnavailable with the reason."""
    if sys.platform == "emscripten":
        from .js_gpu import open_device
    else:
        from .wgpu_native import open_device  # type: ignore[assignment]
    return open_device()
