"""wasmtime (PyPI) as the engine of the wasm backend natively: the same module as in the browser.

Copies go through a memoryview over linear memory (made per copy: growth may move the memory), so
inputs need not be writable and nothing is copied twice.
"""

from __future__ import annotations

import ctypes

import wasmtime

from ..errors import BackendError
from .runtime import U32, Instance, Runtime


class WasmtimeInstance(Instance):
    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module) -> None:
        self._store = wasmtime.Store(engine)
        instance = wasmtime.Instance(self._store, module, [])
        exports = instance.exports(self._store)
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self._memory = memory
        self._funcs = {name: f for name, f in exports.items() if isinstance(f, wasmtime.Func)}

    def call(self, name: str, *args: int) -> int:
        try:
            result = self._funcs[name](self._store, *args)
        except wasmtime.Trap as trap:
            reason = trap.message.strip().splitlines()[-1]  # the last line names the trap
            raise BackendError(f"the wasm module trapped in {name}: {reason}") from trap
        return 0 if result is None else result & U32

    def _span(self, address: int, n: int) -> memoryview:
        size = self._memory.data_len(self._store)
        if address < 0 or address + n > size:
            raise IndexError(f"bytes [{address}, {address + n}) outside wasm memory of {size} bytes")
        base = ctypes.addressof(self._memory.data_ptr(self._store).contents)
        return memoryview((ctypes.c_ubyte * n).from_address(base + address)).cast("B")

    def write(self, address: int, data: memoryview) -> None:
        self._span(address, data.nbytes)[:] = data

    def read_into(self, address: int, out: memoryview) -> None:
        out[:] = self._span(address, out.nbytes)


class WasmtimeRuntime(Runtime):
    name = "wasmtime"

    def __init__(self) -> None:
        config = wasmtime.Config()
        config.wasm_simd = True
        config.wasm_relaxed_simd = True
        self._engine = wasmtime.Engine(config)

    def validate(self, module: bytes) -> bool:
        try:
            wasmtime.Module.validate(self._engine, module)
        except wasmtime.WasmtimeError:
            return False
        return True

    def compile(self, module: bytes) -> wasmtime.Module:
        return wasmtime.Module(self._engine, module)

    def instantiate(self, module: wasmtime.Module, threaded: bool = False) -> Instance:
        assert not threaded, "threads_problem() refuses threads"
        return WasmtimeInstance(self._engine, module)

    def threads_problem(self) -> str | None:
        # wasm threads would need the Python binding to import a SharedMemory and to run workers
        return "natively (wasmtime) the wasm backend runs single-threaded; the native backend has threads"
