"""What a benchmark run produces: per-target results, accuracy against onnxruntime, ratios, and the
JSON report (whose shape `check_report` pins down, for the tests and for anyone reading the file).

Every runner (subprocess, Node, Chromium) reports the same raw JSON record, so statistics and
accuracy are computed here once, the same way for all targets.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .stats import median, percentile, ratio

SCHEMA = "webinfer-bench/1"
OK, UNAVAILABLE, ERROR = "ok", "unavailable", "error"
NATIVE, ORT = "webinfer-native", "onnxruntime"  # the targets the ratios are taken against


class Unavailable(Exception):
    """A target that turns out, only when started, not to be runnable here (e.g. no WebGPU adapter)."""


@dataclass
class Reference:
    """onnxruntime's outputs for the same feeds: the accuracy oracle."""

    outputs: dict[str, np.ndarray]
    eval_outputs: dict[str, np.ndarray] | None = None
    labels: np.ndarray | None = None


@dataclass
class Measurement:
    """One target's raw report, before statistics and accuracy."""

    load_ms: float
    first_ms: float
    times_ms: list[float]
    backend: str
    threads_used: int | None
    memory: dict[str, Any]
    outputs: dict[str, np.ndarray]
    eval_outputs: dict[str, np.ndarray] | None = None
    runtime_ms: float | None = None

    @classmethod
    def from_record(cls, raw: dict[str, Any]) -> Measurement:
        """From the JSON record every runner produces (outputs as base64 of their raw bytes); a
        record {"unavailable": why} raises Unavailable and {"error": what} RuntimeError."""
        if "unavailable" in raw:
            raise Unavailable(raw["unavailable"])
        if "error" in raw:
            raise RuntimeError(raw["error"])
        return cls(
            load_ms=raw["load_ms"],
            first_ms=raw["first_ms"],
            times_ms=list(raw["times_ms"]),
            backend=raw["backend"],
            threads_used=raw.get("threads_used"),
            memory=raw.get("memory", {}),
            outputs=decode_outputs(raw["outputs"]),
            eval_outputs=decode_outputs(raw["eval_outputs"]) if raw.get("eval_outputs") else None,
            runtime_ms=raw.get("runtime_ms"),
        )


def encode_outputs(outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "type": str(a.dtype),
            "dims": list(a.shape),
            "b64": base64.b64encode(a.tobytes()).decode(),
        }
        for name, a in outputs.items()
    ]


def decode_outputs(encoded: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {
        e["name"]: np.frombuffer(base64.b64decode(e["b64"]), dtype=e["type"]).reshape(e["dims"])
        for e in encoded
    }


@dataclass
class Result:
    """One row of the report: a target at one thread count, measured or with the reason it was not."""

    target: str
    threads: int | None  # requested; None for targets without a thread setting
    status: str  # OK, UNAVAILABLE or ERROR
    reason: str | None = None
    backend: str | None = None  # what actually ran: webinfer backend or onnxruntime execution provider
    threads_used: int | None = None  # what the engine reports it started
    runtime_ms: float | None = None  # engine start before any model: Pyodide + wheel, ort-web import
    load_ms: float | None = None
    first_ms: float | None = None
    median_ms: float | None = None
    p90_ms: float | None = None
    times_ms: list[float] = field(default_factory=list)
    memory_bytes: int | None = None  # the headline figure; `memory` says what it counts
    memory: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    vs_webinfer_native: float | None = None  # median / webinfer-native's median at the same threads
    vs_onnxruntime: float | None = None


def headline_memory(memory: dict[str, Any]) -> int | None:
    """Peak RSS growth where the process is ours to read (subprocess, Node); in a browser, the growth
    of WebAssembly memory plus the main thread's JS heap (a page's renderer process is not ours)."""
    if "peak_rss_growth_bytes" in memory:
        return int(memory["peak_rss_growth_bytes"])
    if "wasm_growth_bytes" in memory:
        return int(memory["wasm_growth_bytes"]) + int(memory.get("js_heap_growth_bytes", 0))
    return None


def accuracy(
    outputs: dict[str, np.ndarray], eval_outputs: dict[str, np.ndarray] | None, ref: Reference
) -> dict[str, float]:
    """Max abs and max rel error (|a - r| / max|r|, scale-free) over all outputs; with an evaluation
    set, top-1 agreement with onnxruntime and accuracy against the labels, from the first output."""
    max_abs = max_rel = 0.0
    for name, expected in ref.outputs.items():
        got = outputs[name].astype(np.float64)
        diff = float(np.max(np.abs(got - expected.astype(np.float64)))) if expected.size else 0.0
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
        max_abs, max_rel = max(max_abs, diff), max(max_rel, diff / (scale or 1.0))
    result = {"max_abs": max_abs, "max_rel": max_rel}
    if ref.eval_outputs is not None and eval_outputs is not None:
        name = next(iter(ref.eval_outputs))
        top1 = eval_outputs[name].argmax(-1)
        result["top1_agreement"] = float(np.mean(top1 == ref.eval_outputs[name].argmax(-1)))
        if ref.labels is not None:
            result["accuracy"] = float(np.mean(top1 == ref.labels))
    return result


def measured(target: str, threads: int | None, m: Measurement, ref: Reference | None) -> Result:
    return Result(
        target,
        threads,
        OK,
        backend=m.backend,
        threads_used=m.threads_used,
        runtime_ms=m.runtime_ms,
        load_ms=m.load_ms,
        first_ms=m.first_ms,
        median_ms=median(m.times_ms),
        p90_ms=percentile(m.times_ms, 90),
        times_ms=m.times_ms,
        memory_bytes=headline_memory(m.memory),
        memory=m.memory,
        accuracy=accuracy(m.outputs, m.eval_outputs, ref) if ref else {},
    )


def add_ratios(results: list[Result]) -> None:
    """Fill vs_webinfer_native / vs_onnxruntime: medians over the baseline's at the same requested
    thread count (targets without one compare with the 1-thread baseline)."""
    medians = {(r.target, r.threads): r.median_ms for r in results if r.status == OK}
    for r in results:
        threads = r.threads if r.threads is not None else 1
        r.vs_webinfer_native = ratio(r.median_ms, medians.get((NATIVE, threads)))
        r.vs_onnxruntime = ratio(r.median_ms, medians.get((ORT, threads)))


def make_report(
    model: dict[str, Any],
    settings: dict[str, Any],
    machine: dict[str, Any],
    results: list[Result],
    qoe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "model": model,
        "settings": settings,
        "machine": machine,
        "results": [asdict(r) for r in results],
        "qoe": qoe,
    }


_RESULT_FIELDS = set(Result.__dataclass_fields__)
_REQUIRED_OK = ("backend", "load_ms", "first_ms", "median_ms", "p90_ms")


def check_report(report: dict[str, Any]) -> None:
    """Raise ValueError naming the first thing that breaks the report's documented shape."""
    if report.get("schema") != SCHEMA:
        raise ValueError(f"schema is {report.get('schema')!r}, expected {SCHEMA!r}")
    for key in ("model", "settings", "machine", "results"):
        if key not in report:
            raise ValueError(f"missing '{key}'")
    for row in report["results"]:
        where = f"result {row.get('target')!r} (threads {row.get('threads')})"
        if set(row) != _RESULT_FIELDS:
            raise ValueError(f"{where}: fields {sorted(set(row) ^ _RESULT_FIELDS)} differ from Result")
        if row["status"] == OK:
            missing = [k for k in _REQUIRED_OK if row[k] is None]
            if missing or not row["times_ms"]:
                raise ValueError(f"{where}: measured but lacks {missing or ['times_ms']}")
            if not row["p90_ms"] >= row["median_ms"] > 0:
                raise ValueError(f"{where}: needs p90 >= median > 0")
        elif row["status"] in (UNAVAILABLE, ERROR):
            if not row["reason"]:
                raise ValueError(f"{where}: {row['status']} without a reason")
        else:
            raise ValueError(f"{where}: unknown status {row['status']!r}")
