"""The bad calls of the browser bad-input tests, run inside Pyodide (not collected by pytest): its
source is sent there by test_webinfer_pyodide.py (wasm) and with webgpu_ops.py (webgpu), so both
backends get the same calls, checked against conftest.BAD_INPUT_ERRORS. No numpy there: inputs are
array.array and memoryviews.
"""

from __future__ import annotations

from array import array

import webinfer


def bad_calls(mlp: bytes, gather: bytes, backend: str) -> list[list[str]]:
    """(exception type, message) of each bad call on sessions of the MLP and the Gather model, in
    order; the Gather session must still give right results after its failed run."""
    model = webinfer.InferenceSession(mlp, backend=backend)
    lookup = webinfer.InferenceSession(gather, backend=backend)
    x = array("f", [0.0]) * 784
    calls = [
        lambda: model.run(None, {"nope": x}),
        lambda: model.run(None, {"input": array("d", [0.0]) * 784}),
        lambda: model.run(None, {"input": x}),  # a flat array cannot say the batch size
        lambda: model.run(None, {"input": memoryview(x[:700]).cast("B").cast("f", (1, 700))}),
        lambda: lookup.run(None, {"idx": array("q", [0, 5, 1])}),
    ]
    found = []
    for call in calls:
        try:
            call()
            found.append(["no error", ""])
        except Exception as exc:
            found.append([type(exc).__name__, str(exc)])
    (y,) = lookup.run(None, {"idx": array("q", [4, -1, 0])})
    if y.tolist() != [[8.0, 9.0], [8.0, 9.0], [0.0, 1.0]]:
        found.append(["wrong result after a failed run", str(y.tolist())])
    return found
