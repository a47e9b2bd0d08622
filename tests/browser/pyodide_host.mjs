// Python in Pyodide with webinfer installed, for tests/browser/test_webgpu_pyodide.py, in two
// runtimes: a headless Chromium page (pyodide_host.html) and Node with Dawn (pyodide_host_node.mjs).
// `startPython` resolves to call(code, args, sync): run `code` (async Python, or synchronous when
// `sync`, the way a plain JS call enters Python) in one globals dict kept across calls, with `args`
// (a string) in it; returns {result} (the last expression) or {error, type} (the Python exception).
import { loadWebinfer } from "../../demo/webinfer-core.mjs";

/** read(path relative to the checkout) -> Promise<Uint8Array>: `from test_host import read` in Python. */
export async function startPython(options, read) {
  const { pyodide } = await loadWebinfer(options);
  pyodide.registerJsModule("test_host", { read });
  const globals = pyodide.globals.get("dict")();
  return async (code, args = "", sync = false) => {
    globals.set("args", args);
    try {
      const result = sync ? pyodide.runPython(code, { globals }) : await pyodide.runPythonAsync(code, { globals });
      return { result };
    } catch (e) {
      return { error: e.message, type: e.type ?? e.name };
    }
  };
}
