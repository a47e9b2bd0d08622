"""pytest-pyodide setup for the browser tests: every test taking `selenium` runs once in Node and once in
headless Chromium, against the local dist that scripts/setup_browser.sh assembles in build/pyodide/.

pytest-pyodide defaults to `--dist-dir=pyodide --runtime=node`; here the dist dir defaults to
build/pyodide and the runtimes to node and chrome (an explicit `--runtime` still narrows them), so a
plain `pytest tests/browser` runs everything. What is missing skips with a reason naming the fix,
repeated in the terminal summary. pytest-pyodide's static server is replaced by one that sends
COOP/COEP, so its pages are crossOriginIsolated like the ones scripts/serve.py serves.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from webinfer.bench.browser import HEADLESS_FLAGS

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "build" / "pyodide"
RUNTIMES = ("node", "chrome")
TEST_FILES = "_test_files"  # folder of the dist dir for files a test serves to the page
SETUP = "run scripts/setup_browser.sh"
CHROME_FLAGS = list(HEADLESS_FLAGS)
HAVE_PLUGIN = importlib.util.find_spec("pytest_pyodide") is not None
_skip_reasons: set[str] = set()


def load_serve() -> ModuleType:
    """scripts/serve.py as a module (scripts/ is not a package)."""
    if "webinfer_serve" not in sys.modules:
        spec = importlib.util.spec_from_file_location("webinfer_serve", ROOT / "scripts" / "serve.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["webinfer_serve"] = module
        spec.loader.exec_module(module)
    return sys.modules["webinfer_serve"]


def dist_problem(dist: Path = DIST) -> str | None:
    """Why the Pyodide dist cannot be used, or None."""
    lock = dist / "pyodide-lock.json"
    if not (dist / "pyodide.mjs").exists() or not lock.exists():
        return f"no Pyodide dist in {dist}: {SETUP}"
    micropip = json.loads(lock.read_text())["packages"]["micropip"]["file_name"]
    if not (dist / micropip).exists():
        return f"{dist} lacks the local wheels (no {micropip}): {SETUP}"
    return None


def chrome_problem() -> str | None:
    """Why headless Chromium cannot be driven here, or None."""
    if importlib.util.find_spec("selenium") is None:
        return f"selenium is not installed: {SETUP}"
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        return f"chromium/chromedriver not found: {SETUP}"
    return None


def runtime_problem(runtime: str, dist: Path = DIST) -> str | None:
    """Why tests cannot run in `runtime`, or None."""
    if not HAVE_PLUGIN:
        return f"pytest-pyodide is not installed: {SETUP}"
    if runtime == "node" and not shutil.which("node"):
        return f"node not found: {SETUP}"
    if runtime == "chrome" and (problem := chrome_problem()):
        return problem
    return dist_problem(dist)


def skip(reason: str) -> None:
    """pytest.skip, remembering the reason for the terminal summary."""
    _skip_reasons.add(reason)
    pytest.skip(reason)


def _selected_runtimes(config: pytest.Config) -> set[str]:
    explicit = any(a.startswith(("--rt", "--runtime")) for a in config.invocation_params.args)
    if not explicit:
        return set(RUNTIMES)
    return {rt.strip().removesuffix("-no-host") for rt in config.option.runtime.split(",")}


def pytest_configure(config: pytest.Config) -> None:
    if not HAVE_PLUGIN:
        return
    from pytest_pyodide import get_global_config

    if Path(config.option.dist_dir).resolve() == Path("pyodide").resolve():  # pytest-pyodide's default
        config.option.dist_dir = DIST
    pytest.pyodide_dist_dir = Path(config.option.dist_dir).resolve()  # type: ignore[attr-defined]
    cfg = get_global_config()
    flags = cfg.get_flags("chrome")
    cfg.set_flags("chrome", flags + [f for f in CHROME_FLAGS if f not in flags])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Honour an explicit --runtime for the tests of this folder."""
    selected = _selected_runtimes(config)
    here = Path(__file__).parent

    def unselected(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        rt = callspec.params.get("runtime") if callspec else None
        return rt is not None and rt not in selected and item.path.is_relative_to(here)

    drop = [item for item in items if unselected(item)]
    if drop:
        config.hook.pytest_deselected(items=drop)
        dropped = set(drop)
        items[:] = [item for item in items if item not in dropped]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for reason in sorted(_skip_reasons):
        terminalreporter.write_line(f"browser tests skipped: {reason}", yellow=True)


@pytest.fixture(scope="module", params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """Overrides pytest-pyodide's: both runtimes by default, skipping the ones this machine lacks."""
    dist = Path(request.config.option.dist_dir) if HAVE_PLUGIN else DIST
    if problem := runtime_problem(request.param, dist):
        skip(f"{request.param}: {problem}")
    return request.param


if HAVE_PLUGIN:

    @pytest.fixture(scope="session")
    def web_server_main(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, Path]]:
        """Overrides pytest-pyodide's dist server: the same, plus COOP/COEP/CORP headers."""
        from pytest_pyodide import spawn_web_server

        if problem := dist_problem(Path(request.config.option.dist_dir)):  # before it chdirs into it
            skip(problem)
        headers = {**load_serve().ISOLATION_HEADERS, "Cross-Origin-Resource-Policy": "same-origin"}
        with spawn_web_server(request.config.option.dist_dir, extra_headers=headers) as server:
            yield server

else:

    @pytest.fixture
    def selenium(runtime: str) -> None:
        """Stand-in for pytest-pyodide's fixture; `runtime` has already skipped with the reason."""
        skip(f"pytest-pyodide is not installed: {SETUP}")


@pytest.fixture(scope="session")
def test_files(request: pytest.FixtureRequest) -> Path:
    """An emptied folder inside the dist dir: what a test puts there, the page gets same-origin at
    `{selenium.base_url}/_test_files/NAME` (and scripts/serve.py at `/build/pyodide/_test_files/NAME`)."""
    dist = Path(request.config.option.dist_dir) if HAVE_PLUGIN else DIST
    if problem := dist_problem(dist):
        skip(problem)
    folder = dist / TEST_FILES
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def publish(test_files: Path) -> Callable[[Path], str]:
    """Copies a file (a wheel, a model) next to the page; returns its URL path, to append to
    `selenium.base_url`."""

    def publish_file(path: Path) -> str:
        shutil.copy2(path, test_files / path.name)
        return f"/{test_files.name}/{path.name}"

    return publish_file


@pytest.fixture(scope="session")
def chrome_driver() -> Iterator[Any]:
    """A plain selenium-driven headless Chromium, for pages that pytest-pyodide does not serve."""
    if problem := chrome_problem():
        skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def serve_dir() -> Callable[..., Any]:
    """scripts/serve.py's `serve_in_thread(root, isolation=...)` context manager."""
    return load_serve().serve_in_thread


@pytest.fixture(scope="session")
def gather_model_bytes() -> bytes:
    """A one-node Gather model (table 5x2, int64 indices [3]): the bad-input tests' index-range case."""
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "idx"], ["y"], name="g")],
        "g",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])],
        [numpy_helper.from_array(np.arange(10, dtype=np.float32).reshape(5, 2), "table")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


# What each bad call of the bad-input tests must raise, in order (wasm and webgpu sessions alike):
# (exception type, pattern its message must match).
BAD_INPUT_ERRORS = [
    ("InputError", r"unknown input name.*'nope'"),
    ("InputError", r"input 'input' has dtype 'd' \(8 bytes\), expected float32"),
    ("InputError", r"input 'input' has symbolic dims.*memoryview cast to its shape"),
    ("InputError", r"input 'input' has shape \(1, 700\), expected \('batch', 784\)"),
    ("BackendError", r"GATHER.*index 5 .* outside"),
]


@pytest.fixture(scope="session")
def check_bad_input_errors() -> Callable[[list], None]:
    """Asserts that (type, message) pairs found in Pyodide match BAD_INPUT_ERRORS."""

    def check(found: list) -> None:
        assert [kind for kind, _ in found] == [kind for kind, _ in BAD_INPUT_ERRORS], found
        for (_, message), (_, pattern) in zip(found, BAD_INPUT_ERRORS, strict=True):
            assert re.search(pattern, message), message

    return check
