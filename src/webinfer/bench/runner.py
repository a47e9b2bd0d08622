"""`webinfer bench MODEL.onnx`: one model on every target available here, side by side.

Targets run one after another, each in its own process (subprocess, Node, fresh Chromium), from one
workspace under build/bench/ that scripts/serve.py serves to the browser targets. A target that
cannot run is reported with the reason, never dropped. See docs/BENCH.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .browser import page_job, run_chromium, serve
from .inputs import Inputs, describe, load_inputs, pack
from .native import run_process, save_inputs
from .node import run_node
from .report import render, render_qoe
from .results import (
    ERROR,
    UNAVAILABLE,
    Measurement,
    Reference,
    Result,
    Unavailable,
    add_ratios,
    check_report,
    make_report,
    measured,
)
from .targets import TARGETS, Paths, Target, problem


@dataclass
class BenchOptions:
    model: Path
    runs: int = 20
    max_seconds: float = 30.0  # per target: stop the timed runs early (after 3) past this
    threads: tuple[int, ...] = (1,)
    targets: tuple[Target, ...] = TARGETS
    json_path: Path | None = None
    plots_dir: Path | None = None
    qoe: bool = False
    qoe_seconds: float = 3.0
    wheel: Path | None = None
    chromium_flags: tuple[str, ...] = field(default_factory=tuple)


def default_threads() -> tuple[int, ...]:
    """1 and every core: the two ends of the scaling curve."""
    return tuple(sorted({1, os.cpu_count() or 1}))


def reference(model: Path, inputs: Inputs) -> tuple[Reference | None, str]:
    """onnxruntime with graph rewrites off (each node as the ONNX spec defines it), 1 thread: the
    accuracy oracle, as in scripts/make_models.py. Returns (reference or None, its description)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "nothing (onnxruntime is not installed: accuracy not computed)"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    ref = Reference(dict(zip(names, session.run(None, inputs.feeds), strict=True)), labels=inputs.labels)
    if inputs.eval_feeds is not None:
        ref.eval_outputs = dict(zip(names, session.run(None, inputs.eval_feeds), strict=True))
    return ref, f"onnxruntime {ort.__version__} (graph optimizations off, 1 thread)"


@dataclass
class Workspace:
    """The run's files under build/bench/, relative to the checkout, plus the JSON-able job
    fields every Node/browser runner shares."""

    folder: Path
    job: dict[str, Any]
    inputs_npz: Path


@contextlib.contextmanager
def workspace(paths: Paths, model: Path, inputs: Inputs, options: BenchOptions) -> Iterator[Workspace]:
    parent = paths.root / "build" / "bench"
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=parent))
    try:
        shutil.copyfile(model, folder / "model.onnx")
        blob, feeds, eval_feeds = pack(inputs)
        (folder / "inputs.bin").write_bytes(blob)
        save_inputs(inputs, folder / "inputs.npz")
        wheel = None
        if paths.wheel is not None and paths.wheel.is_file():
            wheel = folder / paths.wheel.name
            shutil.copyfile(paths.wheel, wheel)

        def rel(path: Path) -> str:
            return path.relative_to(paths.root).as_posix()

        job = {
            "runs": options.runs,
            "maxSeconds": options.max_seconds,
            "model": rel(folder / "model.onnx"),
            "inputs": rel(folder / "inputs.bin"),
            "feeds": feeds,
            "evalFeeds": eval_feeds,
            "wheelFile": rel(wheel) if wheel else None,
        }
        yield Workspace(folder, job, folder / "inputs.npz")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _version(command: list[str]) -> str | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "node": _version(["node", "--version"]) if shutil.which("node") else None,
        "chromium": _version(["chromium", "--version"]) if shutil.which("chromium") else None,
    }


def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Measure every (target, threads), print the table, write JSON and plots; returns the report."""
    paths = Paths.discover(options.wheel)
    inputs = load_inputs(options.model)
    ref, ref_text = reference(options.model, inputs)
    problems = {t.name: problem(t, paths) for t in options.targets}
    plan = [(t, n) for t in options.targets for n in (options.threads if t.threaded else (None,))]
    results: list[Result] = []
    qoe = None
    with workspace(paths, options.model, inputs, options) as ws, contextlib.ExitStack() as stack:
        base: str | None = None
        progress = tqdm(plan, file=sys.stderr, unit="target", leave=False, dynamic_ncols=True, disable=None)
        for target, threads in progress:
            progress.set_description(target.name + (f" x{threads}" if threads else ""))
            if reason := problems[target.name]:
                results.append(Result(target.name, threads, UNAVAILABLE, reason))
                continue
            try:
                if target.runner == "chromium" and base is None:
                    base = stack.enter_context(serve(paths.root))
                m = _measure(target, threads, options, paths, ws, base)
                results.append(measured(target.name, threads, m, ref))
            except Unavailable as exc:
                results.append(Result(target.name, threads, UNAVAILABLE, str(exc)))
            except Exception as exc:  # one failing target must not stop the others
                results.append(Result(target.name, threads, ERROR, f"{type(exc).__name__}: {exc}"[:2000]))
        progress.close()
        if options.qoe:
            from .qoe import run_qoe

            qoe = run_qoe(paths, ws.job, options.qoe_seconds, options.chromium_flags)
    add_ratios(results)
    model = {
        "path": str(options.model),
        "name": options.model.name,
        "size_bytes": options.model.stat().st_size,
        "inputs": describe(inputs.feeds),
        "input_source": inputs.source,
    }
    settings = {
        "runs": options.runs,
        "max_seconds": options.max_seconds,
        "threads": list(options.threads),
        "targets": [t.name for t in options.targets],
        "wheel": paths.wheel.name if paths.wheel else None,
        "chromium_flags": list(options.chromium_flags),
        "reference": ref_text,
    }
    report = make_report(model, settings, machine(), results, qoe)
    check_report(report)
    print(render(report))
    if qoe is not None:
        print("\n" + render_qoe(qoe))
    if options.json_path:
        options.json_path.write_text(json.dumps(report, indent=1) + "\n")
        print(f"\nJSON: {options.json_path}")
    if options.plots_dir:
        from .plots import plot_report

        for path in plot_report(report, options.plots_dir):
            print(f"plot: {path}")
    return report


def _measure(
    target: Target, threads: int | None, options: BenchOptions, paths: Paths, ws: Workspace, base: str | None
) -> Measurement:
    if target.runner == "process":
        return run_process(target, threads, options.model, ws.inputs_npz, ws.job, ws.folder)
    if target.runner == "node":
        return run_node(target, threads, ws.job, paths, ws.folder)
    assert base is not None
    return run_chromium(target, threads, page_job(ws.job, base, paths), base, options.chromium_flags)
