// WebGPU for Pyodide in Node: Dawn (Chrome's WebGPU implementation) from the npm package `webgpu`
// (dawn.node) as `navigator.gpu`, with its GPU* classes as globals, as a browser has them. Node 21+
// has a `navigator` without `gpu`; older ones get a plain object. The device keeps Node's event loop
// alive, so a script that installed it ends with process.exit().
//
//   await installDawn("/path/to/node_modules/webgpu/index.js");  // then webinfer's backend "webgpu"
import { pathToFileURL } from "node:url";

/** Install Dawn's navigator.gpu; `options` are dawn.node's (e.g. "backend=vulkan", "adapter=NAME"). */
export async function installDawn(modulePath, options = []) {
  const { create, globals } = await import(pathToFileURL(modulePath).href);
  Object.assign(globalThis, globals);
  const gpu = create(options);
  if (globalThis.navigator) Object.defineProperty(globalThis.navigator, "gpu", { value: gpu, configurable: true });
  else globalThis.navigator = { gpu };
  return gpu;
}
