"""webinfer itself in Pyodide under Node and headless Chromium, installed from its pure wheel as a user
would (micropip from a same-origin URL), on the wasm backend and without numpy.

Oracle: onnxruntime's outputs saved with the model set, with tests/test_models.py's metric (relative
error <= 1e-4), compared here on the host. Feeds go in as memoryviews cast to their shape. The wheel
comes from scripts/build_wheel.sh; without it these tests skip with that reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from webinfer import dtypes
from webinfer.testing import MODEL_NAMES, load_samples, model_path, rel_error

try:
    from pytest_pyodide import run_in_pyodide
except ImportError:  # the conftest's stand-in `selenium` fixture skips these tests with the reason

    def run_in_pyodide(f: Any = None, **_: Any) -> Any:
        return f if f is not None else (lambda g: g)


ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4  # tests/test_models.py's bound
Feed = tuple[str, list[int], str]  # struct format, shape, URL of the raw bytes


@pytest.fixture(scope="module")
def wheel_url(publish: Callable[[Path], str]) -> str:
    """URL path of the newest pure wheel, published next to the page."""
    wheels = sorted((ROOT / "wheels").glob("webinfer-*-py3-none-any.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        pytest.skip("no pure webinfer wheel in wheels/: run scripts/build_wheel.sh")
    return publish(wheels[-1])


@run_in_pyodide(packages=["micropip"])
async def _install(selenium: Any, url: str) -> None:
    """micropip.install once per page: the browser is shared by the tests of a runtime."""
    import importlib.util

    if importlib.util.find_spec("webinfer") is None:
        import micropip

        await micropip.install(url)


@run_in_pyodide
async def _run_model(
    selenium: Any,
    model_url: str,
    samples: list[dict[str, Feed]],
    threads: int | None = None,
    repeats: int = 3,
) -> dict[str, Any]:
    """Every sample on one session (auto backend); outputs as (format, shape, bytes), and whether
    `repeats` more runs of each sample gave the same bytes."""
    import sys
    import time

    from pyodide.http import pyfetch

    import webinfer

    async def fetch(url: str) -> bytes:
        return await (await pyfetch(url)).bytes()

    session = webinfer.InferenceSession(await fetch(model_url), threads=threads)
    results, times, repeatable = [], [], True
    for sample in samples:
        feeds = {
            name: memoryview(await fetch(url)).cast(fmt, shape) for name, (fmt, shape, url) in sample.items()
        }
        outputs = [(o.format, list(o.shape), o.tobytes()) for o in session.run(None, feeds)]
        results.append(outputs)
        for _ in range(repeats):
            start = time.perf_counter()
            again = session.run(None, feeds)
            times.append(time.perf_counter() - start)
            repeatable &= [o.tobytes() for o in again] == [raw for _, _, raw in outputs]
    backend = session._backend
    return {
        "numpy": "numpy" in sys.modules,
        "backend": session.backend,
        "variant": backend.variant,
        "threads": session.threads,
        "threads_note": backend.threads_note,
        "workers_running": backend.workers_running,
        "repeatable": repeatable,
        "outputs": results,
        "median_ms": sorted(times)[len(times) // 2] * 1e3,
        "boundary_us": backend.last_timing.boundary_s * 1e6,
    }


def _publish_feeds(feeds: dict[str, np.ndarray], folder: Path, url: Callable[[Path], str]) -> dict[str, Feed]:
    published = {}
    for name, array in feeds.items():
        path = folder / f"{folder.name}-{len(list(folder.iterdir()))}.bin"  # unique once published
        path.write_bytes(np.ascontiguousarray(array).tobytes())
        fmt = dtypes.info(dtypes.from_numpy_name(array.dtype.name)).struct_char
        published[name] = (fmt, list(array.shape), url(path))
    return published


def _check_model(
    selenium: Any,
    models_dir: Path,
    model: str,
    publish: Callable[[Path], str],
    tmp_path: Path,
    **options: Any,
) -> dict[str, Any]:
    """Runs the model's samples in the page (options: _run_model's) and checks them against onnxruntime."""

    def url(path: Path) -> str:
        return selenium.base_url + publish(path)

    samples = load_samples(models_dir, model)
    feeds = [_publish_feeds(sample.feeds, tmp_path, url) for sample in samples]
    got = _run_model(selenium, url(model_path(models_dir, model)), feeds, **options)
    assert (got["backend"], got["numpy"], got["repeatable"]) == ("wasm", False, True)
    for sample, outputs in zip(samples, got["outputs"], strict=True):
        assert len(outputs) == len(sample.outputs)
        for (fmt, shape, raw), (name, expected) in zip(outputs, sample.outputs.items(), strict=True):
            actual = np.frombuffer(raw, np.dtype(fmt)).reshape(shape)
            assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), name
            error = rel_error(actual, expected)
            assert error <= TOLERANCE, f"{name}: relative error {error:.2e} > {TOLERANCE}"
    print(
        f"{model} [{selenium.browser}, {got['variant']}, {got['threads']} thread(s)]: "
        f"median {got['median_ms']:.2f} ms, boundary {got['boundary_us']:.0f} us"
    )
    return got


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_matches_onnxruntime(
    selenium: Any,
    wheel_url: str,
    models_dir: Path,
    model: str,
    publish: Callable[[Path], str],
    tmp_path: Path,
) -> None:
    _install(selenium, selenium.base_url + wheel_url)
    got = _check_model(selenium, models_dir, model, publish, tmp_path)
    assert (got["threads"], got["threads_note"]) == (1, None)


@pytest.mark.parametrize("model", ["mobilenetv2", "bert_tiny"])
def test_two_threads_match_onnxruntime(
    selenium: Any,
    wheel_url: str,
    models_dir: Path,
    model: str,
    publish: Callable[[Path], str],
    tmp_path: Path,
) -> None:
    """Node and the isolated Chromium page run wasm threads; 20 repeats of each sample must give
    the same bytes (a race would show as a difference)."""
    _install(selenium, selenium.base_url + wheel_url)
    got = _check_model(selenium, models_dir, model, publish, tmp_path, threads=2, repeats=20)
    assert (got["threads"], got["threads_note"], got["workers_running"]) == (2, None, 1)


@run_in_pyodide
async def _errors(selenium: Any, calls: str, mlp_url: str, gather_url: str) -> list[list[str]]:
    """bad_calls.py's calls (its source in `calls`) on sessions of the default backend (wasm)."""
    from pyodide.http import pyfetch

    namespace: dict[str, Any] = {}
    exec(calls, namespace)
    mlp, gather = [await (await pyfetch(url)).bytes() for url in (mlp_url, gather_url)]
    return namespace["bad_calls"](mlp, gather, "auto")


def test_bad_input_gives_clear_errors(
    selenium: Any,
    wheel_url: str,
    models_dir: Path,
    publish: Callable[[Path], str],
    tmp_path: Path,
    gather_model_bytes: bytes,
    check_bad_input_errors: Callable[[list], None],
) -> None:
    _install(selenium, selenium.base_url + wheel_url)
    gather = tmp_path / "gather.onnx"
    gather.write_bytes(gather_model_bytes)
    base = selenium.base_url
    calls = (Path(__file__).parent / "bad_calls.py").read_text()
    found = _errors(selenium, calls, base + publish(model_path(models_dir, "mlp")), base + publish(gather))
    check_bad_input_errors(found)


FALLBACK_PAGE = """<!doctype html>
<script type="module">
  import { loadPyodide } from "../pyodide.mjs";
  window.result = (async () => {
    const pyodide = await loadPyodide();
    await pyodide.loadPackage("micropip");
    await pyodide.pyimport("micropip").install(new URL("WHEEL", location).href);
    return await pyodide.runPythonAsync(`
import json, warnings
from pyodide.http import pyfetch
import webinfer

model = await (await pyfetch("MODEL")).bytes()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    sessions = [webinfer.InferenceSession(model, backend="wasm", threads=2) for _ in range(2)]
json.dumps([[s.threads, s._backend.threads_note] for s in sessions] + [[str(w.message) for w in caught]])
`);
  })().catch((e) => JSON.stringify({ error: String(e) }));
</script>
"""


def test_no_isolation_falls_back_to_one_thread(
    chrome_driver: Any,
    serve_dir: Callable[..., Any],
    wheel_url: str,
    models_dir: Path,
    publish: Callable[[Path], str],
    test_files: Path,
) -> None:
    """scripts/serve.py --no-isolation: no SharedArrayBuffer, so threads=2 runs one thread and says
    why, in a warning given once per process."""
    page = FALLBACK_PAGE.replace("WHEEL", Path(wheel_url).name)
    (test_files / "fallback.html").write_text(
        page.replace("MODEL", Path(publish(model_path(models_dir, "mlp"))).name)
    )
    with serve_dir(test_files.parent, isolation=False) as base:
        chrome_driver.get(f"{base}/{test_files.name}/fallback.html")
        got = json.loads(
            chrome_driver.execute_async_script("window.result.then(arguments[arguments.length - 1]);")
        )
    reason = "the page is not crossOriginIsolated (serve it with COOP/COEP headers)"
    assert got == [[1, reason], [1, reason], [f"wasm backend: one thread: {reason}"]]
