"""Feeding and reading plain Python buffers, the only tensors available in a browser without numpy.

Oracle: numpy's matmul of the same values; the engine's numpy path is disabled for the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from array import array
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import webinfer
import webinfer.tensors

W = np.arange(12, dtype=np.float32).reshape(4, 3) / 10


def _model(batch) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
        [numpy_helper.from_array(W, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.fixture
def no_numpy(monkeypatch):
    monkeypatch.setattr(webinfer.tensors, "np", None)


def test_array_and_memoryview_inputs_without_numpy(no_numpy):
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    expected = x @ W
    static = webinfer.InferenceSession(_model(2), backend="reference")
    (y,) = static.run(None, {"x": array("f", x.ravel().tolist())})
    assert isinstance(y, memoryview) and y.shape == (2, 3) and y.format == "f"
    np.testing.assert_allclose(np.array(y.tolist(), np.float32), expected, rtol=1e-6)
    dynamic = webinfer.InferenceSession(_model("batch"), backend="reference")
    shaped = memoryview(bytearray(x.tobytes())).cast("f", (2, 4))
    (y,) = dynamic.run(None, {"x": shaped})
    np.testing.assert_allclose(np.array(y.tolist(), np.float32), expected, rtol=1e-6)


def test_buffer_errors(no_numpy):
    static = webinfer.InferenceSession(_model(2), backend="reference")
    with pytest.raises(webinfer.InputError, match="dtype 'd'"):
        static.run(None, {"x": array("d", [0.0] * 8)})
    with pytest.raises(webinfer.InputError, match="7 elements"):
        static.run(None, {"x": array("f", [0.0] * 7)})
    dynamic = webinfer.InferenceSession(_model("batch"), backend="reference")
    with pytest.raises(webinfer.InputError, match="symbolic dims"):
        dynamic.run(None, {"x": array("f", [0.0] * 8)})
    with pytest.raises(webinfer.InputError, match="expected a buffer"):
        dynamic.run(None, {"x": [1.0, 2.0]})


def test_engine_imports_and_plans_without_numpy():
    """The engine (loader, ops, compiler, planner) must not need numpy: import it with numpy blocked."""
    code = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "numpy" or name.startswith("numpy."):
                    raise ImportError("numpy blocked")
        sys.meta_path.insert(0, Block())
        from webinfer.onnx_reader import load_model
        from webinfer.program import prepare
        from webinfer.compiler import build_plan
        program, weights = prepare(load_model({_model(2)!r}))
        plan = build_plan(program, {{"x": (2, 4)}}, evaluate=None)
        print(len(plan.steps), plan.steps[0].kernel.name, len(weights))
        """
    )
    src = str(Path(webinfer.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out.split() == ["1", "GEMM", str(W.nbytes)]
