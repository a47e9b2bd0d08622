"""Median latency per model: webinfer's native backend against onnxruntime at equal thread counts.

Both engines run the model set's first sample of each model (batch 1; BERT at seq 128) after a
warm-up, and webinfer's outputs are checked against onnxruntime's on the way. A model the engine
cannot run yet shows its error instead of a time; the other measurements go on.

    python benchmarks/bench_models.py [--models mlp,resnet18] [--threads 1 2] [--runs 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from webinfer.testing import MODEL_NAMES, Sample, ensure_models, load_samples, model_path, rel_error

ROOT = Path(__file__).resolve().parents[1]
MIN_RUNS = 3  # even when one run takes longer than the time budget

Runner = Callable[[dict[str, np.ndarray]], list[Any]]


def onnxruntime_session(path: Path, threads: int) -> Runner:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(None, feeds)


def webinfer_session(path: Path, threads: int) -> Runner:
    import webinfer  # imported here so onnxruntime's numbers still come when the engine fails to import

    session = webinfer.InferenceSession(str(path), backend="native", threads=threads)
    return lambda feeds: session.run(None, feeds)


def measure(
    make: Callable[[Path, int], Runner], path: Path, threads: int, sample: Sample, args: argparse.Namespace
) -> dict[str, Any]:
    """Load time, first-run time (planning included), median of the timed runs, and output error."""
    try:
        t0 = time.perf_counter()
        run = make(path, threads)
        t1 = time.perf_counter()
        outputs = run(sample.feeds)
        t2 = time.perf_counter()
        error = max(
            rel_error(np.asarray(a), b) for a, b in zip(outputs, sample.outputs.values(), strict=True)
        )
        for _ in range(args.warmup):
            run(sample.feeds)
        times: list[float] = []
        deadline = time.perf_counter() + args.max_seconds
        while len(times) < args.runs and (len(times) < MIN_RUNS or time.perf_counter() < deadline):
            start = time.perf_counter()
            run(sample.feeds)
            times.append(time.perf_counter() - start)
    except Exception as e:  # report and go on: the engine may be incomplete
        return {"error": f"{type(e).__name__}: {e}"}
    return {
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "runs": len(times),
        "load_ms": (t1 - t0) * 1e3,
        "first_run_ms": (t2 - t1) * 1e3,
        "rel_error": error,
    }


def cell(result: dict[str, Any]) -> str:
    return f"{result['median_ms']:.3f}" if "median_ms" in result else "error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default=",".join(MODEL_NAMES), help="comma-separated subset of the model set"
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per measurement (at most)")
    parser.add_argument("--max-seconds", type=float, default=3.0, help="time budget per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs after the first")
    parser.add_argument("--models-dir", type=Path, help="an existing model set (default: build .models/)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    models_dir = args.models_dir or ensure_models(ROOT)

    header = (
        f"{'model':<14}{'threads':>8}{'webinfer ms':>14}{'onnxruntime ms':>16}{'ratio':>8}{'rel err':>10}"
    )
    print(header, "-" * len(header), sep="\n")
    results = []
    for name in args.models.split(","):
        path, sample = model_path(models_dir, name), load_samples(models_dir, name)[0]
        for threads in args.threads:
            ours = measure(webinfer_session, path, threads, sample, args)
            theirs = measure(onnxruntime_session, path, threads, sample, args)
            ratio = (
                ours["median_ms"] / theirs["median_ms"]
                if "median_ms" in ours and "median_ms" in theirs
                else None
            )
            error = f"{ours['rel_error']:.1e}" if "rel_error" in ours else "-"
            ratio_text = f"{ratio:.2f}" if ratio is not None else "-"
            print(f"{name:<14}{threads:>8}{cell(ours):>14}{cell(theirs):>16}{ratio_text:>8}{error:>10}")
            for engine, result in (("webinfer", ours), ("onnxruntime", theirs)):
                if "error" in result:
                    print(f"    {engine}: {result['error'][:200]}")
            results.append(
                {"model": name, "threads": threads, "webinfer": ours, "onnxruntime": theirs, "ratio": ratio}
            )

    if args.json:
        report = {
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "cpus": os.cpu_count(),
            },
            "versions": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "onnxruntime": ort.__version__,
            },
            "settings": {k: v for k, v in vars(args).items() if k in ("runs", "max_seconds", "warmup")},
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
