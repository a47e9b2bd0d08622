// One benchmark job in Node: Pyodide from the local dist, the wheel read from disk (Node's fetch
// cannot read files). The peak RSS is reset just before the model loads (Linux: /proc/self/clear_refs)
// so that `peak_rss_growth_bytes` covers the load and the runs alone, as for the native targets.
// A job with `dawn` (the path of the npm package webgpu's index.js) gets Dawn's navigator.gpu first,
// for the webgpu backend; that needs a Node with JSPI (25+).
//   node demo/bench/node-driver.mjs JOB.json   -> one JSON line on stdout
import { readFile, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { installDawn } from "./dawn.mjs";
import { loadJobData, measure, openEngine } from "./engines.mjs";

async function read(path) {
  const bytes = await readFile(path);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

/** A size field of /proc/self/status (VmRSS, VmHWM) in bytes. */
async function procStatusBytes(field) {
  const status = await readFile("/proc/self/status", "utf8");
  return Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))[1]) * 1024;
}

const job = JSON.parse(await readFile(process.argv[2], "utf8"));
let record;
try {
  if (job.dawn) await installDawn(job.dawn);
  const wheel = { name: basename(job.wheelPath), bytes: new Uint8Array(await read(job.wheelPath)) };
  const [engine, data] = await Promise.all([openEngine({ ...job, wheel }), loadJobData(job, read)]);
  const baseline = await procStatusBytes("VmRSS");
  await writeFile("/proc/self/clear_refs", "5"); // VmHWM := VmRSS
  record = await measure(engine, job, data);
  record.memory.peak_rss_growth_bytes = (await procStatusBytes("VmHWM")) - baseline;
} catch (e) {
  record = { error: e?.stack ?? String(e) };
}
// A Dawn device keeps the event loop alive, so exit, but only once the line is out: a pipe takes a
// long line (base64 outputs) in pieces, and exiting earlier cuts it.
process.stdout.write(`${JSON.stringify(record)}\n`, () => process.exit());
