"""webinfer itself in Pyodide under Node and headless Chromium, installed from its pure wheel as a user
would (micropip from a same-origin URL), on the wasm backend and without numpy.

Oracle: onnxruntime's outputs saved with the model set, with tests/test_models.py's metric (relative
error <= 1e-4), compared here on the host. Feeds go in as memoryviews cast to their shape. The wheel
comes from scripts/build_wheel.sh; without it these tests skip with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

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
async def _run_model(selenium: Any, model_url: str, samples: list[dict[str, Feed]]) -> dict[str, Any]:
    """Every sample on one session (auto backend); outputs as (format, shape, bytes)."""
    import sys
    import time

    from pyodide.http import pyfetch

    import webinfer

    async def fetch(url: str) -> bytes:
        return await (await pyfetch(url)).bytes()

    session = webinfer.InferenceSession(await fetch(model_url))
    results, times = [], []
    for sample in samples:
        feeds = {
            name: memoryview(await fetch(url)).cast(fmt, shape) for name, (fmt, shape, url) in sample.items()
        }
        outputs = session.run(None, feeds)
        results.append([(o.format, list(o.shape), o.tobytes()) for o in outputs])
        for _ in range(3):
            start = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - start)
    backend = session._backend
    return {
        "numpy": "numpy" in sys.modules,
        "backend": session.backend,
        "variant": backend.variant,
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


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_matches_onnxruntime(
    selenium: Any,
    wheel_url: str,
    models_dir: Path,
    model: str,
    publish: Callable[[Path], str],
    tmp_path: Path,
) -> None:
    def url(path: Path) -> str:
        return selenium.base_url + publish(path)

    _install(selenium, selenium.base_url + wheel_url)
    samples = load_samples(models_dir, model)
    feeds = [_publish_feeds(sample.feeds, tmp_path, url) for sample in samples]
    got = _run_model(selenium, url(model_path(models_dir, model)), feeds)
    assert (got["backend"], got["numpy"]) == ("wasm", False)
    for sample, outputs in zip(samples, got["outputs"], strict=True):
        assert len(outputs) == len(sample.outputs)
        for (fmt, shape, raw), (name, expected) in zip(outputs, sample.outputs.items(), strict=True):
            actual = np.frombuffer(raw, np.dtype(fmt)).reshape(shape)
            assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), name
            error = rel_error(actual, expected)
            assert error <= TOLERANCE, f"{name}: relative error {error:.2e} > {TOLERANCE}"
    print(
        f"{model} [{selenium.browser}, {got['variant']}]: median {got['median_ms']:.2f} ms, "
        f"boundary {got['boundary_us']:.0f} us"
    )


def _gather_model() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "idx"], ["y"], name="g")],
        "g",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])],
        [numpy_helper.from_array(np.arange(10, dtype=np.float32).reshape(5, 2), "table")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@run_in_pyodide
async def _errors(selenium: Any, mlp_url: str, gather_url: str) -> list[tuple[str, str]]:
    """(exception type, message) of each bad call, in order."""
    from array import array

    from pyodide.http import pyfetch

    import webinfer

    mlp = webinfer.InferenceSession(await (await pyfetch(mlp_url)).bytes())
    gather = webinfer.InferenceSession(await (await pyfetch(gather_url)).bytes())
    x = array("f", [0.0]) * 784
    calls = [
        lambda: mlp.run(None, {"nope": x}),
        lambda: mlp.run(None, {"input": array("d", [0.0]) * 784}),
        lambda: mlp.run(None, {"input": x}),  # a flat array cannot say the batch size
        lambda: mlp.run(None, {"input": memoryview(x[:700]).cast("B").cast("f", (1, 700))}),
        lambda: gather.run(None, {"idx": array("q", [0, 5, 1])}),
    ]
    found = []
    for call in calls:
        try:
            call()
            found.append(("no error", ""))
        except Exception as e:
            found.append((type(e).__name__, str(e)))
    (y,) = gather.run(None, {"idx": array("q", [4, -1, 0])})  # still usable after a failed run
    assert y.tolist() == [[8.0, 9.0], [8.0, 9.0], [0.0, 1.0]]
    return found


def test_bad_input_gives_clear_errors(
    selenium: Any, wheel_url: str, models_dir: Path, publish: Callable[[Path], str], tmp_path: Path
) -> None:
    _install(selenium, selenium.base_url + wheel_url)
    gather = tmp_path / "gather.onnx"
    gather.write_bytes(_gather_model())
    base = selenium.base_url
    found = _errors(selenium, base + publish(model_path(models_dir, "mlp")), base + publish(gather))
    expected = [
        ("InputError", r"unknown input name.*'nope'"),
        ("InputError", r"input 'input' has dtype 'd' \(8 bytes\), expected float32"),
        ("InputError", r"input 'input' has symbolic dims.*memoryview cast to its shape"),
        ("InputError", r"input 'input' has shape \(1, 700\), expected \('batch', 784\)"),
        ("BackendError", r"GATHER.*index 5 .* outside"),
    ]
    assert [kind for kind, _ in found] == [kind for kind, _ in expected], found
    for (_, message), (_, pattern) in zip(found, expected, strict=True):
        assert re.search(pattern, message), message
