// A module Web Worker that runs webinfer (in Pyodide) off the page's main thread, so inference never
// blocks rendering or input. Use it through webinfer-client.mjs.
//
// Protocol: each request {id, op, ...args} is answered by {id, result} or {id, error}. Ops:
//   init    {pyodideIndexURL, wheelURL}   -> {timings: {pyodideMs, installMs}}
//   session {model: bytes, options}       -> {id, inputs, outputs, backend, threads, loadMs}
//   run     {session, feeds, shapes}      -> {outputs: {name: {type, dims, data}}, runMs}
//   close   {session}                     -> null
// `handlers` is exported so that a wrapping worker module can add ops (the benchmark adds one).
import { loadWebinfer } from "./webinfer-core.mjs";

let webinfer = null;
const sessions = new Map();
let nextSession = 1;

function sessionById(id) {
  const session = sessions.get(id);
  if (!session) throw new Error(`no session ${id}`);
  return session;
}

export const handlers = {
  async init({ pyodideIndexURL, wheelURL }) {
    webinfer ??= await loadWebinfer({ pyodideIndexURL, wheelURL });
    return { timings: webinfer.timings };
  },
  async session({ model, options }) {
    if (!webinfer) throw new Error("init first");
    // webgpu waits on GPU promises inside Python: a promising call (JSPI)
    const session =
      options?.backend === "webgpu" ? await webinfer.sessionAsync(model, options) : webinfer.session(model, options);
    const id = nextSession++;
    sessions.set(id, session);
    const { inputs, outputs, backend, threads, loadMs } = session;
    return { id, inputs, outputs, backend, threads, loadMs };
  },
  async run({ session, feeds, shapes }) {
    const s = sessionById(session);
    const outputs = s.promising ? await s.runAsync(feeds, shapes) : s.run(feeds, shapes);
    return { outputs, runMs: s.lastRunMs };
  },
  close({ session }) {
    sessionById(session).close();
    sessions.delete(session);
    return null;
  },
};

self.onmessage = async ({ data }) => {
  const { id, op } = data;
  try {
    if (!Object.hasOwn(handlers, op)) throw new Error(`unknown op '${op}'`);
    const result = await handlers[op](data);
    // Output arrays are fresh copies: hand their memory over instead of cloning it.
    const transfer = op === "run" ? Object.values(result.outputs).map((o) => o.data.buffer) : [];
    self.postMessage({ id, result }, transfer);
  } catch (e) {
    self.postMessage({ id, error: e?.message ?? String(e) });
  }
};
