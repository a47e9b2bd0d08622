// A small promise API over webinfer-worker.mjs, for page authors:
//
//   import { WebinferWorker } from "./webinfer-client.mjs";
//   const w = await WebinferWorker.create({ pyodideIndexURL, wheelURL });
//   const s = await w.session(modelBytes, { backend: "auto", threads: 1 });
//   const outputs = await s.run({ input: new Float32Array(64) }, { input: [1, 1, 8, 8] });
//   // outputs.logits = { type: "float32", dims: [1, 10], data: Float32Array }
//
// Inference runs in the worker: the page keeps rendering and answering input meanwhile. Feed arrays
// are copied to the worker (the caller keeps them); output arrays are transferred back.

export class WebinferWorker {
  /**
   * Start the worker, then Pyodide and the webinfer wheel inside it. URLs may be relative to the
   * page; `workerURL` lets a page use a worker module that extends webinfer-worker.mjs.
   */
  static async create({
    pyodideIndexURL,
    wheelURL,
    workerURL = new URL("./webinfer-worker.mjs", import.meta.url),
  }) {
    const client = new WebinferWorker(new Worker(workerURL, { type: "module" }));
    // The worker resolves relative URLs against its own location: resolve them here.
    const absolute = (url) => new URL(url, globalThis.location.href).href;
    const { timings } = await client.call("init", {
      pyodideIndexURL: absolute(pyodideIndexURL),
      wheelURL: absolute(wheelURL),
    });
    client.timings = timings;
    return client;
  }

  constructor(worker) {
    this.worker = worker;
    this.pending = new Map();
    this.nextId = 1;
    worker.onmessage = ({ data }) => {
      const request = this.pending.get(data.id);
      this.pending.delete(data.id);
      if ("error" in data) request.reject(new Error(data.error));
      else request.resolve(data.result);
    };
    // A worker that fails to load (or crashes) fails every request still waiting.
    worker.onerror = (event) => {
      const error = new Error(`webinfer worker failed: ${event.message ?? "could not load"}`);
      for (const request of this.pending.values()) request.reject(error);
      this.pending.clear();
    };
  }

  /** Send one request to the worker; resolves with its result. */
  call(op, args = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, ...args });
    });
  }

  /** A session for ONNX model bytes (ArrayBuffer or Uint8Array); options: {backend, threads}. */
  async session(modelBytes, options = {}) {
    const info = await this.call("session", { model: new Uint8Array(modelBytes), options });
    return new WorkerSession(this, info);
  }

  terminate() {
    this.worker.terminate();
  }
}

class WorkerSession {
  constructor(client, info) {
    this.client = client;
    Object.assign(this, info); // id, inputs, outputs, backend, threads, loadMs
  }

  /**
   * Run the model. feeds: {name: TypedArray}; shapes: {name: dims}, needed for symbolic dims.
   * Afterwards `lastRunMs` is the time inside the worker and `lastRoundTripMs` the page's wait.
   */
  async run(feeds, shapes = {}) {
    const start = performance.now();
    const { outputs, runMs } = await this.client.call("run", { session: this.id, feeds, shapes });
    this.lastRunMs = runMs;
    this.lastRoundTripMs = performance.now() - start;
    return outputs;
  }

  close() {
    return this.client.call("close", { session: this.id });
  }
}
