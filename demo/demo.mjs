// The webinfer demo page: draw, pick or drop an 8x8 digit and classify it with the digits CNN
// (lenet_digits) on every backend this browser offers: webinfer in a Web Worker (wasm kernels with
// 1 and N threads, WebGPU when the wheel's backends run it here) and onnxruntime-web for reference.
// The spinning square and its frame-rate meter show that worker inference leaves the page smooth.
//
// Served from the repository root by scripts/serve.py (COOP/COEP, so threads may be used). Query
// parameters: ?wheel=URL (default: the newest wheels/webinfer-*-py3-none-any.whl), ?model=URL.
import { WebinferWorker } from "./webinfer-client.mjs";
import { DigitPad } from "./digit-pad.mjs";
import { framesPerSecond, startAnimation } from "./frames.mjs";

const params = new URLSearchParams(location.search);
const ROOT = new URL("../", import.meta.url); // the served checkout
const MODEL_URL = params.get("model") ?? new URL(".models/lenet_digits.onnx", ROOT).href;
const PYODIDE_URL = new URL("build/pyodide/", ROOT).href;
const ORT_URL = new URL("browser/node_modules/onnxruntime-web/dist/", ROOT).href;
const RUNS = 20; // timed runs per backend and click; the median is shown
const CORES = navigator.hardwareConcurrency || 1;

const $ = (selector) => document.querySelector(selector);
const setState = (state) => (document.body.dataset.state = state);
const pad = new DigitPad($("#pad"));

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

// The newest pure wheel in wheels/, read from the dev server's directory listing.
async function findWheel() {
  if (params.has("wheel")) return params.get("wheel");
  const response = await fetch(new URL("wheels/", ROOT));
  const names = response.ok ? [...(await response.text()).matchAll(/href="(webinfer-[^"]+-py3-none-any\.whl)"/g)] : [];
  if (!names.length) throw new Error("no webinfer wheel in wheels/ (run scripts/build_wheel.sh)");
  return new URL(`wheels/${names.map((m) => m[1]).sort().at(-1)}`, ROOT).href;
}

// One Pyodide worker for all webinfer rows, started once.
let worker = null;
function webinferWorker() {
  worker ??= findWheel().then((wheelURL) => WebinferWorker.create({ pyodideIndexURL: PYODIDE_URL, wheelURL }));
  return worker;
}

async function webinferRow(model, backend, threads) {
  const session = await (await webinferWorker()).session(model, { backend, threads });
  const output = session.outputs[0].name;
  const note = threads && session.threads !== threads ? `ran ${session.threads} thread(s)` : "";
  return {
    note,
    run: async (x) => (await session.run({ input: x }, { input: [1, 1, 8, 8] }))[output].data,
  };
}

// webinfer's WebGPU row needs a hardware adapter: on Chrome's CPU fallback (SwiftShader) the tiled
// GEMM shaders take minutes to compile, and a CPU adapter only shares the cores with the wasm rows.
async function webinferGpuRow(model) {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter");
  if (adapter.info?.isFallbackAdapter) throw new Error("only a CPU fallback adapter (SwiftShader)");
  return webinferRow(model, "webgpu", null);
}

// onnxruntime-web, its WebGPU bundle (which has the wasm EP too), imported once.
let ortModule = null;
async function ortRow(model, ep) {
  if (ep === "webgpu" && !(await navigator.gpu?.requestAdapter())) throw new Error("no WebGPU adapter");
  ortModule ??= import(`${ORT_URL}ort.webgpu.min.mjs`).then((ort) => {
    ort.env.wasm.wasmPaths = ORT_URL;
    ort.env.wasm.numThreads = 1;
    return ort;
  });
  const ort = await ortModule;
  const session = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: [ep] });
  return {
    note: "",
    run: async (x) => {
      const result = await session.run({ input: new ort.Tensor("float32", x, [1, 1, 8, 8]) });
      return result[session.outputNames[0]].data;
    },
  };
}

const ROWS = [
  { id: "webinfer-wasm-1", label: "webinfer · wasm · 1 thread", open: (m) => webinferRow(m, "wasm", 1) },
  ...(CORES > 1
    ? [{ id: `webinfer-wasm-${CORES}`, label: `webinfer · wasm · ${CORES} threads`, open: (m) => webinferRow(m, "wasm", CORES) }]
    : []),
  { id: "webinfer-webgpu", label: "webinfer · WebGPU", open: webinferGpuRow },
  { id: "ort-wasm", label: "onnxruntime-web · wasm · 1 thread", open: (m) => ortRow(m, "wasm") },
  { id: "ort-webgpu", label: "onnxruntime-web · WebGPU", open: (m) => ortRow(m, "webgpu") },
];

function cell(row, name, text) {
  $(`#${row.id} .${name}`).textContent = text;
}

function softmax(logits) {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function showProbabilities(probabilities) {
  $("#bars").replaceChildren(
    ...probabilities.map((p, digit) => {
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.innerHTML = `<span>${digit}</span><i style="width:${(100 * p).toFixed(1)}%"></i><b>${(100 * p).toFixed(1)}%</b>`;
      return bar;
    }),
  );
}

async function classify() {
  setState("running");
  const x = pad.input();
  let shown = false;
  for (const row of ROWS.filter((r) => r.session)) {
    await row.session.run(x); // warm-up
    const times = [];
    let logits;
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      logits = await row.session.run(x);
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    const probabilities = softmax(logits);
    const digit = probabilities.indexOf(Math.max(...probabilities));
    cell(row, "prediction", `${digit} (${(100 * probabilities[digit]).toFixed(1)}%)`);
    cell(row, "latency", times[Math.floor(RUNS / 2)].toFixed(2));
    if (!shown) {
      // The first available row is the headline: webinfer's when the wheel is there.
      shown = true;
      $("#prediction").textContent = digit;
      $("#prediction").dataset.source = row.id;
      showProbabilities(probabilities);
    }
  }
  setState("done");
}

async function main() {
  setState("loading");
  const animation = startAnimation($("#spinner"));
  setInterval(() => ($("#fps").textContent = framesPerSecond(animation.take()).toFixed(0)), 500);

  $("#rows").replaceChildren(
    ...ROWS.map((row) => {
      const tr = document.createElement("tr");
      tr.id = row.id;
      tr.innerHTML = `<td>${row.label}</td><td class="prediction">loading…</td><td class="latency"></td><td class="note"></td>`;
      return tr;
    }),
  );

  const samples = (await (await fetch("data/digits.json")).json()).samples;
  $("#samples").replaceChildren(
    ...samples.map((sample, index) => {
      const button = document.createElement("button");
      button.className = "sample";
      button.dataset.index = index;
      button.title = `test digit ${sample.label}`;
      const thumb = document.createElement("canvas");
      thumb.width = thumb.height = 32;
      pad.render(thumb, sample.pixels);
      button.append(thumb);
      button.onclick = () => pad.set(sample.pixels);
      return button;
    }),
  );
  pad.set(samples[0].pixels);

  $("#clear").onclick = () => pad.clear();
  $("#file").onchange = (e) => e.target.files[0] && pad.importImage(e.target.files[0]);
  $("#pad").addEventListener("dragover", (e) => e.preventDefault());
  $("#pad").addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files[0]) pad.importImage(e.dataTransfer.files[0]);
  });
  $("#classify").onclick = () => classify().catch((e) => ($("#status").textContent = String(e)) && setState("error"));

  const model = await fetchBytes(MODEL_URL);
  const open = async (row) => {
    try {
      row.session = await row.open(model);
      cell(row, "prediction", "ready");
      cell(row, "note", row.session.note);
    } catch (e) {
      cell(row, "prediction", "not available");
      cell(row, "note", String(e.message ?? e).split("\n").filter(Boolean).at(-1));
    }
  };
  // Each engine opens its rows one at a time (ort-web's runtime initialises once, on the first
  // session); the two engines load side by side.
  const openAll = async (rows) => {
    for (const row of rows) await open(row);
  };
  await Promise.all(["webinfer", "ort"].map((engine) => openAll(ROWS.filter((r) => r.id.startsWith(engine)))));
  $("#status").textContent = crossOriginIsolated ? "ready (cross-origin isolated)" : "ready (not isolated: 1 thread)";
  $("#classify").disabled = false;
  setState("ready");
}

main().catch((e) => {
  $("#status").textContent = `failed: ${e.message ?? e}`;
  setState("error");
});
