"""The wasm backend natively (wasmtime): the model set against onnxruntime, clear errors, the wasm32 limit.

Oracle: onnxruntime's outputs saved with the model set, with tests/test_models.py's metric. The same
module runs in the browser (tests/browser/test_webinfer_pyodide.py), threaded there; natively the
backend runs one thread.
"""

from __future__ import annotations

import mmap
from array import array
from functools import partialmethod
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_models import assert_matches

import webinfer
from webinfer.backends import wasm
from webinfer.backends.wasm import WasmBackend
from webinfer.dtypes import DType
from webinfer.kernels import GemmParams, Kernel
from webinfer.plan import FIRST_IO, Plan, Step, TensorRef, serialize
from webinfer.testing import load_samples, model_path
from webinfer.wasm.runtime import VARIANTS, js_threads_problem

pytestmark = pytest.mark.skipif(
    WasmBackend.available() is not None, reason=f"wasm backend unavailable: {WasmBackend.available()}"
)


@pytest.mark.parametrize("variant", VARIANTS)
def test_models_match_onnxruntime(models_dir: Path, model_name: str, variant: str, monkeypatch) -> None:
    """Every sample, then the first again (a re-plan for new shapes must not disturb an old plan)."""
    monkeypatch.setattr(WasmBackend, "__init__", partialmethod(WasmBackend.__init__, variant=variant))
    samples = load_samples(models_dir, model_name)
    session = webinfer.InferenceSession(str(model_path(models_dir, model_name)), backend="wasm")
    for sample in [*samples, samples[0]]:
        assert_matches(session.run(None, sample.feeds), sample.outputs)


def test_auto_stays_native_and_wasm_reports_itself(models_dir: Path) -> None:
    path = str(model_path(models_dir, "mlp"))
    assert webinfer.InferenceSession(path).backend == "native"
    wasm._warn_once.cache_clear()  # the warning comes once per process
    with pytest.warns(RuntimeWarning, match="one thread: natively"):
        session = webinfer.InferenceSession(path, backend="wasm", threads=4)
    assert session.backend == "wasm" and session.threads == 1  # wasmtime runs no wasm threads
    assert "single-threaded" in session._backend.threads_note
    assert webinfer.InferenceSession(path, backend="wasm").threads == 1


def test_js_threads_decision() -> None:
    """When the JS side may start wasm threads (js_runtime.py feeds it what the JS context has)."""
    assert js_threads_problem(isolated=True, shared_memory=True, workers=True) is None
    assert "crossOriginIsolated" in js_threads_problem(isolated=False, shared_memory=False, workers=True)
    assert "SharedArrayBuffer" in js_threads_problem(isolated=True, shared_memory=False, workers=True)
    assert "workers" in js_threads_problem(isolated=True, shared_memory=True, workers=False)


def _matmul_model() -> bytes:
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "w")
    table = numpy_helper.from_array(np.arange(10, dtype=np.float32).reshape(5, 2), "table")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"),
            helper.make_node("Gather", ["table", "idx"], ["g"], name="gather"),
        ],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("idx", TensorProto.INT64, [3]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("g", TensorProto.FLOAT, [3, 2]),
        ],
        [w, table],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_bad_input_gives_clear_errors() -> None:
    session = webinfer.InferenceSession(_matmul_model(), backend="wasm")
    x, idx = np.ones((2, 4), np.float32), np.array([4, -1, 0])
    y, g = session.run(None, {"x": x, "idx": idx})
    np.testing.assert_array_equal(y, x @ np.arange(12, dtype=np.float32).reshape(4, 3))
    np.testing.assert_array_equal(g, [[8, 9], [8, 9], [0, 1]])
    with pytest.raises(webinfer.InputError, match=r"unknown input name.*'z'"):
        session.run(None, {"x": x, "idx": idx, "z": x})
    with pytest.raises(webinfer.InputError, match="dtype float64"):
        session.run(None, {"x": x.astype(np.float64), "idx": idx})
    with pytest.raises(webinfer.InputError, match=r"shape \(2, 5\)"):
        session.run(None, {"x": np.ones((2, 5), np.float32), "idx": idx})
    with pytest.raises(webinfer.BackendError, match=r"GATHER.*index 5 .* outside"):  # found by the C code
        session.run(None, {"x": x, "idx": np.array([0, 5, 1])})
    y, _ = session.run(None, {"x": x, "idx": idx})  # still usable after a failed run
    assert y.shape == (2, 3)


def _gemm_plan(n: int) -> Plan:
    refs = tuple(TensorRef(FIRST_IO + i, 0, DType.FLOAT, (n, n)) for i in range(3))
    params = GemmParams((), (), (), n, n, n, 0, 0, 1.0, 0.0, 0, 0)
    return Plan([Step(Kernel.GEMM, refs, params)], 0, b"", ["a", "b"], ["y"])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda w: w.__setitem__(0, 0x1234), "bad magic"),
        (lambda w: w.__setitem__(3, 77), "unknown kernel"),
        (lambda w: w.__setitem__(7, 4), "exceeds buffer"),
    ],
)
def test_corrupt_plan_is_refused_inside_wasm(edit, message: str) -> None:
    """csrc/plan.c validates every plan inside the module too: an error message, never a trap."""
    backend = WasmBackend()
    compiled = backend.compile(_gemm_plan(4))
    words = list(serialize(compiled.plan.steps))
    edit(words)
    backend._wasm.write(compiled.words, memoryview(array("q", words)).cast("B"))
    a = np.ones((4, 4), np.float32)
    with pytest.raises(webinfer.BackendError, match=message):
        backend.execute(compiled, [memoryview(a), memoryview(a)], [memoryview(np.empty_like(a))])


def test_plan_buffers_are_reused_after_plans_are_dropped() -> None:
    """Freed plan memory coalesces back: compiling and dropping plans does not grow the heap."""
    backend = WasmBackend()
    first = backend.compile(_gemm_plan(64))
    address = first.words
    del first
    for n in (8, 200, 64, 3):
        plan = backend.compile(_gemm_plan(n))
        a = np.ones((n, n), np.float32)
        y = np.empty_like(a)
        backend.execute(plan, [memoryview(a), memoryview(a)], [memoryview(y)])
        np.testing.assert_array_equal(y, np.full_like(a, n))
        del plan
    assert backend.compile(_gemm_plan(64)).words == address


def test_allocator_keeps_blocks_apart_and_coalesces() -> None:
    """csrc/wasm/alloc_wasm.c under random allocs and frees: 64-byte aligned, each block keeps its own
    bytes, and once all is freed the heap is one piece again (the next block starts where the first did)."""
    wasm = WasmBackend()._wasm
    rng = np.random.default_rng(7)
    live: dict[int, bytes] = {}
    first = wasm.call("wi_alloc32", 1000)
    wasm.call("wi_free", first)
    for step in range(400):
        if live and rng.random() < 0.45:
            address = list(live)[rng.integers(len(live))]
            got = bytearray(len(live[address]))
            wasm.read_into(address, memoryview(got))
            assert got == live.pop(address), f"block at {address} was overwritten"
            wasm.call("wi_free", address)
        else:
            size = int(rng.choice([0, 1, 63, 64, 65, 1000, 4096, 70000, 300000]))
            address = wasm.call("wi_alloc32", size)
            assert address and address % 64 == 0 and address not in live
            live[address] = bytes([step % 251]) * size
            wasm.write(address, memoryview(live[address]))
    for address in live:
        wasm.call("wi_free", address)
    assert wasm.call("wi_alloc32", 5000) == first


def test_weights_larger_than_wasm32_memory_are_refused() -> None:
    backend = WasmBackend()
    huge = mmap.mmap(-1, 5 << 30)  # untouched anonymous pages: costs no memory
    try:
        with pytest.raises(webinfer.BackendError, match=r"5120\.0 MiB.*4096\.0 MiB.*native backend"):
            backend.set_weights(memoryview(huge))
    finally:
        huge.close()


def test_session_refuses_a_model_over_the_limit(models_dir: Path, monkeypatch) -> None:
    """At session creation, naming the model's weight size and the limit (here a lowered one)."""
    original = WasmBackend.__init__

    def small(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.max_memory = 1 << 20

    monkeypatch.setattr(wasm.WasmBackend, "__init__", small)
    with pytest.raises(webinfer.BackendError, match=r"weights take 1\d\.\d MiB.*more than.*1\.0 MiB"):
        webinfer.InferenceSession(str(model_path(models_dir, "mobilenetv2")), backend="wasm")


def test_a_trap_is_a_backend_error() -> None:
    """Never expected (the C code validates its input), but a trap must not escape as an engine error."""
    backend = WasmBackend()
    with pytest.raises(webinfer.BackendError, match=r"trapped in wi_num_threads.*out of bounds"):
        backend._wasm.call("wi_num_threads", 0xFFFFFFF0)  # a context pointer outside memory
    assert backend._wasm.call("wi_num_threads", backend._ctx) == 1
