"""The webgpu backend: tuned WGSL matmul throughput against torch, and model latency against native.

    python benchmarks/bench_webgpu.py [--sizes 512 1024 2048 4096] [--models mlp,resnet18]
        [--budget 5] [--runs 10] [--json out.json]

Matmul: one plan holding a square float32 GEMM, its tiles tuned on the adapter (within --budget
seconds, in a fresh tuning cache so the tuning time is real), timed on the kernel alone (no
uploads or readback), checked against numpy. torch runs the same product in float32 on the CPU and,
when CUDA is present, on the GPU with TF32 off. Sizes whose estimated kernel time passes
--max-seconds are skipped (lavapipe runs a few GFLOP/s).
--sweep N times every tile of the search space on an N^3 product (to choose defaults for an adapter).
Models: the model set's first sample; median latency of session.run (uploads and readback
included) on webgpu against the native backend; the tuning time of the webgpu plan; the webgpu
output's relative error against onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
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
from webinfer.plan import FIRST_IO, Plan, Step, TensorRef
from webinfer.testing import MODEL_NAMES, ensure_models, load_samples, model_path, rel_error
from webinfer.webgpu import matmul, tuning

ROOT = Path(__file__).resolve().parents[1]


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


def webgpu_matmul(n: int, budget: float) -> dict[str, float]:
    """Tuning time and kernel GFLOP/s of an n^3 GEMM, after checking one product against numpy."""
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
    return {"gflops": 2 * n**3 / seconds / 1e9, "tuning_s": compiled.tuning_s}


def torch_matmul(n: int, runs: int) -> dict[str, float]:
    """float32 GFLOP/s of torch on the CPU and, where available, on CUDA with TF32 off."""
    try:
        import torch
    except ImportError:
        return {}
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = {"torch_cpu": 2 * n**3 / median_seconds(lambda: a @ b, runs) / 1e9}
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        ga, gb = a.cuda(), b.cuda()

        def product() -> None:
            ga @ gb
            torch.cuda.synchronize()

        out["torch_cuda"] = 2 * n**3 / median_seconds(product, runs) / 1e9
    return out


def bench_matmul(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows, rate = [], None
    for n in args.sizes:
        if rate and 2 * n**3 / rate / 1e9 > args.max_seconds:
            print(f"{n:5d}  skipped: about {2 * n**3 / rate / 1e9:.0f} s per product at {rate:.1f} GFLOP/s")
            continue
        row: dict[str, Any] = {"n": n, **webgpu_matmul(n, args.budget), **torch_matmul(n, args.runs)}
        rate = row["gflops"]
        rows.append(row)
        ratios = "  ".join(
            f"webgpu/{k} {row['gflops'] / row[k]:6.3f}" for k in ("torch_cpu", "torch_cuda") if k in row
        )
        others = "  ".join(f"{k} {row[k]:9.1f}" for k in ("torch_cpu", "torch_cuda") if k in row)
        tuned = f"tuning {row['tuning_s']:.1f} s"
        print(f"{n:5d}  webgpu {row['gflops']:9.1f}  {others}  (GFLOP/s)  {ratios}  {tuned}")
    return rows


def sweep(n: int) -> list[dict[str, Any]]:
    """Kernel GFLOP/s of every tile of the search space that fits the adapter, for an n^3 GEMM."""
    backend, plan, rows = WebGPUBackend(tune_budget_s=0), gemm_plan(n), []
    signature = matmul.problem(plan.steps[0]).signature  # type: ignore[union-attr]
    for tile in tuning.SPACE:
        if tile.fits(backend.gpu.limits):
            tuning.TuningCache(tuning.cache_path()).put(backend.gpu.name, signature, tile)
            seconds = backend.kernel_seconds(backend.compile(plan), min_seconds=0.2)
            rows.append({"tile": astuple(tile), "gflops": 2 * n**3 / seconds / 1e9})
            print(f"{n:5d}  {tile}  {rows[-1]['gflops']:9.1f} GFLOP/s")
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
        flops, tile = 0, ""
        if step.kernel == Kernel.CONV:
            flops = 2 * math.prod(step.tensors[-1].shape) * math.prod(step.tensors[1].shape[1:])
        elif step.kernel == Kernel.GEMM:
            p: Any = step.params
            flops = 2 * p.M * p.N * p.K * math.prod(p.batch_dims)
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


def bench_models(args: argparse.Namespace) -> list[dict[str, Any]]:
    models_dir = args.models_dir or ensure_models(ROOT)
    native_reason = unavailable_reason("native")
    rows = []
    for name in args.models:
        feeds, expected = (sample := load_samples(models_dir, name)[0]).feeds, sample.outputs
        path = str(model_path(models_dir, name))
        row: dict[str, Any] = {"model": name}
        start = time.perf_counter()
        session = webinfer.InferenceSession(path, backend="webgpu")
        outputs = session.run(None, feeds)  # plans (and tunes) here when shapes are dynamic
        row["webgpu_first_s"] = time.perf_counter() - start
        row["tuning_s"] = webgpu_backend(session).tuning_s
        errors = [rel_error(np.asarray(a), b) for a, b in zip(outputs, expected.values(), strict=True)]
        row["rel_error"] = max(errors)
        row["webgpu_ms"] = median_seconds(partial(session.run, None, feeds), args.runs) * 1e3
        native = f"(native: {native_reason})"
        if native_reason is None:
            other = webinfer.InferenceSession(path, backend="native")
            row["native_ms"] = median_seconds(partial(other.run, None, feeds), args.runs) * 1e3
            native = (
                f"native {row['native_ms']:9.2f} ms  webgpu/native {row['webgpu_ms'] / row['native_ms']:7.2f}"
            )
        if args.profile:
            row["profile"] = profile(session)
        rows.append(row)
        print(
            f"{name:14s} webgpu {row['webgpu_ms']:9.2f} ms  {native}  "
            f"tuning {row['tuning_s']:5.2f} s  first run {row['webgpu_first_s']:5.2f} s  "
            f"error {row['rel_error']:.1e}"
        )
    return rows


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
        results["models"] = bench_models(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
