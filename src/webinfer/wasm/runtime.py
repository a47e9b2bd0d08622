"""The little the wasm backend needs from a WebAssembly engine, and how it picks engine and module.

Two engines implement it: wasmtime natively (wasmtime_runtime.py) and the JavaScript engine under
Pyodide (js_runtime.py). Both load the same module, built in two variants by scripts/build_wasm.sh:
relaxed SIMD (fused multiply-add) where the engine validates it, plain SIMD128 otherwise; each also
threaded (`*_mt`: a shared memory the embedder makes and imports, workers running wi_worker_main).
Only the JS engine starts workers: `Runtime.threads_problem` says why threads cannot run.

Exports take and return i32 only (csrc/wasm/exports_wasm.c), so a call is the same on both sides;
addresses above 2 GiB come back negative from the engines, and `call` returns them unsigned.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from importlib import resources
from typing import Any

VARIANTS = ("relaxed", "simd")  # best first
U32 = 0xFFFFFFFF
BUILD_HINT = "run scripts/build_wasm.sh"
PAGE = 65536
MT_INITIAL_PAGES = 64  # the threaded modules' initial memory (build_wasm.sh's MT_INITIAL_PAGES)
MT_MAX_PAGES = 65536  # and their maximum (build_wasm.sh's MAX_PAGES)
WORKER_STACK = 1 << 20  # bytes of stack per worker, as the main one (build_wasm.sh's -z stack-size)


class Instance(ABC):
    """One instantiated module with its linear memory."""

    @abstractmethod
    def call(self, name: str, *args: int) -> int:
        """Call an export whose parameters and result are i32; the result unsigned (0 if none).
        A trap (a bug: the C code validates what it is given) raises BackendError."""

    @abstractmethod
    def write(self, address: int, data: memoryview) -> None:
        """Copy a flat byte buffer into linear memory at address."""

    @abstractmethod
    def read_into(self, address: int, out: memoryview) -> None:
        """Fill a flat, writable byte buffer from linear memory at address."""

    def start_workers(self, ctx: int, n_threads: int) -> None:
        """Start workers 1 .. n_threads - 1 of context ctx's pool (threaded modules only)."""
        raise NotImplementedError(f"{type(self).__name__} runs single-threaded")

    def read_cstring(self, address: int, limit: int = 1024) -> str:
        """A NUL-terminated UTF-8 string (the C side's error messages)."""
        raw = bytearray(limit)
        self.read_into(address, memoryview(raw))
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


class Runtime(ABC):
    """A WebAssembly engine."""

    name: str

    @abstractmethod
    def validate(self, module: bytes) -> bool:
        """Whether the engine accepts the module (relaxed SIMD is the feature that varies)."""

    @abstractmethod
    def compile(self, module: bytes) -> Any:
        """The engine's compiled form of a module (compiled once, instantiated per backend)."""

    @abstractmethod
    def instantiate(self, module: Any, threaded: bool = False) -> Instance:
        """A new instance, with its own memory, of a compiled module: one that imports nothing, or
        a threaded one (importing its shared memory)."""

    @abstractmethod
    def threads_problem(self) -> str | None:
        """Why this engine cannot run the threaded modules here, or None."""


def js_threads_problem(*, isolated: bool, shared_memory: bool, workers: bool) -> str | None:
    """Why a JS context cannot run wasm threads, or None: they need a SharedArrayBuffer, which
    browsers give only to crossOriginIsolated pages, and workers (Web Workers or Node's)."""
    if not isolated:
        return "the page is not crossOriginIsolated (serve it with COOP/COEP headers)"
    if not shared_memory:
        return "this JS engine has no SharedArrayBuffer"
    if not workers:
        return "this JS context cannot start workers"
    return None


def module_bytes(variant: str, threaded: bool = False) -> bytes:
    """A built module from the package data; FileNotFoundError when it was not built."""
    name = f"webinfer_{variant}{'_mt' if threaded else ''}.wasm"
    return resources.files(__package__).joinpath(name).read_bytes()


def load_runtime() -> Runtime:
    """The engine of this platform: the browser's (or Node's) under Pyodide, wasmtime elsewhere.
    Raises ImportError when it is missing."""
    if sys.platform == "emscripten":
        from .js_runtime import JsRuntime

        return JsRuntime()
    from .wasmtime_runtime import WasmtimeRuntime

    return WasmtimeRuntime()


def best_module(runtime: Runtime, threaded: bool = False) -> tuple[str, bytes]:
    """The first variant the engine validates, as (variant, bytes); an error naming the fix if none."""
    missing = []
    for variant in VARIANTS:
        try:
            data = module_bytes(variant, threaded)
        except FileNotFoundError:
            missing.append(variant)
            continue
        if runtime.validate(data):
            return variant, data
    if len(missing) == len(VARIANTS):
        raise FileNotFoundError(f"the webinfer wasm modules are not built: {BUILD_HINT}")
    raise RuntimeError(f"{runtime.name} rejects the webinfer wasm modules (it needs WebAssembly SIMD)")
