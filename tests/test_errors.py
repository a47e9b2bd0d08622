"""Bad input gets a clear webinfer error naming the problem, on every backend; never a crash.

The oracle here is the contract itself: the exception type and the words that name the problem.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import webinfer
from webinfer.testing import require_backend

BACKENDS = ["reference", "native", "wasm", "webgpu"]


def _model(nodes, inputs, outputs, inits=(), opset=17) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def _mlp() -> bytes:
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    return _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [w],
    )


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    require_backend(request.param)
    return request.param


@pytest.mark.parametrize("cut", [0, 1, 7, 20, -30, -5, -1])
def test_truncated_model(backend, cut):
    data = _mlp()
    with pytest.raises(webinfer.ModelLoadError):
        webinfer.InferenceSession(data[:cut] if cut else b"", backend=backend)


def test_garbage_and_missing_file(backend, tmp_path):
    with pytest.raises(webinfer.ModelLoadError):
        webinfer.InferenceSession(b"\xff" * 64, backend=backend)
    with pytest.raises(webinfer.ModelLoadError, match=r"nope\.onnx"):
        webinfer.InferenceSession(str(tmp_path / "nope.onnx"), backend=backend)


def test_unsupported_op_names_op_and_node(backend):
    data = _model(
        [
            helper.make_node("Relu", ["x"], ["r"], name="first"),
            helper.make_node("Hardmax", ["r"], ["y"], name="hm"),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    with pytest.raises(webinfer.UnsupportedOpError, match=r"Hardmax.*'hm'"):
        webinfer.InferenceSession(data, backend=backend)


def test_dangling_input_and_bad_shapes(backend):
    dangling = _model(
        [helper.make_node("Relu", ["missing"], ["y"], name="r")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    with pytest.raises(webinfer.ShapeError, match="missing"):
        webinfer.InferenceSession(dangling, backend=backend)
    mismatch = _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.ones((4, 3), np.float32), "w")],
    )
    with pytest.raises(webinfer.ShapeError, match="MatMul node 'mm'"):
        webinfer.InferenceSession(mismatch, backend=backend)


def test_feed_errors(backend):
    session = webinfer.InferenceSession(_mlp(), backend=backend)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], x @ np.ones((4, 3), np.float32))
    with pytest.raises(webinfer.InputError, match=r"unknown input name.*'z'"):
        session.run(None, {"x": x, "z": x})
    with pytest.raises(webinfer.InputError, match=r"missing input.*'x'"):
        session.run(None, {})
    with pytest.raises(webinfer.InputError, match="dtype float64"):
        session.run(None, {"x": x.astype(np.float64)})
    with pytest.raises(webinfer.InputError, match="rank 3"):
        session.run(None, {"x": x[None]})
    with pytest.raises(webinfer.InputError, match=r"shape \(2, 5\)"):
        session.run(None, {"x": np.ones((2, 5), np.float32)})
    with pytest.raises(webinfer.InputError, match="unknown output name 'q'"):
        session.run(["q"], {"x": x})


def test_gather_index_out_of_range_is_an_error(backend):
    data = _model(
        [helper.make_node("Gather", ["table", "idx"], ["y"], name="g")],
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])],
        [numpy_helper.from_array(np.arange(10, dtype=np.float32).reshape(5, 2), "table")],
    )
    session = webinfer.InferenceSession(data, backend=backend)
    np.testing.assert_array_equal(
        session.run(None, {"idx": np.array([4, -1, 0])})[0], [[8, 9], [8, 9], [0, 1]]
    )
    with pytest.raises(webinfer.BackendError, match="5"):
        session.run(None, {"idx": np.array([0, 5, 1])})
