// The benchmark page's entry points, called by the Python harness through selenium:
//   benchPrepare(job) starts the runtime and fetches the model and inputs (not timed as load),
//   benchMeasure() loads the model and times it (engines.mjs `measure`).
// Between the two the harness reads the JS heap through the DevTools protocol.
// Failures come back as {error} or, for targets this browser cannot run, {unavailable}.
import { loadJobData, measure, openEngine } from "./engines.mjs";

let state = null;

function failure(e) {
  return e?.name === "Unavailable" ? { unavailable: e.message } : { error: e?.stack ?? String(e) };
}

window.benchPrepare = async (job) => {
  try {
    const [engine, data] = await Promise.all([openEngine(job), loadJobData(job)]);
    state = { engine, data, job };
    return { runtime_ms: engine.runtimeMs, isolated: crossOriginIsolated };
  } catch (e) {
    return failure(e);
  }
};

window.benchMeasure = async () => {
  try {
    return await measure(state.engine, state.job, state.data);
  } catch (e) {
    return failure(e);
  }
};
