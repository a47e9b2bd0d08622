"""Headless Chromium targets, driven with selenium: demo/bench/ pages served by scripts/serve.py
(COOP/COEP, so pages are crossOriginIsolated and may use threads) from 127.0.0.1.

Each measurement gets a fresh browser, so no target inherits another's memory, JIT state or
workers. The page reports times and WebAssembly memory itself (engines.mjs); the main thread's JS
heap is read between the page's two phases through the DevTools protocol, after a forced GC.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .results import Measurement
from .targets import Paths, Target

# Headless Chromium on this kind of machine: no sandbox as root, no background network traffic.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
# WebGPU where Chromium finds an adapter (none on a GPU-less Linux)
CHROMIUM_FLAGS = (*HEADLESS_FLAGS, "--enable-unsafe-webgpu")
SCRIPT_TIMEOUT_S = 900


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """scripts/serve.py's server for the checkout, on a free port; yields the base URL."""
    spec = importlib.util.spec_from_file_location("webinfer_serve", root / "scripts" / "serve.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with module.serve_in_thread(root) as base:
        yield base


@contextlib.contextmanager
def chromium(extra_flags: tuple[str, ...] = ()) -> Iterator[Any]:
    """A selenium-driven headless Chromium with its own throw-away profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="webinfer-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra_flags):
            options.add_argument(flag)
        driver = webdriver.Chrome(
            options=options, service=Service(executable_path=shutil.which("chromedriver"))
        )
        driver.set_script_timeout(SCRIPT_TIMEOUT_S)
        try:
            yield driver
        finally:
            driver.quit()


def call(driver: Any, function: str, *args: Any) -> Any:
    """Await `window.<function>(...args)` in the page and return its (JSON-able) result."""
    script = (
        "const done = arguments[arguments.length - 1];"
        f"window.{function}(...Array.from(arguments).slice(0, -1))"
        ".then(done, (e) => done({error: String(e && e.stack || e)}));"
    )
    return driver.execute_async_script(script, *args)


def js_heap_bytes(driver: Any) -> int:
    """The main thread's live JS heap after a full GC (DevTools protocol)."""
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    return int(driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"])


def page_job(job: dict[str, Any], base: str, paths: Paths) -> dict[str, Any]:
    """The shared job (files relative to the checkout) as URLs of the served checkout."""

    def url(folder: Path) -> str:
        return f"{base}/{folder.relative_to(paths.root).as_posix()}/"

    return {
        **job,
        "model": f"{base}/{job['model']}",
        "inputs": f"{base}/{job['inputs']}",
        "wheelURL": f"{base}/{job['wheelFile']}" if job["wheelFile"] else None,
        "pyodideIndexURL": url(paths.dist),
        "ortURL": url(paths.ort_dist),
    }


def run_chromium(
    target: Target, threads: int | None, job: dict[str, Any], base: str, flags: tuple[str, ...]
) -> Measurement:
    """job: page_job() output with URLs under `base`."""
    job = {**job, "engine": target.engine, "backend": target.backend, "ep": target.backend,
           "where": target.where, "threads": threads or 1}  # fmt: skip
    with chromium(flags) as driver:
        driver.get(f"{base}/demo/bench/index.html")
        prepared = call(driver, "benchPrepare", job)
        if "error" in prepared or "unavailable" in prepared:
            return Measurement.from_record(prepared)  # raises with the page's reason
        heap_before = js_heap_bytes(driver)
        record = call(driver, "benchMeasure")
        measurement = Measurement.from_record(record)
        if target.where == "main":  # a worker's heap is another isolate, not reachable here
            measurement.memory["js_heap_growth_bytes"] = js_heap_bytes(driver) - heap_before
        if not prepared["isolated"]:
            measurement.memory["note"] = "page not crossOriginIsolated: single-threaded"
        return measurement
