// webinfer-worker.mjs plus a `memory` op for the benchmark: the worker's WebAssembly memory in
// bytes. wasm-memory.mjs is imported first so that it wraps WebAssembly before Pyodide loads.
import { wasmMemoryBytes } from "./wasm-memory.mjs";
import { handlers } from "../webinfer-worker.mjs";

handlers.memory = () => ({ wasmBytes: wasmMemoryBytes() });
