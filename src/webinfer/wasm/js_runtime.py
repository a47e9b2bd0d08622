"""The JavaScript engine's WebAssembly as the wasm backend's engine under Pyodide (browser or Node).

The only module of the package that touches `js`/`pyodide`. Copies are one typed-array assign each
way; the typed-array views are made per copy (memory growth detaches the old buffer) and dropped at
once, and no Python object is handed to JS, so no proxy outlives a call.
"""

from __future__ import annotations

from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from ..errors import BackendError
from .runtime import U32, Instance, Runtime


class JsInstance(Instance):
    def __init__(self, module: Any) -> None:
        exports = js.WebAssembly.Instance.new(module, js.Object.new()).exports
        self._memory = exports.memory
        self._funcs = {name: getattr(exports, name) for name in js.Object.keys(exports) if name != "memory"}

    def call(self, name: str, *args: int) -> int:
        try:
            result = self._funcs[name](*args)
        except JsException as trap:  # a WebAssembly.RuntimeError
            raise BackendError(f"the wasm module trapped in {name}: {trap}") from trap
        return 0 if result is None else int(result) & U32

    def _span(self, address: int, n: int) -> Any:
        return js.Uint8Array.new(self._memory.buffer, address, n)

    def write(self, address: int, data: memoryview) -> None:
        self._span(address, data.nbytes).assign(data)

    def read_into(self, address: int, out: memoryview) -> None:
        self._span(address, out.nbytes).assign_to(out)


class JsRuntime(Runtime):
    name = "WebAssembly (JS)"

    def validate(self, module: bytes) -> bool:
        return bool(js.WebAssembly.validate(to_js(module)))

    def compile(self, module: bytes) -> Any:
        # Synchronous compile: allowed on a browser's main thread for modules under 8 MB (ours are).
        return js.WebAssembly.Module.new(to_js(module))

    def instantiate(self, module: Any) -> Instance:
        return JsInstance(module)
