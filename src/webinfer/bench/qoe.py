"""Page experience (`webinfer bench --qoe`): what inference does to a page's frames and input.

demo/bench/qoe.html animates an element with requestAnimationFrame and has a button. For each
scenario the page is loaded afresh, the engine opened and warmed up, then inference runs back to
back (yielding to the event loop between runs) for a fixed time while real mouse clicks are
dispatched through the DevTools protocol (`Input.dispatchMouseEvent`) at random moments. Scenarios:
idle (no inference), then webinfer and onnxruntime-web each on the main thread and in a Web Worker.
"""

from __future__ import annotations

import random
import time
from typing import Any

from .browser import call, chromium, page_job, serve
from .results import ERROR, OK, UNAVAILABLE
from .stats import median, percentile
from .targets import Paths, Target, chromium_problem, problem

FRAME_MS = 1000 / 60
# rAF timestamps are vsync-aligned: an interval over 1.5 frames means at least one vsync was missed,
# which is what "a frame over 16.7 ms" means on a 60 Hz display (plain jitter stays far below).
MISSED_VSYNC_MS = 1.5 * FRAME_MS
LONG_FRAME_MS = 50.0  # the Long Animation Frames threshold
CLICK_GAP_S = (0.15, 0.35)  # random gaps, so clicks do not lock onto the inference period
THREADS = 1  # one thread everywhere: the main thread's share of the work is what is compared

SCENARIOS: dict[str, Target | None] = {
    "idle": None,
    "webinfer-main": Target("pyodide-chromium", "webinfer", "chromium", "wasm"),
    "webinfer-worker": Target("pyodide-chromium-worker", "webinfer", "chromium", "wasm", where="worker"),
    "ort-web-main": Target("ort-web-wasm", "onnxruntime", "chromium", "wasm"),
    "ort-web-worker": Target("ort-web-wasm", "onnxruntime", "chromium", "wasm", where="worker"),
}


def click(driver: Any, x: float, y: float) -> None:
    """A real left click at (x, y): trusted events through the browser's input pipeline."""
    for kind in ("mousePressed", "mouseReleased"):
        driver.execute_cdp_cmd(
            "Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
        )


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Frame rate, long-frame shares, input-delay and inference statistics of one window."""
    frames, delays, times = raw["frame_intervals_ms"], raw["input_delays_ms"], raw["inference_ms"]
    n = len(frames) or 1
    return {
        "fps": 1000 * len(frames) / raw["elapsed_ms"],
        "frames": len(frames),
        "long_frames_16ms": sum(f > MISSED_VSYNC_MS for f in frames) / n,
        "long_frames_50ms": sum(f > LONG_FRAME_MS for f in frames) / n,
        "worst_frame_ms": max(frames, default=0.0),
        "input_delay_ms": {
            "median": median(delays) if delays else None,
            "p90": percentile(delays, 90) if delays else None,
            "max": max(delays, default=None),
            "n": len(delays),
        },
        "inferences": len(times),
        "inference_ms_median": median(times) if times else None,
    }


def run_scenario(
    driver: Any, base: str, job: dict[str, Any], target: Target | None, seconds: float, rng: random.Random
) -> dict[str, Any]:
    driver.get(f"{base}/demo/bench/qoe.html")
    if target is not None:
        job = {**job, "engine": target.engine, "backend": target.backend, "ep": target.backend,
               "where": target.where, "threads": THREADS}  # fmt: skip
    else:
        job = {"engine": None}
    where = call(driver, "qoePrepare", job)
    if "unavailable" in where:
        return {"status": UNAVAILABLE, "reason": where["unavailable"]}
    if "error" in where:
        return {"status": ERROR, "reason": where["error"][:2000]}
    driver.execute_script("window.qoeStart()")
    deadline = time.monotonic() + seconds
    while time.monotonic() + CLICK_GAP_S[1] < deadline:
        time.sleep(rng.uniform(*CLICK_GAP_S))
        click(driver, where["x"], where["y"])
    time.sleep(max(0.0, deadline - time.monotonic()))
    raw = call(driver, "qoeStop")
    return {"status": OK, "reason": None, **summarize(raw)}


def run_qoe(
    paths: Paths, job: dict[str, Any], seconds: float, flags: tuple[str, ...], scenarios: tuple[str, ...] = ()
) -> dict[str, Any]:
    """All scenarios (or the named ones) in one headless Chromium; unavailable ones keep a reason."""
    names = scenarios or tuple(SCENARIOS)
    report: dict[str, Any] = {
        "seconds": seconds,
        "threads": THREADS,
        "click_gap_s": list(CLICK_GAP_S),
        "scenarios": [],
    }
    if reason := chromium_problem():
        report["scenarios"] = [{"scenario": n, "status": UNAVAILABLE, "reason": reason} for n in names]
        return report
    rng = random.Random(0)
    with serve(paths.root) as base, chromium(flags) as driver:
        page = page_job(job, base, paths)
        for name in names:
            target = SCENARIOS[name]
            reason = problem(target, paths) if target else None
            try:
                result = (
                    {"status": UNAVAILABLE, "reason": reason}
                    if reason
                    else run_scenario(driver, base, page, target, seconds, rng)
                )
            except Exception as exc:  # one failing scenario must not stop the others
                result = {"status": ERROR, "reason": f"{type(exc).__name__}: {exc}"[:2000]}
            report["scenarios"].append({"scenario": name, **result})
    return report
