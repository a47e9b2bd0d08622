// A requestAnimationFrame loop that animates an element and records frame intervals: a frame rate
// meter for the demo and the frame measurements of the page-experience (QoE) benchmark. The angle
// follows the clock, so a stalled main thread shows as a jump, as users would see it.

export function startAnimation(element) {
  let intervals = [];
  let last = null;
  let running = true;
  const frame = (now) => {
    if (!running) return;
    if (last !== null) intervals.push(now - last);
    last = now;
    element.style.transform = `rotate(${(now * 0.36) % 360}deg)`; // one turn a second
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  return {
    /** The intervals (ms) recorded since the last take(), and start afresh. */
    take() {
      const taken = intervals;
      intervals = [];
      return taken;
    },
    stop() {
      running = false;
    },
  };
}

/** Frames per second over a list of intervals (ms). */
export function framesPerSecond(intervals) {
  const total = intervals.reduce((sum, x) => sum + x, 0);
  return total > 0 ? (1000 * intervals.length) / total : 0;
}
