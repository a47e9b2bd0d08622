// webinfer in Pyodide for any JavaScript context (a page's main thread, a Web Worker, Node): load
// the runtime, install the webinfer wheel, create sessions and run them with typed arrays.
// webinfer-worker.mjs and the benchmark pages build on this module.
//
//   const wi = await loadWebinfer({ pyodideIndexURL, wheelURL });
//   const s = wi.session(modelBytes, { backend: "auto", threads: 1 });
//   const outputs = s.run({ input: new Float32Array(64) }, { input: [1, 1, 8, 8] });
//   // outputs: { logits: { type: "float32", dims: [1, 10], data: Float32Array } }
//
// The webgpu backend waits on WebGPU's promises: creating a session compiles shaders inside Python
// (Pyodide's run_sync, i.e. JSPI), which only a promising call allows: `await wi.sessionAsync(...)`.
// `await s.runAsync(...)` awaits each run's readback here in JS (Python starts and finishes the run),
// which costs microseconds where run_sync costs about 0.1 ms.

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
        "plansPerShape": session.plans_per_shape,
    }
    return to_js(info, dict_converter=js.Object.fromEntries)


def _feeds(session, entries):
    feeds = {}
    for arg, (name, raw, shape) in zip(session.get_inputs(), entries.to_py(), strict=True):
        fmt = _dtype(arg.type).struct_char
        feeds[name] = raw.cast(fmt) if shape is None else raw.cast(fmt, shape)
    return feeds


def _packed(outputs):
    # [bytes, dims] per output (names and types are the session's, known to JS): to_js copies each
    # buffer into a fresh Uint8Array, ~5x cheaper per run than filling a JsProxy array inside to_js.
    views = [memoryview(out) for out in outputs]
    return to_js([[view.cast("B"), list(view.shape)] for view in views])


def wi_run(session, entries):
    return _packed(session.run(None, _feeds(session, entries)))


_started = {}  # session -> its run begun by wi_start, until wi_finish


def wi_start(session, entries):
    """The first half of a run: [wait], a function whose promise JS awaits (undefined: nothing to
    wait for). Returned inside a JS array: a PyProxy would cost more to read."""
    started = _started[session] = session.start(None, _feeds(session, entries))
    return to_js([started.wait])


def wi_finish(session, value):
    return _packed(_started.pop(session).finish(value))
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
      ["wi_session", "wi_describe", "wi_run", "wi_start", "wi_finish"].map((name) => [name, namespace.get(name)]),
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
    this.queue = Promise.resolve(); // the end of the last runAsync
    this.planned = new Set(); // input shapes runAsync ran: their plans exist, nothing to compile
    Object.assign(this, fns.wi_describe(proxy)); // inputs, outputs, backend, threads, plansPerShape
  }

  /** Run synchronously. feeds: {name: TypedArray}; shapes: {name: dims}, needed for symbolic dims. */
  run(feeds, shapes = {}) {
    const entries = this.entries(feeds, shapes);
    const start = performance.now();
    const raw = this.fns.wi_run(this.proxy, entries);
    this.lastRunMs = performance.now() - start;
    return decode(this.outputs, raw);
  }

  /**
   * Run, awaiting the device here (sessions from sessionAsync need it); runs of a session queue.
   * A new input shape starts through a promising call, as its plan compiles shaders, which waits
   * inside Python; shapes run before start with a plain call (a promising one costs ~40 us more).
   */
  runAsync(feeds, shapes = {}) {
    const entries = this.entries(feeds, shapes);
    const key = this.plansPerShape && JSON.stringify(entries.map(([, bytes, dims]) => [bytes.length, dims]));
    const run = this.queue.then(async () => {
      const start = performance.now();
      const [wait] = this.planned.has(key)
        ? this.fns.wi_start(this.proxy, entries)
        : await this.fns.wi_start.callPromising(this.proxy, entries);
      const raw = this.fns.wi_finish(this.proxy, wait && (await wait()));
      this.lastRunMs = performance.now() - start;
      if (key) this.planned.add(key);
      return decode(this.outputs, raw);
    });
    this.queue = run.catch(() => {});
    return run;
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
