// pyodide_host.mjs in Node with Dawn's navigator.gpu: one JSON request per stdin line
// ({code, args, sync}), one JSON answer per stdout line, after a first {ready: true}.
//   node pyodide_host_node.mjs '{"root": CHECKOUT, "dist": PYODIDE_DIR/, "wheel": WHL, "dawn": INDEX_JS}'
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { installDawn } from "../../demo/bench/dawn.mjs";
import { startPython } from "./pyodide_host.mjs";

const { root, dist, wheel, dawn } = JSON.parse(process.argv[2]);
await installDawn(dawn);
const bytes = new Uint8Array(await readFile(wheel));
const call = await startPython({ pyodideIndexURL: dist, wheel: { name: basename(wheel), bytes } }, async (path) =>
  new Uint8Array(await readFile(join(root, path))),
);
console.log(JSON.stringify({ ready: true }));
for await (const line of createInterface({ input: process.stdin })) {
  const { code, args, sync } = JSON.parse(line);
  console.log(JSON.stringify(await call(code, args, sync)));
}
process.exit(); // stdin closed; the Dawn device would keep the event loop alive
