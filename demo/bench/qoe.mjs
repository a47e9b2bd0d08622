// The page-experience scenario page. The Python harness (src/webinfer/bench/qoe.py) loads it once per
// scenario, then: qoePrepare(job) opens the engine (none for "idle") and runs it once; qoeStart()
// starts inference back to back; meanwhile it clicks #target through the DevTools protocol;
// qoeStop() ends the loop and returns the frame intervals, the input delays and inference times.
import { openEngine, loadJobData } from "./engines.mjs";
import { startAnimation } from "../frames.mjs";

const animation = startAnimation(document.getElementById("spinner"));
const status = document.getElementById("status");
let delays = [];
let session = null;
let feeds = null;
let loop = null;
let running = false;
let startedAt = 0;

// Input delay: from the event's platform timestamp (when the browser received the dispatched
// input) to this handler running on the main thread.
document.getElementById("target").addEventListener("click", (event) => {
  delays.push(performance.now() - event.timeStamp);
});

// Give the event loop a turn between inferences (input, rendering), as a well-behaved page would:
// a message task queues behind what is already waiting. (Not scheduler.yield(): its continuation
// outranks ordinary tasks, so the harness's own script calls would starve; not setTimeout: its
// 4 ms clamp would leave gaps between inferences.)
const channel = new MessageChannel();
const yieldToPage = () =>
  new Promise((resolve) => {
    channel.port1.onmessage = resolve;
    channel.port2.postMessage(null);
  });

window.qoePrepare = async (job) => {
  try {
    if (job.engine) {
      const [engine, data] = await Promise.all([openEngine(job), loadJobData(job)]);
      session = await engine.open(data.model);
      feeds = data.feeds;
      await session.run(feeds); // warm-up, outside the measured window
    }
    const box = document.getElementById("target").getBoundingClientRect();
    return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
  } catch (e) {
    return e?.name === "Unavailable" ? { unavailable: e.message } : { error: e?.stack ?? String(e) };
  }
};

window.qoeStart = () => {
  running = true;
  delays = [];
  const times = [];
  startedAt = performance.now();
  animation.take();
  status.textContent = session ? "inference running" : "idle";
  loop = (async () => {
    while (running && session) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
      await yieldToPage();
    }
    return times;
  })();
};

window.qoeStop = async () => {
  running = false;
  const times = await loop;
  const elapsed = performance.now() - startedAt;
  status.textContent = "stopped";
  return { elapsed_ms: elapsed, frame_intervals_ms: animation.take(), input_delays_ms: delays, inference_ms: times };
};
