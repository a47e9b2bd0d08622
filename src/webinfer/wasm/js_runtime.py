"""The JavaScript engine's WebAssembly as the wasm backend's engine under Pyodide (browser or Node).

The only module of the package that touches `js`/`pyodide`. Copies are one typed-array assign each
way; the typed-array views are made per copy (memory growth detaches the old buffer, and a shared
memory's old buffer keeps its old length) and dropped at once, and no Python object is handed to JS,
so no proxy outlives a call.

Threads: a threaded module gets a shared memory made here, and each worker (a Web Worker from a Blob
URL, or a Node worker_threads worker) instantiates the module over it, sets its own __stack_pointer
and stays in wi_worker_main. The workers end when their instance is collected.
"""

from __future__ import annotations

import weakref
from functools import cache
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from ..errors import BackendError
from .runtime import MT_INITIAL_PAGES, MT_MAX_PAGES, U32, WORKER_STACK, Instance, Runtime, js_threads_problem

# A worker's whole script (classic: Web Workers and Node's eval'd workers alone take it as it is).
WORKER_JS = """
function start({ module, memory, ctx, thread, stackTop }) {
  const { exports } = new WebAssembly.Instance(module, { env: { memory } });
  exports.__stack_pointer.value = stackTop;
  exports.wi_worker_main(ctx, thread);
}
if (typeof self !== "undefined") self.onmessage = (e) => start(e.data);
else require("node:worker_threads").parentPort.once("message", start);
"""

# What the threaded modules need from JS, made once: Node's workers come from process.getBuiltinModule
# (synchronous: a session is made in synchronous code; Node 20.16+), the browser's from a Blob URL.
THREADS_JS = """(source) => {
  const node = globalThis.process?.getBuiltinModule?.("node:worker_threads");
  let url;
  return {
    isolated: globalThis.crossOriginIsolated !== false,
    sharedMemory: typeof SharedArrayBuffer === "function",
    workers: Boolean(node) || typeof Worker === "function",
    memory: (initial, maximum) => new WebAssembly.Memory({ initial, maximum, shared: true }),
    instantiate: (module, memory) => new WebAssembly.Instance(module, { env: { memory } }),
    spawn(module, memory, ctx, thread, stackTop) {
      url ??= node ? null : URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      const worker = node ? new node.Worker(source, { eval: true }) : new Worker(url);
      worker.postMessage({ module, memory, ctx, thread, stackTop });
      if (node) worker.unref(); // an idle worker must not keep Node alive
      return worker;
    },
  };
}"""


@cache
def _threads_js() -> Any:
    return run_js(THREADS_JS)(WORKER_JS)


def _terminate(workers: list[Any]) -> None:
    for worker in workers:
        worker.terminate()


class JsInstance(Instance):
    def __init__(self, module: Any, threaded: bool) -> None:
        self._module = module
        if threaded:
            self._memory = _threads_js().memory(MT_INITIAL_PAGES, MT_MAX_PAGES)
            exports = _threads_js().instantiate(module, self._memory).exports
        else:
            exports = js.WebAssembly.Instance.new(module, js.Object.new()).exports
            self._memory = exports.memory
        names = [name for name in js.Object.keys(exports) if name != "memory"]
        self._funcs = {name: f for name in names if callable(f := getattr(exports, name))}
        self._workers: list[Any] = []
        weakref.finalize(self, _terminate, self._workers)

    def start_workers(self, ctx: int, n_threads: int) -> None:
        spawn = _threads_js().spawn
        for thread in range(1, n_threads):
            stack = self.call("wi_alloc32", WORKER_STACK)
            if not stack:
                raise BackendError("cannot allocate a worker's stack in wasm memory")
            self._workers.append(spawn(self._module, self._memory, ctx, thread, stack + WORKER_STACK))

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

    def instantiate(self, module: Any, threaded: bool = False) -> Instance:
        return JsInstance(module, threaded)

    def threads_problem(self) -> str | None:
        t = _threads_js()
        return js_threads_problem(isolated=t.isolated, shared_memory=t.sharedMemory, workers=t.workers)
