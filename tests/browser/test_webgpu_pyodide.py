"""The webgpu backend under Pyodide, through navigator.gpu (webgpu/js_gpu.py), in two runtimes:
headless Chromium (WebGPU on SwiftShader, Chrome's CPU Vulkan) and Node 26 with Dawn (the npm
package webgpu; on lavapipe here). Each runtime is one Pyodide session for the whole module, with
the pure wheel installed; the code run there is tests/browser/webgpu_ops.py.

Oracles, all computed on the host:
- kernels: a representative subset of tests/test_webgpu_kernels.py (every kernel family, the int64
  emulation, inf/NaN constants, run-time and compile-time errors) against the reference backend's
  numpy kernels, through `PageBackend`, a stand-in that compiles and executes each plan in Pyodide;
- the whole model set against onnxruntime's saved outputs with the bound of
  tests/test_webgpu_models.py: relative error max|webgpu - onnxruntime| / max|onnxruntime| <= 1e-3
  per output (a GPU sums in float32 in its own order). Both adapters are CPU renderers, so GEMM and
  CONV run on the direct kernel (webgpu/tuning.py); with a cold shader cache the module takes about
  3.5 minutes on 2 cores, most of it lavapipe compiling and SwiftShader running ResNet-18;
- bad inputs: the messages the wasm backend gives in tests/test_webinfer_pyodide.py.
A runtime that is missing (Chromium, the npm Node 26 or Dawn, the wheel, the Pyodide dist, an
adapter) skips its tests with the reason.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import pickle
import select
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import astuple
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from webinfer import dtypes, errors
from webinfer.bench.browser import call, chromium
from webinfer.bench.targets import BROWSER_SETUP, Paths, chromium_problem
from webinfer.kernels import Act, BiasMode, BinOp, ReduceOp
from webinfer.plan import Plan, Step
from webinfer.testing import MODEL_NAMES, load_samples, model_path, rel_error
from webinfer.webgpu.gpu import Limits
from webinfer.webgpu.tuning import Tile

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
TOLERANCE = 1e-3  # tests/test_webgpu_models.py's bound
MODELS = MODEL_NAMES  # the whole set (on CPU adapters, direct GEMM/CONV kernels: webgpu/tuning.py)
CALL_TIMEOUT_S = 300


class HostError(Exception):
    """Python in the page failed outside the operation (a bug of the test itself)."""


class Host:
    """A Pyodide session with webinfer, bad_calls.py and webgpu_ops.py loaded; `op` calls one of
    webgpu_ops.py's functions."""

    name: str
    gpu_name = ""  # the adapter, once the fixture has opened it

    def _call(self, code: str, args: str, sync: bool) -> dict[str, Any]:
        raise NotImplementedError

    def start(self) -> None:
        for name in ("bad_calls.py", "webgpu_ops.py"):  # one at a time: each has a __future__ import
            answer = self._call((HERE / name).read_text() + "\n'loaded'", "", False)
            if "error" in answer:
                raise HostError(answer["error"])

    def op(self, name: str, sync: bool = False, **args: Any) -> Any:
        """webgpu_ops.NAME(**args) in Pyodide; webinfer's errors are raised here as themselves."""
        code = f"answer_sync({name}, args)" if sync else f"await answer({name}, args)"
        answer = self._call(code, json.dumps(args), sync)
        if "error" in answer:
            raise HostError(f"{answer['type']}: {answer['error']}")
        reply = json.loads(answer["result"])
        if "raised" in reply:
            raise getattr(errors, reply["raised"], HostError)(reply["message"])
        return reply["ok"]


class ChromiumHost(Host):
    name = "chromium"

    def __init__(self, driver: Any, url: str) -> None:
        self.driver, self.url = driver, url
        driver.get(url)

    def _call(self, code: str, args: str, sync: bool) -> dict[str, Any]:
        return call(self.driver, "py", code, args, sync)

    def reload(self) -> None:
        """A fresh page of the same origin: a new Pyodide, the same IndexedDB."""
        self.driver.get(self.url)
        self.start()


class NodeHost(Host):
    name = "dawn-node"

    def __init__(self, node: Path, config: dict[str, str], log: Any, cache_dir: Path) -> None:
        """cache_dir: the host folder that stands for the user's cache ($WEBINFER_CACHE_DIR)."""
        command = [str(node), str(HERE / "pyodide_host_node.mjs"), json.dumps(config)]
        self.log, self.cache_dir = log, cache_dir
        env = {**os.environ, "WEBINFER_CACHE_DIR": str(cache_dir)}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                        text=True, env=env)  # fmt: skip
        if self._line().get("ready") is not True:
            raise HostError("the Node host did not start")

    def _line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], CALL_TIMEOUT_S)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.log.seek(0)
            raise HostError(f"the Node host gave no answer; its stderr:\n{self.log.read()[-3000:]}")
        return json.loads(line)

    def _call(self, code: str, args: str, sync: bool) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"code": code, "args": args, "sync": sync}) + "\n")
        self.process.stdin.flush()
        return self._line()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def _files(paths: Paths) -> Path:
    """The wheel; skips when it or the Pyodide dist is missing."""
    if not (paths.dist / "pyodide.mjs").is_file():
        pytest.skip(f"no Pyodide dist in {paths.dist}: {BROWSER_SETUP}")
    if paths.wheel is None:
        pytest.skip("no pure webinfer wheel in wheels/: run scripts/build_wheel.sh")
    return paths.wheel


@contextlib.contextmanager
def _chromium_host(serve_dir: Callable[..., Any]) -> Iterator[Host]:
    if problem := chromium_problem():
        pytest.skip(f"chromium: {problem}")
    wheel = _files(Paths.discover()).relative_to(ROOT).as_posix()
    with serve_dir(ROOT) as base, chromium() as driver:
        driver.set_script_timeout(CALL_TIMEOUT_S)
        yield ChromiumHost(driver, f"{base}/tests/browser/pyodide_host.html?wheel=/{wheel}")


@contextlib.contextmanager
def _node_host() -> Iterator[Host]:
    paths = Paths.discover()
    missing = [str(p) for p in (paths.jspi_node, paths.dawn) if not p.is_file()]
    if missing:
        pytest.skip(f"dawn-node: {', '.join(missing)} not found: {BROWSER_SETUP}")
    wheel = _files(paths)
    config = {"root": str(ROOT), "dist": f"{paths.dist}/", "wheel": str(wheel), "dawn": str(paths.dawn)}
    with tempfile.TemporaryFile("w+") as log, tempfile.TemporaryDirectory() as cache:
        host = NodeHost(paths.jspi_node, config, log, Path(cache))
        try:
            yield host
        finally:
            host.close()


@pytest.fixture(scope="module", params=["chromium", "dawn-node"])
def host(request: pytest.FixtureRequest, serve_dir: Callable[..., Any]) -> Iterator[Host]:
    """One Pyodide session per runtime for every test of the module, on a WebGPU adapter."""
    with _chromium_host(serve_dir) if request.param == "chromium" else _node_host() as started:
        started.start()
        found = started.op("device")
        if "unavailable" in found:
            pytest.skip(f"{started.name}: no WebGPU adapter: {found['unavailable']}")
        started.gpu_name = found["name"]
        print(f"{started.name}: {found['name']} (software: {found['software']})")
        yield started


# ---- kernels: tests/test_webgpu_kernels.py's cases, each plan run in Pyodide ----


class PageBackend:
    """What the kernel tests use of WebGPUBackend, forwarded to the one in Pyodide: set_weights is
    sent with the plan, compile compiles there (so its errors are raised by compile, as natively)."""

    def __init__(self, page: Host) -> None:
        self.page = page
        found = page.op("device")
        self.gpu = SimpleNamespace(name=found["name"], limits=Limits(**found["limits"]))
        self._weights = b""
        self.tile: Tile | None = None  # the GEMM/CONV tile of the plans compiled (else the default)

    def set_weights(self, weights: memoryview) -> None:
        self._weights = bytes(weights)

    def compile(self, plan: Plan) -> tuple[int, Plan]:
        tile = None if self.tile is None else list(astuple(self.tile))
        return self.page.op("compile_plan", plan=_pickled(plan), weights=_b64(self._weights), tile=tile), plan

    def execute(
        self, compiled: tuple[int, Plan], inputs: list[memoryview], outputs: list[memoryview]
    ) -> None:
        plan_id, plan = compiled
        sizes = [r.nbytes for r in plan.output_refs]
        got = self.page.op("execute_plan", plan_id=plan_id, inputs=[_b64(x) for x in inputs], sizes=sizes)
        for out, raw in zip(outputs, got, strict=True):
            out.cast("B")[:] = base64.b64decode(raw)

    def unsupported(self, step: Step) -> str | None:
        return self.page.op("unsupported", step=_pickled(step))


def _b64(data: bytes | memoryview) -> str:
    return base64.b64encode(data).decode()


def _pickled(value: Any) -> str:
    return _b64(pickle.dumps(value))


def _kernel_cases() -> ModuleType:
    """tests/test_webgpu_kernels.py as a module of its own (its cases, builders and oracle)."""
    path = ROOT / "tests" / "test_webgpu_kernels.py"
    spec = importlib.util.spec_from_file_location("webgpu_kernel_cases", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu(host: Host) -> PageBackend:
    """The kernel cases' `gpu` fixture, in Pyodide."""
    return PageBackend(host)


_cases = _kernel_cases()
# One or two cases per kernel family, chosen for what differs between WGSL compilers and adapters:
# sub-word stores (atomics), the int64 and float64 emulation, inf/NaN, run-time status errors, GEMMs
# and implicit-GEMM convs on the direct kernel (a CPU adapter's default) and on the tiled one (a
# GPU's: see TILED), and the compile-time refusals.
# float64 -> int64: the emulation's rounding without subnormals (SwiftShader flushes those to zero,
# as WGSL allows).
FLOAT64_TO_INT64 = next(c for c in _cases.CASTS if c[0].dtype == np.float64 and c[1] == np.int64)
KERNEL_CASES = {
    "copy-float16": ("test_copy_negative_strides_every_itemsize", {"dt": np.float16}),
    "copy-int64": ("test_copy_negative_strides_every_itemsize", {"dt": np.int64}),
    "copy-out-of-range": ("test_copy_out_of_range_is_an_error", {}),
    "unary-gelu": ("test_unary", {"act": Act.GELU}),
    "unary-clip-inf": ("test_unary_clip_to_infinity_and_in_place", {}),
    "binary-pow": ("test_binary_float_broadcast", {"op": BinOp.POW}),
    "binary-int64-div": ("test_binary_integer", {"op": BinOp.DIV, "dt": np.int64}),
    "binary-int64-div-zero": ("test_binary_integer_division_by_zero", {"dt": np.int64}),
    "where-bool": ("test_where_broadcast", {"dt": np.bool_}),
    "gemm": ("test_gemm_bias_modes_and_transposes", {"trans_a": 1, "trans_b": 1, "mode": BiasMode.ROW}),
    "gemm-batched-gelu": ("test_gemm_batched_broadcast_with_act", {}),
    "gemm-tiled": ("test_gemm_bias_modes_and_transposes", {"trans_a": 0, "trans_b": 0, "mode": BiasMode.COL}),
    "gemm-split-k": ("check_gemm_split_k", {"trans_b": 1, "K": 300}),
    "conv-implicit-gemm": ("check_conv", {"name": "3x3_pad1", "fused": False}),
    "conv-implicit-gemm-tiled": ("check_conv", {"name": "stride2_asym_pads", "fused": True}),
    "conv-depthwise-fused": ("check_conv", {"name": "depthwise", "fused": True}),
    "pool-max": ("test_pool", {"name": "max_dilated_asym"}),
    "reduce-max": ("test_reduce", {"op": ReduceOp.MAX, "shape": (2, 5, 3)}),
    "softmax-log": ("test_softmax", {"log": 1, "shape": (2, 6, 3)}),
    "layernorm": ("test_layernorm", {"has_bias": 1, "n": 768}),
    "batchnorm": ("test_batchnorm", {"shape": (2, 3, 4, 5)}),
    "cast-float64": ("test_cast", {"x": FLOAT64_TO_INT64[0], "to": FLOAT64_TO_INT64[1]}),
    "gather-int64": ("test_gather_negative_indices", {"index_dtype": np.int64, "data_dtype": np.int64}),
    "gather-out-of-range": ("test_gather_out_of_range", {"bad": 2**40}),
    "arena-weights-consts": ("test_plan_through_arena_weights_and_consts", {}),
    "tensor-outside-buffer": ("test_tensor_outside_its_buffer_names_the_node", {}),
    "inputs-read-only": ("test_inputs_are_read_only", {}),
    "unsupported-steps": ("test_compile_refuses_unsupported_steps", {}),
}


# Cases on the tiled product, set through the tuning cache: the tile a GPU picks for them untuned
# (SwiftShader compiles it in about 1.5 s), and a split-K one (its two kernels).
TILED = {
    "gemm-tiled": Tile(4, 64, 32, 1, 4),
    "conv-implicit-gemm-tiled": Tile(4, 64, 32, 1, 4),
    "gemm-split-k": Tile(16, 32, 8, 4, 4, 1, 3),
}


@pytest.mark.parametrize("case", list(KERNEL_CASES))
def test_kernel(gpu: PageBackend, case: str) -> None:
    """tests/test_webgpu_kernels.py's case, its plans run in Pyodide, checked on the host."""
    name, args = KERNEL_CASES[case]
    gpu.tile = TILED.get(case)
    getattr(_cases, name)(gpu, **args)


# ---- models and errors ----


def _feeds(feeds: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    packed = {}
    for name, array in feeds.items():
        fmt = dtypes.info(dtypes.from_numpy_name(array.dtype.name)).struct_char
        packed[name] = [fmt, list(array.shape), _b64(np.ascontiguousarray(array).tobytes())]
    return packed


def _check_outputs(got: list[list[Any]], expected: dict[str, np.ndarray]) -> float:
    """The outputs against onnxruntime's; returns the largest relative error."""
    assert len(got) == len(expected)
    worst = 0.0
    for (fmt, shape, raw), (name, want) in zip(got, expected.items(), strict=True):
        actual = np.frombuffer(base64.b64decode(raw), np.dtype(fmt)).reshape(shape)
        assert (actual.dtype, actual.shape) == (want.dtype, want.shape), name
        error = rel_error(actual, want)
        assert error <= TOLERANCE, f"{name}: relative error {error:.2e} > {TOLERANCE}"
        worst = max(worst, error)
    return worst


@pytest.mark.parametrize("model", MODELS)
def test_model_matches_onnxruntime(host: Host, models_dir: Path, model: str) -> None:
    """Every sample on one session, then the first again (the MLP's samples differ in batch, so the
    session re-plans); 3 more runs of each sample must give the same bytes."""
    samples = load_samples(models_dir, model)
    path = model_path(models_dir, model).relative_to(ROOT).as_posix()
    got = host.op("run_model", path=path, samples=[_feeds(s.feeds) for s in samples], repeats=3)
    assert (got["backend"], got["repeatable"]) == ("webgpu", True)
    runs = [*zip(got["outputs"], samples, strict=True), (got["again"], samples[0])]
    worst = max(_check_outputs(outputs, sample.outputs) for outputs, sample in runs)
    print(
        f"{model} [{host.name}, {host.gpu_name}]: load {got['load_ms']:.0f} ms, first run "
        f"{got['first_ms']:.0f} ms, median {got['median_ms']:.2f} ms, relative error {worst:.1e}"
    )


@pytest.fixture(scope="module")
def gather_model(gather_model_bytes: bytes) -> Iterator[str]:
    """A Gather model under build/ (served and readable by both runtimes), as a checkout path."""
    folder = ROOT / "build" / "webgpu-tests"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gather.onnx"
    path.write_bytes(gather_model_bytes)
    yield path.relative_to(ROOT).as_posix()
    path.unlink()


def test_bad_input_gives_clear_errors(
    host: Host, models_dir: Path, gather_model: str, check_bad_input_errors: Callable[[list], None]
) -> None:
    mlp = model_path(models_dir, "mlp").relative_to(ROOT).as_posix()
    found = host.op("bad_inputs", mlp=mlp, gather=gather_model)
    check_bad_input_errors(found)


def test_overlapping_runs_queue_or_are_refused(host: Host, gather_model: str) -> None:
    """run_async calls on one session at once are queued and each gets its own result (numpy
    indexing the table the Gather model holds); a second start of a plan whose readback is still
    pending is refused with a clear message and does not disturb the first."""
    table = np.arange(10, dtype=np.float32).reshape(5, 2)
    got = host.op("overlapping_runs", model=_b64((ROOT / gather_model).read_bytes()))
    assert got["gathered"] == [table[i].tolist() for i in ([0, 1, 2], [4, -1, 0], [3, 3, 1])]
    assert got["refusal"][0] == "BackendError" and "still waiting for its results" in got["refusal"][1]
    assert got["late"] == table[[0, 1, 2]].tolist()


def test_synchronous_js_call_says_how_to_call(host: Host, gather_model: str) -> None:
    """A plain (not promising) JS call into Python cannot wait on GPU promises: the run refuses with
    a message naming the ways in."""
    model = _b64((ROOT / gather_model).read_bytes())
    with pytest.raises(errors.BackendError, match=r"entered synchronously from JS.*callPromising"):
        host.op("run_from_sync_js", sync=True, model=model)


def test_tuning_cache_persists(host: Host) -> None:
    """The tuning cache outlives the Pyodide session: in a browser its folder is on IndexedDB (a tile
    stored before a reload is found after it), in Node it is the host's cache folder."""
    adapter, signature = "test adapter", "gemm b1 m8 n8 k8 t00"
    assert host.op("tuning_cache", adapter=adapter, signature=signature, tile=None) is None
    stored = host.op("tuning_cache", adapter=adapter, signature=signature, tile=[32, 64, 16, 2, 4])
    if isinstance(host, NodeHost):
        saved = json.loads((host.cache_dir / "webinfer" / "webgpu-tuning.json").read_text())
        assert saved[adapter][signature] == stored
        return
    assert isinstance(host, ChromiumHost)
    host.reload()
    host.op("device")  # the adapter mounts the folder when it opens, as the backend's tuner finds it
    assert host.op("tuning_cache", adapter=adapter, signature=signature, tile=None) == stored


def test_js_run_async_as_the_bench_times_it(models_dir: Path, tmp_path: Path) -> None:
    """webinfer-core.mjs's runAsync (Python starts each run, JS awaits the readback, Python
    finishes it), as `webinfer bench` times the webgpu-dawn-node target: its outputs against
    onnxruntime's on the digits test set."""
    from webinfer.bench.results import OK, UNAVAILABLE
    from webinfer.cli import main

    out = tmp_path / "report.json"
    argv = ["bench", str(model_path(models_dir, "lenet_digits")), "--runs", "5",
            "--targets", "webgpu-dawn-node", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    (row,) = json.loads(out.read_text())["results"]
    if row["status"] == UNAVAILABLE:
        pytest.skip(f"webgpu-dawn-node: {row['reason']}")
    assert row["status"] == OK, row["reason"]
    assert len(row["times_ms"]) == 5
    assert row["accuracy"]["max_rel"] <= TOLERANCE and row["accuracy"]["top1_agreement"] == 1.0
