"""Targets that run under CPython: webinfer's backends and onnxruntime, each in a fresh subprocess.

A subprocess per measurement keeps them apart: one engine's thread pool, allocator state or peak
memory never shows up in another's numbers. The child resets its peak RSS (Linux
/proc/self/clear_refs) right before loading the model, so the reported growth is the load and the
runs alone. It prints one JSON record, the same as the Node and browser runners.

    python -m webinfer.bench.native JOB.json
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .inputs import Inputs
from .results import Measurement, encode_outputs
from .targets import Target

MIN_RUNS = 3  # even past the time budget, as in demo/bench/engines.mjs
Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def _status_bytes(field: str) -> int:
    """A size line of /proc/self/status (VmRSS, VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _open(job: dict[str, Any]) -> tuple[Run, str, int | None]:
    """(run, backend that ran, threads it started) for the job's engine."""
    threads = job["threads"]
    if job["engine"] == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(job["model"], options, providers=[job["backend"]])
        names = [o.name for o in session.get_outputs()]
        provider = session.get_providers()[0].removesuffix("ExecutionProvider").lower()
        return lambda feeds: dict(zip(names, session.run(None, feeds), strict=True)), provider, threads

    import webinfer

    wsession = webinfer.InferenceSession(job["model"], backend=job["backend"], threads=threads)
    names = [o.name for o in wsession.get_outputs()]
    started = wsession.threads  # what the backend really started
    return lambda feeds: dict(zip(names, wsession.run(None, feeds), strict=True)), wsession.backend, started


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """The child's work: load, first run, timed runs, evaluation set; the raw JSON record."""
    with np.load(job["inputs"]) as data:
        feeds = {k[5:]: data[k] for k in data.files if k.startswith("feed:")}
        eval_feeds = {k[5:]: data[k] for k in data.files if k.startswith("eval:")}
    runtime_ms = None  # webinfer is imported already (this module is part of it); its backend loads in _open
    if job["engine"] == "onnxruntime":
        start = time.perf_counter()
        import onnxruntime  # noqa: F401

        runtime_ms = (time.perf_counter() - start) * 1e3
    baseline = _status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    start = time.perf_counter()
    run, backend, threads_used = _open(job)
    load_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    outputs = run(feeds)
    first_ms = (time.perf_counter() - start) * 1e3
    times_ms: list[float] = []
    deadline = time.perf_counter() + job["maxSeconds"]
    while len(times_ms) < job["runs"] and (len(times_ms) < MIN_RUNS or time.perf_counter() < deadline):
        start = time.perf_counter()
        run(feeds)
        times_ms.append((time.perf_counter() - start) * 1e3)
    eval_outputs = run(eval_feeds) if eval_feeds else None
    return {
        "runtime_ms": runtime_ms,
        "load_ms": load_ms,
        "first_ms": first_ms,
        "times_ms": times_ms,
        "backend": backend,
        "threads_used": threads_used,
        "memory": {"peak_rss_growth_bytes": _status_bytes("VmHWM") - baseline},
        "outputs": encode_outputs({k: np.asarray(v) for k, v in outputs.items()}),
        "eval_outputs": encode_outputs({k: np.asarray(v) for k, v in eval_outputs.items()})
        if eval_outputs
        else None,
    }


def save_inputs(inputs: Inputs, path: Path) -> None:
    arrays = {f"feed:{k}": v for k, v in inputs.feeds.items()}
    arrays.update({f"eval:{k}": v for k, v in (inputs.eval_feeds or {}).items()})
    np.savez(path, **arrays)


def run_process(
    target: Target, threads: int | None, model: Path, inputs_npz: Path, shared: dict[str, Any], workdir: Path
) -> Measurement:
    """Measure one (target, threads) in a subprocess; RuntimeError with its stderr if it fails.
    `shared` is the workspace job: runs and maxSeconds are taken from it."""
    job = {"engine": target.engine, "backend": target.backend, "threads": threads, "runs": shared["runs"],
           "maxSeconds": shared["maxSeconds"], "model": str(model), "inputs": str(inputs_npz)}  # fmt: skip
    job_path = workdir / "native-job.json"
    job_path.write_text(json.dumps(job))
    done = subprocess.run(
        [sys.executable, "-m", "webinfer.bench.native", str(job_path)], capture_output=True, text=True
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-1500:]}")
    return Measurement.from_record(json.loads(lines[-1]))


def main() -> None:
    try:
        record = measure(json.loads(Path(sys.argv[1]).read_text()))
    except Exception as exc:  # reported as the target's error, like a failing browser target
        record = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
