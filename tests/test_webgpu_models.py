"""The model set on the webgpu backend against onnxruntime's outputs (precomputed by the builder).

Bound: relative error max|webgpu - onnxruntime| / max|onnxruntime| <= 1e-3 per output. That is
looser than the CPU backends' 1e-4 because a GPU sums in float32 in its own order (tiled matrix
products, tree reductions in softmax and layer norm) and WGSL's exp/log may be a few ULP off;
lavapipe measured at most ~5e-6 on this set. Each model runs at its fixed shapes, once per sample,
with tuning off (its timing would only cost test time; tests/test_webgpu_kernels.py covers it).
Without a WebGPU adapter every test is skipped with the reason (see scripts/setup_webgpu.sh).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import webinfer
from webinfer.backends.webgpu import WebGPUBackend
from webinfer.testing import DIGITS_TEST, load_samples, model_path, rel_error
from webinfer.webgpu import tuning

TOLERANCE = 1e-3
UNAVAILABLE = WebGPUBackend.available()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"no WebGPU adapter: {UNAVAILABLE}")


@pytest.fixture(scope="module", autouse=True)
def no_tuning() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(tuning.BUDGET_ENV, "0")
        yield


def test_outputs_match_onnxruntime(models_dir: Path, model_name: str) -> None:
    """Every sample on one session, then the first again (BERT's and the MLP's samples differ in
    shape, so the session re-plans and must still be right on a shape it saw); the runs alternate
    between run and run_async."""
    samples = load_samples(models_dir, model_name)
    session = webinfer.InferenceSession(str(model_path(models_dir, model_name)), backend="webgpu")
    for i, sample in enumerate([*samples, samples[0]]):
        got = session.run(None, sample.feeds) if i % 2 else asyncio.run(session.run_async(None, sample.feeds))
        assert len(got) == len(sample.outputs)
        for actual, (name, expected) in zip(got, sample.outputs.items(), strict=True):
            actual = np.asarray(actual)
            assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), name
            error = rel_error(actual, expected)
            assert error <= TOLERANCE, f"{name}: relative error {error:.2e} > {TOLERANCE}"


def test_digits_accuracy_matches_onnxruntime(models_dir: Path) -> None:
    """The trained LeNet on the whole digits test split in one batch: onnxruntime's predictions."""
    with np.load(models_dir / DIGITS_TEST) as data:
        x, labels, expected = data["x"], data["y"], data["logits"]
    session = webinfer.InferenceSession(str(model_path(models_dir, "lenet_digits")), backend="webgpu")
    (logits,) = session.run(None, {"input": x})
    predicted = np.asarray(logits).argmax(1)
    assert np.mean(predicted == expected.argmax(1)) >= 0.995
    print(f"digits test accuracy ({len(labels)} images): webgpu {np.mean(predicted == labels):.2%}")
    assert rel_error(np.asarray(logits), expected) <= TOLERANCE
