"""The ONNX backend node test cases (generated in-process by the onnx package) on every backend.

Oracle: the expected outputs that ship with each case, compared with the case's own tolerances
(rtol 1e-3, atol 1e-7 unless the case says otherwise). Every case whose ops are all registered is run;
it passes, fails, or raises UnsupportedOpError (a variant we do not implement). Cases with float32
inputs must all pass except the exclusions listed below with their reasons.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

import webinfer
from webinfer.ops import supported_ops
from webinfer.testing import require_backend

# Float32 cases we deliberately do not support: a name pattern and the reason.
EXCLUDED: dict[str, str] = {
    r"_3d_": "3-D pooling: the engine implements 1-D and 2-D spatial ops (no target model has 3-D ones)",
    r"training_mode": "training mode: webinfer is an inference engine",
    r"with_argmax": "MaxPool's Indices output: used for unpooling in training, not by inference models",
    r"^test_cast_.*(BFLOAT16|FLOAT8|INT4|FLOAT4|INT2|E8M0)": "sub-byte and 8-bit float element types",
}


def excluded(name: str) -> bool:
    return any(re.search(pattern, name) for pattern in EXCLUDED)


@dataclass
class Case:
    name: str
    model: bytes
    data_sets: list
    rtol: float
    atol: float
    float32: bool


@functools.cache
def cases() -> list[Case]:
    from onnx.backend.test.case.node import collect_testcases

    supported = set(supported_ops())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = collect_testcases(None)
    out = []
    for c in raw:
        ops = {n.op_type for n in c.model.graph.node}
        if (
            not ops
            or not ops <= supported
            or any(n.domain not in ("", "ai.onnx") for n in c.model.graph.node)
        ):
            continue
        data_sets = [([_array(a) for a in ins], [_array(e) for e in outs]) for ins, outs in c.data_sets]
        arrays = [a for inputs, _ in data_sets for a in inputs]
        float32 = all(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in arrays)
        out.append(Case(c.name, c.model.SerializeToString(), data_sets, c.rtol, c.atol, float32))
    return out


def run_case(case: Case, backend: str) -> str | None:
    """None when the case passes; otherwise why not ('unsupported: ...' or 'failed: ...')."""
    try:
        session = webinfer.InferenceSession(case.model, backend=backend)
        args = session.get_inputs()
        for inputs, expected in case.data_sets:
            got = session.run(None, {a.name: x for a, x in zip(args, inputs, strict=False)})
            for g, e in zip(got, expected, strict=True):
                e = np.asarray(e)
                if g.shape != e.shape or g.dtype != e.dtype:
                    return f"failed: got {g.dtype}{g.shape}, expected {e.dtype}{e.shape}"
                np.testing.assert_allclose(g, e, rtol=case.rtol, atol=case.atol)
    except webinfer.UnsupportedOpError as exc:
        return f"unsupported: {exc}"
    except AssertionError as exc:
        return f"failed: {str(exc).strip().splitlines()[-1]}"
    except Exception as exc:  # reported as a failure with its type, never swallowed
        return f"failed: {type(exc).__name__}: {exc}"
    return None


def _array(value):
    """Some generators keep data as TensorProto (as a file-based runner would read it)."""
    from onnx import TensorProto, numpy_helper

    return numpy_helper.to_array(value) if isinstance(value, TensorProto) else value


@pytest.mark.parametrize("backend", ["reference", "native", "wasm", "webgpu"])
def test_onnx_node_conformance(backend: str, summary_line) -> None:
    require_backend(backend)
    counts: Counter[str] = Counter()
    failures, unexpected = [], []
    for case in cases():
        result = run_case(case, backend)
        status = "passed" if result is None else result.split(":")[0]
        counts[status] += 1
        if status == "failed":
            failures.append(f"{case.name}: {result}")
        elif status == "unsupported" and case.float32 and not excluded(case.name):
            unexpected.append(f"{case.name}: {result}")
    summary_line(
        f"[{backend}] ONNX node cases with registered ops: {len(cases())}; passed {counts['passed']}, "
        f"failed {counts['failed']}, not-supported {counts['unsupported']}"
    )
    assert not failures, "\n".join(failures)
    if unexpected:
        print("\n".join(unexpected))
    assert not unexpected, "float32 cases not supported and not excluded:\n" + "\n".join(unexpected)
