"""The webgpu backend: tuned WGSL matmul throughput against torch, and model latency against native.

    python benchmarks/bench_webgpu.py [--sizes 512 1024 2048 4096] [--models mlp,resnet18]
        [--budget 5] [--runs 10] [--json out.json]

Matmul: one plan holding a square float32 GEMM, its tiles tuned on the adapter (within --budget
seconds, in a fresh tuning cache so the tuning time is real), timed on the kernel alone (no
uploads or readback), checked against numpy; TFLOP/s, the tile chosen and the tuning time. torch
runs the same product in float32 on the CPU and, when CUDA is present, through cuBLAS with TF32
off (the ratio webgpu/cuBLAS). Sizes whose estimated kernel time passes --max-seconds are skipped
(lavapipe runs a few GFLOP/s).
--sweep N times every tile of the search space on an N^3 product (to choose defaults for an adapter).
Models: the model set's first sample; median latency of session.run (uploads and readback
included) on webgpu against the native backend; the tuning time of the webgpu plan; the webgpu
output's relative error against onnxruntime. Next to it the same network in torch eager float32,
rebuilt by scripts/make_models.py with the seeds of its export (checked against onnxruntime's
outputs): on CUDA with TF32 off, with the inputs resident and with the copies session.run makes
(the like-for-like figure), and on the CPU. A missing native build, torch or CUDA is reported and
the rest still runs. Models come from --models-dir (e.g. `python3 scripts/make_models.py --out DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import astuple
from functools import partial
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np

import webinfer
from webinfer.backends import unavailable_reason
from webinfer.backends.webgpu import WebGPUBackend
from webinfer.dtypes import DType
from webinfer.kernels import GemmParams, Kernel
from webinfer.plan import FIRST_IO, Plan, Step, TensorRef, step_flops
from webinfer.testing import MODEL_NAMES, ensure_models, load_manifest, load_samples, model_path, rel_error
from webinfer.webgpu import matmul, tuning

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "scripts"))  # make_models.py: the torch modules the model set was exported from


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gemm_plan(n: int) -> Plan:
    refs = [TensorRef(FIRST_IO + i, 0, DType.FLOAT, (n, n)) for i in range(3)]
    params = GemmParams((), (), (), n, n, n, 0, 0, 1.0, 0.0, 0, 0)
    return Plan([Step(Kernel.GEMM, tuple(refs), params)], 0, b"", ["a", "b"], ["y"], refs[:2], refs[2:])


def webgpu_matmul(n: int, budget: float) -> dict[str, Any]:
    """Tuning time, chosen tile and kernel TFLOP/s of an n^3 GEMM, after checking one product
    against numpy."""
    plan = gemm_plan(n)
    backend = WebGPUBackend(tune_budget_s=budget)
    compiled = backend.compile(plan)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    y = np.empty((n, n), np.float32)
    backend.execute(compiled, [memoryview(a), memoryview(b)], [memoryview(y)])
    if rel_error(y, a @ b) > 1e-4:
        raise SystemExit(f"webgpu GEMM is wrong at n={n}")
    seconds = backend.kernel_seconds(compiled, min_seconds=0.2)
    problem = matmul.problem(plan.steps[0])
    assert problem is not None
    tile = tuning.TuningCache(tuning.cache_path()).get(backend.gpu.name, problem.signature)
    tile = tile or tuning.default_tile(n, n, backend.gpu.limits, backend.gpu.software)
    return {"tflops": 2 * n**3 / seconds / 1e12, "tuning_s": compiled.tuning_s, "tile": astuple(tile)}


def torch_matmul(n: int, runs: int) -> dict[str, float]:
    """float32 TFLOP/s of torch on the CPU and, where available, of cuBLAS on CUDA with TF32 off
    (CUDA events around batches of products; the median batch)."""
    try:
        import torch
    except ImportError:
        return {}
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = {"torch_cpu": 2 * n**3 / median_seconds(lambda: a @ b, runs) / 1e12}
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        ga, gb = a.cuda(), b.cuda()
        ga @ gb
        reps = max(10, int(1e12 / (2 * n**3)))  # about 20 ms per batch on a 50 TFLOP/s GPU
        batches = []
        for _ in range(max(3, runs)):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                ga @ gb
            end.record()
            torch.cuda.synchronize()
            batches.append(start.elapsed_time(end) / 1e3 / reps)
        out["torch_cuda"] = 2 * n**3 / statistics.median(batches) / 1e12
    return out


def bench_matmul(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows, rate = [], None
    for n in args.sizes:
        if rate and 2 * n**3 / rate / 1e12 > args.max_seconds:
            print(f"{n:5d}  skipped: about {2 * n**3 / rate / 1e12:.0f} s per product at {rate:.3f} TFLOP/s")
            continue
        row: dict[str, Any] = {"n": n, **webgpu_matmul(n, args.budget), **torch_matmul(n, args.runs)}
        rate = row["tflops"]
        rows.append(row)
        others = "  ".join(f"{k} {row[k]:7.3f}" for k in ("torch_cpu", "torch_cuda") if k in row)
        ratio = f"  webgpu/cuBLAS {row['tflops'] / row['torch_cuda']:5.2f}" if "torch_cuda" in row else ""
        print(
            f"{n:5d}  webgpu {row['tflops']:7.3f}  {others}  (TFLOP/s){ratio}  "
            f"tile {row['tile']}  tuning {row['tuning_s']:.1f} s"
        )
    return rows


def sweep(n: int) -> list[dict[str, Any]]:
    """Kernel TFLOP/s of every tile of the search space that fits the adapter, for an n^3 GEMM."""
    backend, plan, rows = WebGPUBackend(tune_budget_s=0), gemm_plan(n), []
    signature = matmul.problem(plan.steps[0]).signature  # type: ignore[union-attr]
    for tile in tuning.SPACE:
        if tile.fits(backend.gpu.limits):
            tuning.TuningCache(tuning.cache_path()).put(backend.gpu.name, signature, tile)
            seconds = backend.kernel_seconds(backend.compile(plan), min_seconds=0.2)
            rows.append({"tile": astuple(tile), "tflops": 2 * n**3 / seconds / 1e12})
            print(f"{n:5d}  {tile}  {rows[-1]['tflops']:7.3f} TFLOP/s")
    return rows


def webgpu_backend(session: webinfer.InferenceSession) -> WebGPUBackend:
    backend = session._backend  # private: the session exposes no backend accessor
    assert isinstance(backend, WebGPUBackend)
    return backend


def profile(session: webinfer.InferenceSession, top: int = 5) -> list[dict[str, Any]]:
    """The slowest steps of the session's last plan, each with its kernel time (and GFLOP/s)."""
    plan, compiled = next(reversed(session._plans.values()))  # private, as above
    backend, cache = webgpu_backend(session), tuning.TuningCache(tuning.cache_path())
    rows: list[dict[str, Any]] = []
    for step, seconds in zip(plan.steps, backend.step_seconds(compiled), strict=True):
        flops, tile = step_flops(step), ""
        if (problem := matmul.problem(step)) is not None:
            found = cache.get(backend.gpu.name, problem.signature)
            tile = str(astuple(found)) if found else "default"
        rows.append({"step": step.origin or step.kernel.name, "kernel": step.kernel.name,
                     "us": seconds * 1e6, "gflops": flops / seconds / 1e9, "tile": tile})  # fmt: skip
    rows.sort(key=lambda r: -r["us"])
    total = sum(r["us"] for r in rows)
    print(f"  kernels {total:.0f} us in {len(rows)} steps; slowest:")
    for r in rows[:top]:
        print(
            f"    {r['us']:9.1f} us  {r['kernel']:9s} {r['gflops']:9.1f} GFLOP/s  {r['tile']:22s} {r['step']}"
        )
    return rows[:top]


def torch_outputs(result: Any) -> list[np.ndarray]:
    return [t.cpu().numpy() for t in (result if isinstance(result, tuple) else (result,))]


def max_error(got: list[np.ndarray], expected: dict[str, np.ndarray]) -> float:
    return max(rel_error(a, b) for a, b in zip(got, expected.values(), strict=True))


def torch_latency(
    name: str, feeds: dict[str, np.ndarray], expected: dict[str, np.ndarray], runs: int
) -> dict[str, Any]:
    """Median ms of the exported network in torch eager float32: on the CPU, and on CUDA (TF32 off,
    cuDNN autotuned as webgpu's tiles are, synchronised) with the inputs resident and with the
    copies session.run also makes (numpy in, numpy out). `torch_note` says why a figure is missing."""
    try:
        import make_models  # scripts/: rebuilds the module with the seeds of its export
        import torch
    except ImportError as exc:
        return {"torch_note": f"torch is unavailable ({exc})"}
    try:
        recipe = make_models.recipe(name)
    except make_models.Unbuildable as exc:
        return {"torch_note": str(exc)}
    module, names = recipe.module.eval(), recipe.input_names
    row: dict[str, Any] = {}
    with torch.inference_mode():
        host = [torch.from_numpy(feeds[n]) for n in names]
        row["torch_rel_error"] = max_error(torch_outputs(module(*host)), expected)
        if row["torch_rel_error"] > 1e-4:  # make_models.py checked export and torch at this bound
            return {**row, "torch_note": "the rebuilt torch module is not the exported network"}
        row["torch_cpu_ms"] = median_seconds(lambda: module(*host), runs) * 1e3
        if not torch.cuda.is_available():
            why = "a CPU-only build" if torch.version.cuda is None else "no CUDA device"
            return {**row, "torch_note": f"torch CUDA is unavailable ({why})"}
        # TF32 off through the flags the matmul section sets too: torch refuses a mix of these and
        # the newer fp32_precision settings
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        gpu = module.cuda()
        resident = [t.cuda() for t in host]

        def kernels() -> None:
            gpu(*resident)
            torch.cuda.synchronize()

        row["torch_cuda_rel_error"] = max_error(torch_outputs(gpu(*resident)), expected)
        row["torch_cuda_ms"] = median_seconds(kernels, runs) * 1e3
        row["torch_cuda_copies_ms"] = (
            median_seconds(lambda: torch_outputs(gpu(*(t.cuda() for t in host))), runs) * 1e3
        )
    return row


def bench_model(
    row: dict[str, Any], models_dir: Path, args: argparse.Namespace, native_reason: str | None
) -> None:
    """One model into `row` as figures come: webgpu (first run with planning and tuning, then the
    median), native, torch."""
    name = row["model"]
    feeds, expected = (sample := load_samples(models_dir, name)[0]).feeds, sample.outputs
    path = str(model_path(models_dir, name))
    start = time.perf_counter()
    session = webinfer.InferenceSession(path, backend="webgpu")
    outputs = session.run(None, feeds)  # plans (and tunes) here when shapes are dynamic
    row["webgpu_first_s"] = time.perf_counter() - start
    row["tuning_s"] = webgpu_backend(session).tuning_s
    row["rel_error"] = max_error([np.asarray(a) for a in outputs], expected)
    row["webgpu_ms"] = median_seconds(partial(session.run, None, feeds), args.runs) * 1e3
    native = f"(native: {native_reason})"
    if native_reason is None:
        other = webinfer.InferenceSession(path, backend="native")
        row["native_ms"] = median_seconds(partial(other.run, None, feeds), args.runs) * 1e3
        native = (
            f"native {row['native_ms']:9.2f} ms  webgpu/native {row['webgpu_ms'] / row['native_ms']:7.2f}"
        )
    print(
        f"{name:14s} webgpu {row['webgpu_ms']:9.2f} ms  {native}  "
        f"tuning {row['tuning_s']:5.2f} s  first run {row['webgpu_first_s']:5.2f} s  "
        f"error {row['rel_error']:.1e}"
    )
    if args.profile:
        row["profile"] = profile(session)
    row.update(torch_latency(name, feeds, expected, args.runs))
    cells = []
    if "torch_cuda_ms" in row:
        cells.append(
            f"torch cuda {row['torch_cuda_copies_ms']:9.2f} ms with copies"
            f" ({row['torch_cuda_ms']:.2f} resident)"
            f"  webgpu/torch-cuda {row['webgpu_ms'] / row['torch_cuda_copies_ms']:7.2f}"
            f"  error {row['torch_cuda_rel_error']:.1e}"
        )
    if "torch_cpu_ms" in row:
        cells.append(f"torch cpu {row['torch_cpu_ms']:9.2f} ms")
    print(f"{'':14s} " + "  ".join([*cells, row.get("torch_note", "")]).strip())


def bench_models(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each model in turn; one that fails or is missing is reported and the others still run."""
    models_dir = args.models_dir or ensure_models(ROOT)
    built = load_manifest(models_dir)["models"]
    native_reason = unavailable_reason("native")
    rows = []
    for name in args.models:
        if name not in built:
            print(f"{name:14s} skipped: not in {models_dir} (see scripts/make_models.py's output)")
            continue
        rows.append(row := {"model": name})
        try:
            bench_model(row, models_dir, args, native_reason)
        except Exception as exc:  # a bench run reports every model it can, and what it got of this one
            row["error"] = f"{type(exc).__name__}: {exc}"
            print(f"{name:14s} FAILED: {row['error']}")
    print_table(rows)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The per-model medians side by side (ms; '-' where a target did not run)."""
    columns = (
        ("webgpu", "webgpu_ms"),
        ("torch cuda+copies", "torch_cuda_copies_ms"),
        ("torch cuda", "torch_cuda_ms"),
        ("native", "native_ms"),
        ("torch cpu", "torch_cpu_ms"),
    )
    print("\nmedian ms " + "".join(f"{title:>19s}" for title, _ in columns) + "  webgpu/torch-cuda+copies")
    for row in rows:
        cells = "".join(f"{row[key]:19.3f}" if key in row else f"{'-':>19s}" for _, key in columns)
        ratio = (
            f"{row['webgpu_ms'] / row['torch_cuda_copies_ms']:10.2f}" if "torch_cuda_copies_ms" in row else ""
        )
        print(f"{row['model']:10s}{cells}  {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[512, 1024, 2048, 4096])
    parser.add_argument("--models", type=lambda s: s.split(",") if s else [], default=list(MODEL_NAMES))
    parser.add_argument(
        "--budget", type=float, default=tuning.DEFAULT_BUDGET_S, help="tuning seconds per plan"
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=5.0, help="skip larger products past this")
    parser.add_argument("--models-dir", type=Path, help="a built model set (default: build .models/)")
    parser.add_argument("--profile", action="store_true", help="time each model's steps alone")
    parser.add_argument("--sweep", type=int, help="also time every tile for a product of this size")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    reason = WebGPUBackend.available()
    if reason is not None:
        raise SystemExit(f"no WebGPU adapter: {reason}")
    with (
        tempfile.TemporaryDirectory() as cache,
        patch.dict(os.environ, {tuning.CACHE_ENV: cache, tuning.BUDGET_ENV: str(args.budget)}),
    ):
        print(f"adapter: {WebGPUBackend.adapter_name()}; tuning budget {args.budget} s per plan, fresh cache")
        results = {"adapter": WebGPUBackend.adapter_name(), "budget_s": args.budget}
        results["matmul"] = bench_matmul(args)
        if args.sweep:
            results["sweep"] = sweep(args.sweep)
        if args.models:  # --models '' runs the matmul part alone
            results["models"] = bench_models(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
