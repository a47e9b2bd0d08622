// webinfer in Pyodide for any JavaScript context (a page's main thread, a Web Worker, Node): load
// the runtime, install the webinfer wheel, create sessions and run them with typed arrays.
// webinfer-worker.mjs and the benchmark pages build on this module.
//
//   const wi = await loadWebinfer({ pyodideIndexURL, wheelURL });
//   const s = wi.session(modelBytes, { backend: "auto", threads: 1 });
//   const outputs = s.run({ input: new Float32Array(64) }, { input: [1, 1, 8, 8] });
//   // outputs: { logits: { type: "float32", dims: [1, 10], data: Float32Array } }
//
// The webgpu backend waits on WebGPU's promises inside Python (Pyodide's run_sync, i.e. JSPI), which
// only a promising call allows: `await wi.sessionAsync(...)` and `await s.runAsync(...)`.

// The Python half of the bridge, run once per Pyodide instance. Feeds cross as raw bytes plus an
// optional shape and are cast to the dtype the model declares, so the JS side needs no dtype table
// for inputs; outputs come back as fresh Uint8Arrays with their dims, in the session's output order.
const GLUE = `
import webinfer
from pyodide.ffi import to_js
from webinfer import dtypes
import js


def _dtype(onnx_type):
    return dtypes.info(dtypes.from_onnx_type(onnx_type))


def _args(items):
    return [
        {"name": a.name, "type": _dtype(a.type).numpy_name,
         "shape": [d if isinstance(d, int) else None for d in a.shape]}
        for a in items
    ]


def wi_session(model, backend, threads):
    return webinfer.InferenceSession(model.to_bytes(), backend=backend, threads=threads)


def wi_describe(session):
    info = {
        "inputs": _args(session.get_inputs()),
        "outputs": _args(session.get_outputs()),
        "backend": session.backend,
        "threads": session.threads,  # what the backend started
    }
    return to_js(info, dict_converter=js.Object.fromEntries)


def wi_run(session, entries):
    feeds = {}
    for arg, (name, raw, shape) in zip(session.get_inputs(), entries.to_py(), strict=True):
        fmt = _dtype(arg.type).struct_char
        feeds[name] = raw.cast(fmt) if shape is None else raw.cast(fmt, shape)
    # [bytes, dims] per output (names and types are the session's, known to JS): to_js copies each
    # buffer into a fresh Uint8Array, ~5x cheaper per run than filling a JsProxy array inside to_js.
    views = [memoryview(out) for out in session.run(None, feeds)]
    return to_js([[view.cast("B"), list(view.shape)] for view in views])
`;

const TYPED_ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array, // raw half-precision bits
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};

/** A typed array of `type` over (a copy of, when misaligned) the bytes of a Uint8Array. */
export function typedArray(type, bytes) {
  const Type = TYPED_ARRAYS[type];
  if (!Type) throw new Error(`no typed array for dtype '${type}'`);
  const aligned = bytes.byteOffset % Type.BYTES_PER_ELEMENT === 0 ? bytes : bytes.slice();
  return new Type(aligned.buffer, aligned.byteOffset, aligned.byteLength / Type.BYTES_PER_ELEMENT);
}

/** The bytes of any typed array, without copying. */
export function bytesOf(array) {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/**
 * Start Pyodide and install webinfer. `pyodideIndexURL` is the dist folder (an absolute URL in
 * browsers, a path in Node; trailing slash); the wheel comes from `wheelURL` or, where fetching a
 * URL is not possible (Node), as `wheel: { name, bytes }`.
 */
export async function loadWebinfer({ pyodideIndexURL, wheelURL, wheel }) {
  const start = performance.now();
  const { loadPyodide } = await import(`${pyodideIndexURL}pyodide.mjs`);
  const pyodide = await loadPyodide({ indexURL: pyodideIndexURL });
  const booted = performance.now();
  await pyodide.loadPackage("micropip", { messageCallback: () => {} });
  let source = wheelURL;
  if (wheel) {
    source = `emfs:/tmp/${wheel.name}`;
    pyodide.FS.writeFile(source.slice(5), wheel.bytes);
  }
  const micropip = pyodide.pyimport("micropip");
  await micropip.install(source);
  micropip.destroy();
  const namespace = pyodide.globals.get("dict")();
  pyodide.runPython(GLUE, { globals: namespace });
  const timings = { pyodideMs: booted - start, installMs: performance.now() - booted };
  return new Webinfer(pyodide, namespace, timings);
}

class Webinfer {
  constructor(pyodide, namespace, timings) {
    this.pyodide = pyodide;
    this.timings = timings;
    this.fns = Object.fromEntries(
      ["wi_session", "wi_describe", "wi_run"].map((name) => [name, namespace.get(name)]),
    );
  }

  /** A session for ONNX model bytes; options: { backend: "auto" | "wasm" | ..., threads }. */
  session(modelBytes, { backend = "auto", threads = null } = {}) {
    const start = performance.now();
    const proxy = this.fns.wi_session(new Uint8Array(modelBytes), backend, threads);
    const loadMs = performance.now() - start;
    return new Session(proxy, this.fns, loadMs, false);
  }

  /** The same through a promising call (JSPI), so Python may wait on promises: needed by webgpu. */
  async sessionAsync(modelBytes, { backend = "auto", threads = null } = {}) {
    const start = performance.now();
    const proxy = await this.fns.wi_session.callPromising(new Uint8Array(modelBytes), backend, threads);
    const loadMs = performance.now() - start;
    return new Session(proxy, this.fns, loadMs, true);
  }
}

class Session {
  constructor(proxy, fns, loadMs, promising) {
    this.proxy = proxy;
    this.fns = fns;
    this.loadMs = loadMs;
    this.promising = promising; // made by sessionAsync: run it with runAsync
    Object.assign(this, fns.wi_describe(proxy)); // inputs, outputs, backend, threads
  }

  /** Run synchronously. feeds: {name: TypedArray}; shapes: {name: dims}, needed for symbolic dims. */
  run(feeds, shapes = {}) {
    const entries = this.entries(feeds, shapes);
    const start = performance.now();
    const raw = this.fns.wi_run(this.proxy, entries);
    this.lastRunMs = performance.now() - start;
    return decode(this.outputs, raw);
  }

  /** Run through a promising call (JSPI), as sessions from sessionAsync need. */
  async runAsync(feeds, shapes = {}) {
    const entries = this.entries(feeds, shapes);
    const start = performance.now();
    const raw = await this.fns.wi_run.callPromising(this.proxy, entries);
    this.lastRunMs = performance.now() - start;
    return decode(this.outputs, raw);
  }

  entries(feeds, shapes) {
    return this.inputs.map(({ name }) => {
      if (!(name in feeds)) throw new Error(`missing input '${name}'`);
      return [name, bytesOf(feeds[name]), shapes[name] ?? null];
    });
  }

  close() {
    this.proxy.destroy();
  }
}

function decode(outputs, raw) {
  return Object.fromEntries(
    raw.map(([bytes, dims], i) => {
      const { name, type } = outputs[i];
      return [name, { type, dims, data: typedArray(type, bytes) }];
    }),
  );
}
