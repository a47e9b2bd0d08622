// Counts the WebAssembly linear memory of this JS context (page, worker or Node process), for the
// benchmark's memory column. Importing this module wraps WebAssembly's constructors so that every
// memory created or exported afterwards is recorded; import it before any engine loads. Linear
// memory only grows, so its size at the end of a run is also its peak.

const memories = new Set();

function track(instance) {
  for (const value of Object.values(instance.exports)) {
    if (value instanceof WebAssembly.Memory) memories.add(value);
  }
}

WebAssembly.Memory = new Proxy(WebAssembly.Memory, {
  construct(target, args) {
    const memory = Reflect.construct(target, args);
    memories.add(memory);
    return memory;
  },
});
WebAssembly.Instance = new Proxy(WebAssembly.Instance, {
  construct(target, args) {
    const instance = Reflect.construct(target, args);
    track(instance);
    return instance;
  },
});
for (const name of ["instantiate", "instantiateStreaming"]) {
  const original = WebAssembly[name];
  if (!original) continue; // Node has no instantiateStreaming before v18
  WebAssembly[name] = async (...args) => {
    const result = await original(...args);
    track(result.instance ?? result); // (bytes) -> {module, instance}; (module) -> instance
    return result;
  };
}

/** Bytes of all linear memories seen so far (a shared memory counts once). */
export function wasmMemoryBytes() {
  let total = 0;
  for (const memory of memories) total += memory.buffer.byteLength;
  return total;
}
