"""The Pyodide-in-Node targets: demo/bench/node-driver.mjs runs webinfer's wheel in Pyodide under
Node with the same JS measuring code as the browser pages. The webgpu target runs in the npm Node 26
(JSPI) with Dawn's navigator.gpu (the npm package webgpu)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from .results import Measurement
from .targets import Paths, Target


def run_node(
    target: Target, threads: int | None, job: dict[str, Any], paths: Paths, workdir: Path
) -> Measurement:
    """job: the shared job, whose files are relative to the checkout."""
    job = {**job, "engine": target.engine, "backend": target.backend, "threads": threads, "where": "node",
           "model": str(paths.root / job["model"]), "inputs": str(paths.root / job["inputs"]),
           "wheelPath": str(paths.root / job["wheelFile"]), "pyodideIndexURL": f"{paths.dist}/"}  # fmt: skip
    if target.backend == "webgpu":
        job["dawn"] = str(paths.dawn)
    node = paths.node_for(target)
    if node is None:
        raise RuntimeError(f"no Node for {target.name}")
    job_path = workdir / "node-job.json"
    job_path.write_text(json.dumps(job))
    driver = str(paths.pages / "node-driver.mjs")
    done = subprocess.run([node, driver, str(job_path)], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise RuntimeError(f"node exit {done.returncode}: {done.stderr.strip()[-1500:]}")
    return Measurement.from_record(json.loads(lines[-1]))
