// The engines the benchmark compares, behind one interface, shared by the benchmark page, the QoE
// page and the Node driver:
//
//   const engine = await openEngine(job);          // runtime started: Pyodide + wheel, or ort-web
//   const session = await engine.open(modelBytes);
//   const outputs = await session.run(feeds);      // feeds and outputs: {name: {type, dims, data}}
//
// `job` comes from the Python harness (src/webinfer/bench); docs/BENCH.md lists its fields.
// wasm-memory.mjs is imported first: it must wrap WebAssembly before any engine instantiates.
import { wasmMemoryBytes } from "./wasm-memory.mjs";
import { loadWebinfer, typedArray } from "../webinfer-core.mjs";
import { WebinferWorker } from "../webinfer-client.mjs";

/** A target this context cannot run (the harness reports the message as the reason). */
export class Unavailable extends Error {
  name = "Unavailable";
}

/** Start the runtime a job names; `runtimeMs` is that start-up, before any model is loaded. */
export async function openEngine(job) {
  const start = performance.now();
  const open = job.engine === "onnxruntime" ? openOrt : job.where === "worker" ? openWorker : openInline;
  const engine = await open(job);
  engine.runtimeMs = performance.now() - start;
  return engine;
}

function splitFeeds(feeds) {
  const values = {};
  const shapes = {};
  for (const [name, { dims, data }] of Object.entries(feeds)) {
    values[name] = data;
    shapes[name] = dims;
  }
  return [values, shapes];
}

// webinfer in this context's own Pyodide (page main thread or Node).
async function openInline(job) {
  const { pyodideIndexURL, wheelURL, wheel } = job;
  const webinfer = await loadWebinfer({ pyodideIndexURL, wheelURL, wheel });
  // webgpu waits on GPU promises inside Python: promising calls (JSPI) for it alone.
  const promising = job.backend === "webgpu";
  return {
    async open(model) {
      const options = { backend: job.backend, threads: job.threads };
      const session = promising ? await webinfer.sessionAsync(model, options) : webinfer.session(model, options);
      // Kernel workers start only once this context returns to its event loop; until then the
      // calling thread would run every task alone.
      await new Promise((resolve) => setTimeout(resolve, 0));
      return {
        backend: session.backend,
        threads: session.threads,
        run: promising
          ? (feeds) => session.runAsync(...splitFeeds(feeds))
          : async (feeds) => session.run(...splitFeeds(feeds)),
      };
    },
    memory: async () => wasmMemoryBytes(),
  };
}

// webinfer in a Web Worker through the page-author API; the worker module adds a `memory` op.
async function openWorker(job) {
  const client = await WebinferWorker.create({
    pyodideIndexURL: job.pyodideIndexURL,
    wheelURL: job.wheelURL,
    workerURL: new URL("./measured-worker.mjs", import.meta.url),
  });
  return {
    async open(model) {
      const session = await client.session(model, { backend: job.backend, threads: job.threads });
      return {
        backend: session.backend,
        threads: session.threads,
        run: (feeds) => session.run(...splitFeeds(feeds)),
      };
    },
    memory: async () => (await client.call("memory")).wasmBytes,
  };
}

// onnxruntime-web from the local npm dist: the wasm EP (threads only when crossOriginIsolated) or
// WebGPU; where === "worker" uses ort-web's own proxy worker.
async function openOrt(job) {
  let backend = job.ep;
  if (job.ep === "webgpu") {
    const adapter = await globalThis.navigator?.gpu?.requestAdapter();
    if (!adapter) throw new Unavailable("no WebGPU adapter in this browser (requestAdapter() gave null)");
    const { vendor, architecture } = adapter.info; // e.g. "google", "swiftshader": a CPU fallback
    backend = `webgpu (${[vendor, architecture].filter(Boolean).join(" ") || "unknown adapter"})`;
  }
  const ort = await import(`${job.ortURL}ort.${job.ep === "webgpu" ? "webgpu" : "wasm"}.min.mjs`);
  ort.env.wasm.wasmPaths = job.ortURL;
  ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? job.threads : 1;
  const proxy = job.where === "worker";
  ort.env.wasm.proxy = proxy;
  return {
    async open(model) {
      const options = { executionProviders: [job.ep] };
      const session = await ort.InferenceSession.create(new Uint8Array(model).slice(), options);
      return {
        backend,
        threads: ort.env.wasm.numThreads,
        async run(feeds) {
          const tensors = {};
          for (const [name, { type, dims, data }] of Object.entries(feeds)) {
            // The proxy worker takes ownership of input buffers: hand it a copy each run.
            tensors[name] = new ort.Tensor(type, proxy ? data.slice() : data, dims);
          }
          const result = await session.run(tensors);
          return Object.fromEntries(
            session.outputNames.map((n) => [n, { type: result[n].type, dims: result[n].dims, data: result[n].data }]),
          );
        },
      };
    },
    memory: async () => wasmMemoryBytes(),
  };
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

function decodeFeeds(blob, specs) {
  return Object.fromEntries(
    specs.map(({ name, dtype, shape, offset, nbytes }) => [
      name,
      { type: dtype, dims: shape, data: typedArray(dtype, new Uint8Array(blob, offset, nbytes)) },
    ]),
  );
}

/** The model bytes and the feeds of a job; `read(url)` defaults to fetch (Node passes a file reader). */
export async function loadJobData(job, read = fetchBytes) {
  const [model, blob] = await Promise.all([read(job.model), read(job.inputs)]);
  return {
    model,
    feeds: decodeFeeds(blob, job.feeds),
    evalFeeds: job.evalFeeds ? decodeFeeds(blob, job.evalFeeds) : null,
  };
}

function base64(data) {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function encodeOutputs(outputs) {
  return Object.entries(outputs).map(([name, { type, dims, data }]) => ({
    name,
    type,
    dims: [...dims].map(Number),
    b64: base64(data),
  }));
}

const MIN_RUNS = 3; // even past the time budget

/**
 * Load the model, run it once (warm-up), then `job.runs` more timed runs, stopping early (after at
 * least MIN_RUNS) once `job.maxSeconds` have passed. Outputs go back as base64.
 */
export async function measure(engine, job, data) {
  const before = await engine.memory();
  let start = performance.now();
  const session = await engine.open(data.model);
  const loadMs = performance.now() - start;
  start = performance.now();
  const first = await session.run(data.feeds);
  const firstMs = performance.now() - start;
  const timesMs = [];
  const deadline = performance.now() + 1000 * job.maxSeconds;
  while (timesMs.length < job.runs && (timesMs.length < MIN_RUNS || performance.now() < deadline)) {
    start = performance.now();
    await session.run(data.feeds);
    timesMs.push(performance.now() - start);
  }
  const evalOutputs = data.evalFeeds ? await session.run(data.evalFeeds) : null;
  const after = await engine.memory();
  return {
    runtime_ms: engine.runtimeMs,
    load_ms: loadMs,
    first_ms: firstMs,
    times_ms: timesMs,
    backend: session.backend,
    threads_used: session.threads,
    memory: { wasm_bytes: after, wasm_growth_bytes: after - before },
    outputs: encodeOutputs(first),
    eval_outputs: evalOutputs && encodeOutputs(evalOutputs),
  };
}
