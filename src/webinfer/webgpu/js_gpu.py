"""The GPU interface over navigator.gpu under Pyodide: WebGPU in a browser, or in Node with Dawn.

With wasm/js_runtime.py (WebAssembly) this is the package's JS boundary: the only two modules that
import `js`/`pyodide`, one per browser API. The interface is synchronous and WebGPU's device request,
shader compilation report and buffer mapping are promises, so they are awaited with Pyodide's
`run_sync`, which needs JSPI (WebAssembly stack switching) and a Python call that JS entered through
a promising call (runPythonAsync, an async function, PyProxy.callPromising).

Each interface call is one call into the few JS functions of HELPERS_JS, and an inference (`run`)
is one call and one run_sync: each JS call costs Pyodide 2-15 us and each run_sync 50-90 us (it
goes through asyncio futures and Pyodide's event loop; JSPI itself takes ~1.5 us), against 60-130
us for a whole small-model round trip on an H200 in plain JS. So `run` writes, encodes the command
buffer from one JS array (made once per plan), submits, awaits mapAsync and copies the readback out
in JS; its writes go through typed arrays kept per write target and filled with `assign` (one
memcpy, no PyProxy), and the readback comes back as one typed array. `launch` is that call without
the wait: it returns a JS function that returns the readback's promise (`wait`), because Pyodide
takes ~0.1 ms longer to await a promise that reached Python as a value or an attribute rather than
as a call's result; so JS (webinfer-core.mjs's runAsync) awaits it in microseconds, and run_sync
in `run` as fast as ever; `settle` takes the bytes. A launch while the plan's
readback is still mapping is refused (BUSY). Errors WebGPU reports asynchronously (validation,
device loss) are collected in a JS array and raised at the end of the next run, where results
would be trusted.

The tuning cache's folder persists like the native one: in a browser it is mounted on IndexedDB
(Emscripten's IDBFS with autoPersist), so tuned tiles survive a reload; in Node it is the host's
own cache folder (NODEFS), shared with native runs (the adapter names differ).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, can_run_sync, run_sync, to_js  # type: ignore[import-not-found]

from ..errors import BackendError
from .gpu import GPU, Binding, BufferKind, GPUUnavailable, Limits, Pending, Trip, software_renderer
from .tuning import cache_path

# GPUBufferUsage bits (fixed by the WebGPU spec; Node with Dawn need not define the globals).
MAP_READ, COPY_SRC, COPY_DST, UNIFORM, STORAGE = 0x1, 0x4, 0x8, 0x40, 0x80
USAGES = {
    BufferKind.STORAGE: STORAGE | COPY_DST | COPY_SRC,
    BufferKind.UNIFORM: UNIFORM | COPY_DST,
    BufferKind.READBACK: MAP_READ | COPY_DST,
}
ENCODINGS_KEPT = 64  # dispatch/copy lists whose JS arrays are kept (the plans of recent sessions)
# Requested at the adapter's maximum, as natively: the defaults (128 MiB bindings, 16 KiB
# workgroup memory) are below what most adapters offer.
RAISED = ("maxStorageBufferBindingSize", "maxBufferSize", "maxComputeWorkgroupStorageSize")
NO_ADAPTER = (
    "navigator.gpu.requestAdapter() found no adapter (Chromium on Linux without a GPU: "
    "--enable-unsafe-webgpu gives its CPU fallback, SwiftShader)"
)

BUSY = (
    "an earlier run of this session with the same input shapes is still waiting for its results: "
    "await it before starting another"
)
HELPERS_JS = """({
  jspi: "Suspending" in WebAssembly || "Suspender" in WebAssembly,
  async open(gpu, raised) {
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) return undefined;  // None in Python (null would be jsnull)
    const requiredLimits = Object.fromEntries(raised.map((name) => [name, adapter.limits[name]]));
    const device = await adapter.requestDevice({ requiredLimits });
    const errors = [];
    device.onuncapturederror = (e) => errors.push(e.error.message);
    device.lost.then((info) => errors.push(`the device was lost (${info.reason}): ${info.message}`));
    const info = adapter.info;
    const fallback = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter);
    return { adapter, device, errors, info, fallback };
  },
  async compile(device, code) {
    const module = device.createShaderModule({ code });
    const { messages } = await module.getCompilationInfo();
    const errors = messages.filter((m) => m.type === "error");
    if (errors.length) {
      return { error: errors.map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`).join("\\n") };
    }
    const compute = { module, entryPoint: "main" };
    try {
      return { pipeline: await device.createComputePipelineAsync({ layout: "auto", compute }) };
    } catch (e) {
      return { error: e.message };
    }
  },
  bindGroup(device, pipeline, entries) {
    const resource = ([binding, buffer, offset, size]) => ({ binding, resource: { buffer, offset, size } });
    return device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: entries.map(resource) });
  },
  write(device, buffer, offset, data) {
    const view = data.getBuffer("u8");
    try {
      device.queue.writeBuffer(buffer, offset, view.data);
    } finally {
      view.release();
    }
  },
  encode(device, dispatches, copies) {
    const encoder = device.createCommandEncoder();
    if (dispatches.length) {
      const pass = encoder.beginComputePass();
      for (const [pipeline, group, x, y, z] of dispatches) {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(x, y, z);
      }
      pass.end();
    }
    for (const [src, srcOffset, dst, dstOffset, size] of copies) {
      encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    }
    return encoder.finish();
  },
  // A whole inference: writes (buffer, offset, typed array triples), one submit, then (when size
  // is not 0) a promise of the readback's bytes, or of a message when WebGPU failed or reported.
  // A message instead when the readback buffer is still mapping for an earlier run of the plan.
  // `deferred` puts the promise behind a function (for JS to await): Pyodide takes ~0.1 ms longer
  // to await a promise that reached Python as a value or an attribute than one a call returned.
  run(device, errors, dispatches, copies, readback, size, deferred, ...writes) {
    if (readback.mapState !== "unmapped") return BUSY;
    for (let i = 0; i < writes.length; i += 3) {
      device.queue.writeBuffer(writes[i], writes[i + 1], writes[i + 2]);
    }
    device.queue.submit([this.encode(device, dispatches, copies)]);
    if (!size) return undefined;
    const done = this.readback(errors, readback, size);
    return deferred ? () => done : done;
  },
  async readback(errors, buffer, size) {
    try {
      await buffer.mapAsync(1 /* GPUMapMode.READ */, 0, size);
    } catch (e) {
      return `the WebGPU readback failed: ${errors.splice(0).join("; ") || e.message}`;
    }
    const data = new Uint8Array(buffer.getMappedRange(0, size).slice(0));
    buffer.unmap();
    return errors.length ? `the WebGPU device reported: ${errors.splice(0).join("; ")}` : data;
  },
  async persist(FS, folder) {
    FS.mkdirTree(folder);
    if (FS.isMountpoint(FS.lookupPath(folder, { follow_mount: false }).node)) return;
    const os = globalThis.process?.getBuiltinModule?.("node:os");
    if (os) {  // Node: the host's own folder, by tuning.cache_path()'s rule on the host's environment
      const env = globalThis.process.env;
      const root = `${env.WEBINFER_CACHE_DIR || env.XDG_CACHE_HOME || `${os.homedir()}/.cache`}/webinfer`;
      globalThis.process.getBuiltinModule("node:fs").mkdirSync(root, { recursive: true });
      FS.mount(FS.filesystems.NODEFS, { root }, folder);
    } else if (typeof indexedDB !== "undefined") {
      FS.mount(FS.filesystems.IDBFS, { autoPersist: true }, folder);
      // A failure (storage blocked) leaves the folder in memory: it only costs re-tuning.
      await new Promise((resolve) => FS.syncfs(true, resolve));
    }
  },
})"""


@cache
def _helpers() -> Any:
    return run_js(f"const BUSY = {json.dumps(BUSY)};\n{HELPERS_JS}")


def _flat(value: Any) -> Any:
    """A Python list as a JS array (JS handles inside stay the same objects)."""
    return to_js(value, create_pyproxies=False)


@dataclass(eq=False)
class JsBuffer:
    """A GPUBuffer as the backend holds it: hashed by identity (JsProxy objects are unhashable, and
    the backend keys dicts by buffer)."""

    js: Any
    # (offset, length) -> the JS Uint8Array that run()'s writes there go through (a write's target
    # recurs every run; a PyProxy of the bytes would cost ~4x the memcpy of `assign`)
    staging: dict[tuple[int, int], Any] = field(default_factory=dict)

    def staged(self, offset: int, data: bytes | memoryview) -> Any:
        """`data` copied into this target's JS array."""
        key = (offset, len(data))
        array = self.staging.get(key)
        if array is None:
            array = self.staging[key] = js.Uint8Array.new(len(data))
        array.assign(data)
        return array


class JsGPU(GPU):
    def __init__(self, opened: Any) -> None:
        super().__init__()
        self._device = opened.device
        self._errors = opened.errors
        self._encodings: dict[int, tuple[list[Any], Any]] = {}  # id(list) -> (list, JS array)
        info = opened.info
        keys = ("vendor", "architecture", "device", "description")
        fields = [str(getattr(info, key, "") or "") for key in keys]
        self.name = f"{' / '.join(f for f in fields if f) or 'unknown adapter'} (navigator.gpu)"
        self.software = bool(opened.fallback) or software_renderer(*fields)
        limits = self._device.limits
        self.limits = Limits(
            max_binding_bytes=int(limits.maxStorageBufferBindingSize),
            max_buffer_bytes=int(limits.maxBufferSize),
            binding_alignment=int(limits.minStorageBufferOffsetAlignment),
            uniform_alignment=int(limits.minUniformBufferOffsetAlignment),
            workgroup_bytes=int(limits.maxComputeWorkgroupStorageSize),
            workgroup_invocations=int(limits.maxComputeInvocationsPerWorkgroup),
            groups_per_dim=int(limits.maxComputeWorkgroupsPerDimension),
        )

    def _compile(self, wgsl: str) -> Any:
        _need_run_sync("compiling a shader")
        result = run_sync(_helpers().compile(self._device, wgsl))
        if getattr(result, "error", None) is not None:
            raise ValueError(str(result.error))
        return result.pipeline

    def buffer(self, size: int, kind: BufferKind) -> Any:
        descriptor = to_js({"size": size, "usage": USAGES[kind]}, dict_converter=js.Object.fromEntries)
        return JsBuffer(self._device.createBuffer(descriptor))

    def write(self, buffer: JsBuffer, offset: int, data: bytes | memoryview) -> None:
        _helpers().write(self._device, buffer.js, offset, data)

    def bind_group(self, pipeline: Any, bindings: list[Binding]) -> Any:
        entries = [[b.binding, b.buffer.js, b.offset, b.size] for b in bindings]
        return _helpers().bindGroup(self._device, pipeline, _flat(entries))

    def run(self, writes: list[tuple[JsBuffer, int, bytes | memoryview]], trip: Trip) -> memoryview:
        if trip.size:
            _need_run_sync("reading results back")
        promise = self._submit(writes, trip, False)
        return self._bytes(run_sync(promise)) if trip.size else memoryview(b"")

    def launch(self, writes: list[tuple[JsBuffer, int, bytes | memoryview]], trip: Trip) -> Pending:
        wait = self._submit(writes, trip, True)
        # size 0: nothing to wait for; errors reported meanwhile are raised by the next run
        return Pending(wait=wait) if trip.size else Pending()

    def settle(self, pending: Pending, value: Any) -> memoryview:
        return pending.result if pending.wait is None else self._bytes(value)

    def _submit(
        self, writes: list[tuple[JsBuffer, int, bytes | memoryview]], trip: Trip, deferred: bool
    ) -> Any:
        """HELPERS_JS.run: the readback's promise, or with `deferred` a function returning it."""
        encoded = self._encoded(trip.dispatches, lambda d: [d.pipeline, d.bind_group, *d.groups])
        moves = self._encoded(trip.copies, lambda c: [c.src.js, c.src_offset, c.dst.js, c.dst_offset, c.size])
        staged: list[Any] = []
        for buffer, offset, data in writes:
            staged += (buffer.js, offset, buffer.staged(offset, data))
        at = (trip.readback.js, trip.size)
        submitted = _helpers().run(self._device, self._errors, encoded, moves, *at, deferred, *staged)
        if isinstance(submitted, str):
            raise BackendError(submitted)
        return submitted

    @staticmethod
    def _bytes(value: Any) -> memoryview:
        """What the readback's promise resolved to: its bytes, or the message of a failure."""
        if isinstance(value, str):
            raise BackendError(value)
        return memoryview(value.to_bytes())

    def _encoded(self, items: list[Any], fields: Callable[[Any], list[Any]]) -> Any:
        """`items` as a JS array of field arrays, kept per list object: a compiled plan submits the
        same lists every run, and rebuilding them costs Pyodide ~10 us per dispatch."""
        found = self._encodings.get(id(items))
        if found is None or found[0] is not items:
            found = (items, _flat([fields(item) for item in items]))
            self._encodings[id(items)] = found
            while len(self._encodings) > ENCODINGS_KEPT:
                del self._encodings[next(iter(self._encodings))]
        return found[1]


def _need_run_sync(doing: str) -> None:
    """run_sync is possible, or a BackendError saying how to call webinfer so that it is."""
    if not can_run_sync():
        raise BackendError(f"{doing} on WebGPU must wait for a promise: {_blocking_problem()}")


def _blocking_problem() -> str:
    if not _helpers().jspi:
        return (
            "this JavaScript engine has no JSPI (WebAssembly stack switching) for Pyodide's run_sync: "
            "Chromium 137+, Node 25+ (Node 24: --experimental-wasm-jspi)"
        )
    return (
        "Python was entered synchronously from JS, so Pyodide's run_sync cannot suspend; call "
        "webinfer from async Python, runPythonAsync or PyProxy.callPromising"
    )


_DEVICE: JsGPU | GPUUnavailable | None = None


def open_device() -> JsGPU:
    """The process's device, requested on first use. A lasting failure (no WebGPU, no JSPI, no
    adapter) is remembered; a synchronous call stack is not, as a later promising call may succeed."""
    global _DEVICE
    if _DEVICE is None:
        try:
            _DEVICE = _request()
        except GPUUnavailable as exc:
            if _helpers().jspi and not can_run_sync():
                raise
            _DEVICE = exc
    if isinstance(_DEVICE, GPUUnavailable):
        raise _DEVICE
    return _DEVICE


def _request() -> JsGPU:
    gpu = getattr(getattr(js, "navigator", None), "gpu", None)
    if gpu is None:
        raise GPUUnavailable(
            "navigator.gpu is missing (Chromium: --enable-unsafe-webgpu where WebGPU is not on by "
            "default; Node: the npm package 'webgpu', whose create() provides it)"
        )
    if not can_run_sync():
        raise GPUUnavailable(f"requesting a WebGPU device must wait for a promise: {_blocking_problem()}")
    try:
        opened = run_sync(_helpers().open(gpu, _flat(list(RAISED))))
    except JsException as exc:  # requestDevice rejected (limits, a lost adapter)
        raise GPUUnavailable(f"requesting the WebGPU device failed: {exc}") from exc
    if opened is None:
        raise GPUUnavailable(NO_ADAPTER)
    from pyodide_js import FS  # type: ignore[import-not-found]

    run_sync(_helpers().persist(FS, posixpath.dirname(str(cache_path()))))
    return JsGPU(opened)
