"""What tests/browser/test_webgpu_pyodide.py runs inside Pyodide (not collected by pytest): its source
is run once in the session's globals (pyodide_host.mjs), after bad_calls.py's, then each call is
`answer(OP, args)`, which
returns JSON: {"ok": value} or {"raised": exception type name, "message": str(exception)}, so the
host re-raises webinfer's errors as themselves. Binary data travels as base64; no numpy here.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import pickle
import time
from dataclasses import asdict, astuple
from typing import Any

import webinfer
from webinfer.backends.webgpu import WebGPUBackend, WebGPUPlan
from webinfer.webgpu import matmul
from webinfer.webgpu.tuning import BUDGET_ENV, Tile, TuningCache, cache_path

KERNELS: dict[str, Any] = {}  # the kernel tests' backend ("backend") and compiled plans (by id)


def b64(data: bytes | memoryview) -> str:
    return base64.b64encode(data).decode()


async def answer(op: Any, args: str) -> str:
    """op(**json.loads(args)), awaited when it is a coroutine, as the JSON reply."""
    try:
        value = op(**json.loads(args))
        if inspect.isawaitable(value):
            value = await value
        return json.dumps({"ok": value})
    except Exception as exc:
        return json.dumps({"raised": type(exc).__name__, "message": str(exc)})


def answer_sync(op: Any, args: str) -> str:
    """answer() for a call JS makes synchronously (no await possible, so no JSPI suspension)."""
    try:
        return json.dumps({"ok": op(**json.loads(args))})
    except Exception as exc:
        return json.dumps({"raised": type(exc).__name__, "message": str(exc)})


async def load(path: str) -> bytes:
    """A file of the checkout (fetched in the browser, read from disk in Node)."""
    from test_host import read  # type: ignore[import-not-found]  # registered by pyodide_host.mjs

    return (await read(path)).to_bytes()


def device() -> dict[str, Any]:
    """The adapter as the backend sees it, or why there is none."""
    reason = WebGPUBackend.available()
    if reason is not None:
        return {"unavailable": reason}
    backend = KERNELS.setdefault("backend", WebGPUBackend(tune_budget_s=0))
    gpu = backend.gpu
    return {"name": gpu.name, "software": gpu.software, "limits": asdict(gpu.limits)}


def compile_plan(plan: str, weights: str, tile: list[int] | None) -> int:
    """The backend's set_weights + compile of a pickled plan; returns the compiled plan's id. `tile`
    (a Tile's fields): the tile of its GEMM/CONV steps, through the tuning cache as if tuned."""
    backend = KERNELS["backend"]
    backend.set_weights(memoryview(base64.b64decode(weights)))
    loaded = pickle.loads(base64.b64decode(plan))
    if tile is not None:
        cache = TuningCache(cache_path())
        for step in loaded.steps:
            if (problem := matmul.problem(step)) is not None:
                cache.put(backend.gpu.name, problem.signature, Tile(*tile))
    compiled: WebGPUPlan = backend.compile(loaded)
    KERNELS[str(id(compiled))] = compiled
    return id(compiled)


def execute_plan(plan_id: int, inputs: list[str], sizes: list[int]) -> list[str]:
    """One execute of a compiled plan; the outputs' bytes."""
    compiled = KERNELS.pop(str(plan_id))
    outputs = [bytearray(n) for n in sizes]
    views = [memoryview(base64.b64decode(x)) for x in inputs]
    KERNELS["backend"].execute(compiled, views, [memoryview(o) for o in outputs])
    return [b64(o) for o in outputs]


def unsupported(step: str) -> str | None:
    return KERNELS["backend"].unsupported(pickle.loads(base64.b64decode(step)))


async def run_model(path: str, samples: list[dict[str, list[Any]]], repeats: int) -> dict[str, Any]:
    """Every sample, then the first again, on one webgpu session (tuning off), through `run_async`
    (the device's promise awaited, not blocked on); outputs as (format, shape, base64), whether
    `repeats` more runs of each through `run` (run_sync) gave the same bytes, and timings."""
    os.environ[BUDGET_ENV] = "0"
    start = time.perf_counter()
    session = webinfer.InferenceSession(await load(path), backend="webgpu")
    load_ms = (time.perf_counter() - start) * 1e3
    results, times, repeatable = [], [], True
    for sample in [*samples, samples[0]]:
        feeds = {name: memoryview(base64.b64decode(raw)).cast(fmt, shape) for name, (fmt, shape, raw) in
                 sample.items()}  # fmt: skip
        start = time.perf_counter()
        outputs = [(o.format, list(o.shape), o.tobytes()) for o in await session.run_async(None, feeds)]
        if not results:  # the first run: plan, shaders, pipelines
            first_ms = (time.perf_counter() - start) * 1e3
        results.append([(fmt, shape, b64(raw)) for fmt, shape, raw in outputs])
        for _ in range(repeats):
            start = time.perf_counter()
            again = session.run(None, feeds)
            times.append(time.perf_counter() - start)
            repeatable &= [o.tobytes() for o in again] == [raw for _, _, raw in outputs]
    return {
        "backend": session.backend,
        "repeatable": repeatable,
        "outputs": results[: len(samples)],
        "again": results[-1],
        "load_ms": load_ms,
        "first_ms": first_ms,
        "median_ms": sorted(times)[len(times) // 2] * 1e3 if times else None,
    }


async def bad_inputs(mlp: str, gather: str) -> list[list[str]]:
    """bad_calls.py's calls (loaded with this file) on webgpu sessions."""
    return bad_calls(await load(mlp), await load(gather), "webgpu")  # noqa: F821


async def overlapping_runs(model: str) -> dict[str, Any]:
    """Runs of one Gather session begun before the last ended: run_async calls gathered at once
    (queued by the session), and a second `start` of the same plan before the first is finished
    (refused, then the first finishes right)."""
    import asyncio
    from array import array

    session = webinfer.InferenceSession(base64.b64decode(model), backend="webgpu")
    indices = [[0, 1, 2], [4, -1, 0], [3, 3, 1]]
    feeds = [{"idx": array("q", i)} for i in indices]
    gathered = await asyncio.gather(*(session.run_async(None, f) for f in feeds))
    first = session.start(None, feeds[0])
    try:
        session.start(None, feeds[1])
        refusal = ["no error", ""]
    except Exception as exc:
        refusal = [type(exc).__name__, str(exc)]
    (late,) = first.finish(await first.wait())
    return {"gathered": [y.tolist() for (y,) in gathered], "refusal": refusal, "late": late.tolist()}


def run_from_sync_js(model: str) -> None:
    """A webgpu session made and run from a synchronous JS call: it cannot wait on GPU promises."""
    from array import array

    session = webinfer.InferenceSession(base64.b64decode(model), backend="webgpu")
    session.run(None, {"idx": array("q", [0, 1, 2])})


async def tuning_cache(adapter: str, signature: str, tile: list[int] | None) -> list[int] | None:
    """Store `tile` in the tuning cache (when given; in a browser, then wait for IDBFS's autoPersist
    to write it to IndexedDB) and read the entry back from a fresh reader."""
    import js  # type: ignore[import-not-found]

    if tile is not None:
        TuningCache(cache_path()).put(adapter, signature, Tile(*tile))
        if hasattr(js, "indexedDB"):
            await _persisted(str(cache_path().parent))
    found = TuningCache(cache_path()).get(adapter, signature)
    return None if found is None else list(astuple(found))


async def _persisted(folder: str, timeout_s: float = 10.0) -> None:
    """Until the IDBFS mount at `folder` has no write queued or running (Emscripten keeps that state
    in the mount's idbPersistState: 0 when idle)."""
    import asyncio

    from js import Object  # type: ignore[import-not-found]
    from pyodide.ffi import to_js  # type: ignore[import-not-found]
    from pyodide_js import FS  # type: ignore[import-not-found]

    options = to_js({"follow_mount": False}, dict_converter=Object.fromEntries)
    mount = FS.lookupPath(folder, options).node.mounted
    deadline = time.monotonic() + timeout_s
    while mount.idbPersistState != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"IDBFS did not persist {folder} within {timeout_s} s")
        await asyncio.sleep(0.02)
