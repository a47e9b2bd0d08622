"""Smoke tests of the runtime webinfer will run in: Pyodide under Node and headless Chromium.

They check what the engine relies on: the Python version, installing a wheel from a same-origin URL
with micropip (how the webinfer wheel gets in), moving float32 data between Python and JS typed
arrays, and cross-origin isolation (SharedArrayBuffer, needed later for wasm threads) from both
pytest-pyodide's server and scripts/serve.py.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

try:
    from pytest_pyodide import run_in_pyodide
except ImportError:  # the conftest's stand-in `selenium` fixture skips these tests with the reason

    def run_in_pyodide(f: Any = None, **_: Any) -> Any:
        return f if f is not None else (lambda g: g)


def make_wheel(folder: Path, name: str, version: str, modules: dict[str, str]) -> Path:
    """A minimal pure wheel (py3-none-any) holding `modules` {module name: source}."""
    dist_info = f"{name}-{version}.dist-info"
    files = {f"{mod}.py": src.encode() for mod, src in modules.items()}
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@run_in_pyodide
def test_python_version(selenium: Any) -> None:
    import sys

    assert sys.version_info[:2] == (3, 14)
    assert sys.platform == "emscripten"


@run_in_pyodide(packages=["micropip"])
async def _install_and_use(selenium: Any, url: str) -> int:
    import micropip

    await micropip.install(url)
    import wi_probe

    assert micropip.list()["wi-probe"].version == "1.2.3"
    return wi_probe.checksum([3, 1, 4, 1, 5])


def test_micropip_installs_served_wheel(
    selenium: Any, publish: Callable[[Path], str], tmp_path: Path
) -> None:
    source = "def checksum(xs):\n    return sum((i + 1) * x for i, x in enumerate(xs)) % 997\n"
    wheel = make_wheel(tmp_path, "wi_probe", "1.2.3", {"wi_probe": source})
    url = selenium.base_url + publish(wheel)
    assert _install_and_use(selenium, url) == 3 * 1 + 1 * 2 + 4 * 3 + 1 * 4 + 5 * 5


@run_in_pyodide
def test_float32_typed_array_round_trip(selenium: Any) -> None:
    from array import array

    import js

    src = array("f", [0.1, -1.25, 3.0, 1e-7, 65504.0])
    ta = js.Float32Array.new(len(src))
    ta.assign(src)  # one copy from the Python buffer into the JS typed array
    assert ta.length == len(src)
    assert ta[0] == src[0] != 0.1  # float32 rounding happened, identically on both sides
    ta[2] = 0.5  # a write on the JS side
    back = array("f", bytes(4 * len(src)))
    ta.assign_to(back)
    expected = [src[0], src[1], 0.5, src[3], src[4]]
    assert back.tolist() == expected
    view = ta.to_py()
    assert view.format == "f" and view.tolist() == expected


@pytest.mark.parametrize("runtime", ["chrome"], indirect=True, scope="module")
def test_chrome_page_is_cross_origin_isolated(selenium: Any) -> None:
    assert _isolation(selenium) == [True, "function"]


@run_in_pyodide
def _isolation(selenium: Any) -> list[Any]:
    import js

    return [bool(js.self.crossOriginIsolated), js.eval("typeof SharedArrayBuffer")]


WORKER_PAGE = """<!doctype html>
<script type="module">
  window.result = new Promise((resolve) => {
    const worker = new Worker("worker.mjs", { type: "module" });
    worker.onmessage = (e) => resolve({ page: self.crossOriginIsolated, ...e.data });
    worker.onerror = (e) => resolve({ error: String(e.message) });
  });
</script>
"""
WORKER = """import { loadPyodide } from "../pyodide.mjs";
try {
  const pyodide = await loadPyodide();
  const version = pyodide.runPython("import sys; '%d.%d' % sys.version_info[:2]");
  postMessage({ worker: self.crossOriginIsolated, sab: typeof SharedArrayBuffer, version });
} catch (e) {
  postMessage({ error: String(e) });
}
"""


@pytest.mark.parametrize("isolation", [True, False], ids=["coop-coep", "no-isolation"])
def test_serve_py_pyodide_in_module_worker(
    chrome_driver: Any, serve_dir: Callable[..., Any], test_files: Path, isolation: bool
) -> None:
    (test_files / "worker.html").write_text(WORKER_PAGE)
    (test_files / "worker.mjs").write_text(WORKER)
    with serve_dir(test_files.parent, isolation=isolation) as base:
        chrome_driver.get(f"{base}/{test_files.name}/worker.html")
        got = chrome_driver.execute_async_script("window.result.then(arguments[arguments.length - 1]);")
    sab = "function" if isolation else "undefined"
    assert got == {"page": isolation, "worker": isolation, "sab": sab, "version": "3.14"}


def test_serve_py_headers(serve_dir: Callable[..., Any], tmp_path: Path) -> None:
    mime = {
        "a.wasm": "application/wasm",
        "a.mjs": "text/javascript",
        "a.js": "text/javascript",
        "a.whl": "application/octet-stream",
        "a.json": "application/json",
    }
    headers = ["Content-Type", "Cache-Control", "Cross-Origin-Resource-Policy"]
    headers += ["Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy"]
    for name in mime:
        (tmp_path / name).write_bytes(b"{}")
    for isolation in (True, False):
        coop, coep = ("same-origin", "require-corp") if isolation else (None, None)
        with serve_dir(tmp_path, isolation=isolation) as base:
            for name in mime:
                with urllib.request.urlopen(f"{base}/{name}") as r:
                    got = [r.headers.get(h) for h in headers]
                assert got == [mime[name], "no-store", "same-origin", coop, coep], name
