"""Whole models against onnxruntime, the independent oracle (its outputs are precomputed by the builder).

Metric: for every output, relative error max|webinfer - onnxruntime| / max|onnxruntime| <= 1e-4. It is
scale-free, so one bound fits logits and hidden states, and the builder guarantees outputs are not
degenerate (std between 1e-2 and 1e2) so the bound is meaningful.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import webinfer
from webinfer.testing import DIGITS_TEST, load_samples, model_path, rel_error

TOLERANCE = 1e-4
# (backend, threads): the reference backend, and the native one multi- and single-threaded
CONFIGS = [("reference", None), ("native", None), ("native", 1)]
CONFIG_IDS = ["reference", "native", "native-1thread"]


def assert_matches(got: Sequence[np.ndarray], want: dict[str, np.ndarray]) -> float:
    """Checks every output; returns the largest relative error."""
    assert len(got) == len(want)
    worst = 0.0
    for actual, (name, expected) in zip(got, want.items(), strict=True):
        actual = np.asarray(actual)
        assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), name
        error = rel_error(actual, expected)
        assert error <= TOLERANCE, f"{name}: relative error {error:.2e} > {TOLERANCE}"
        worst = max(worst, error)
    return worst


@pytest.mark.parametrize(("backend", "threads"), CONFIGS, ids=CONFIG_IDS)
def test_outputs_match_onnxruntime(
    models_dir: Path, model_name: str, backend: str, threads: int | None, summary_line
) -> None:
    """Every saved sample on one session, then the first again: BERT's and the MLP's samples differ in
    (batch, seq) shape, so the session must re-plan for new shapes and still be right on a shape it saw."""
    samples = load_samples(models_dir, model_name)
    session = webinfer.InferenceSession(
        str(model_path(models_dir, model_name)), backend=backend, threads=threads
    )
    errors = []
    for sample in [*samples, samples[0]]:
        errors.append(assert_matches(session.run(None, sample.feeds), sample.outputs))
    summary_line(f"[{backend}{'' if threads is None else f', {threads} thread'}] {model_name}: "
                 f"max relative error vs onnxruntime {max(errors):.1e}")  # fmt: skip


@pytest.mark.parametrize("backend", ["reference", "native"])
def test_digits_accuracy_matches_onnxruntime(models_dir: Path, backend: str, summary_line) -> None:
    """The trained LeNet on the whole digits test split in one batch: same predictions as onnxruntime."""
    with np.load(models_dir / DIGITS_TEST) as data:
        x, labels, expected = data["x"], data["y"], data["logits"]
    session = webinfer.InferenceSession(str(model_path(models_dir, "lenet_digits")), backend=backend)
    (logits,) = session.run(None, {"input": x})
    predicted, oracle_predicted = np.asarray(logits).argmax(1), expected.argmax(1)
    accuracy, oracle_accuracy = np.mean(predicted == labels), np.mean(oracle_predicted == labels)
    agreement = np.mean(predicted == oracle_predicted)
    summary_line(
        f"[{backend}] digits CNN test accuracy ({len(labels)} images): "
        f"webinfer {accuracy:.2%}, onnxruntime {oracle_accuracy:.2%}, agreement {agreement:.2%}"
    )
    assert agreement >= 0.995
    assert abs(accuracy - oracle_accuracy) <= 1 - agreement
    assert rel_error(np.asarray(logits), expected) <= TOLERANCE


@pytest.mark.parametrize("backend", ["reference", "native"])
def test_bytes_model_and_selected_outputs(models_dir: Path, backend: str) -> None:
    """A model given as bytes; run() returns just the requested outputs, in the requested order."""
    sample = load_samples(models_dir, "bert_tiny")[1]
    session = webinfer.InferenceSession(model_path(models_dir, "bert_tiny").read_bytes(), backend=backend)
    for names in (["pooler_output"], ["pooler_output", "last_hidden_state"]):
        assert_matches(session.run(names, sample.feeds), {n: sample.outputs[n] for n in names})


@pytest.mark.parametrize("backend", ["reference", "native"])
def test_run_async_and_start_give_what_run_gives(models_dir: Path, backend: str) -> None:
    """The awaitable run and the two-half run (start/finish) of the same session: the requested
    outputs, in order; on CPU backends start finishes the run itself (nothing left to await)."""
    sample = load_samples(models_dir, "bert_tiny")[1]
    session = webinfer.InferenceSession(str(model_path(models_dir, "bert_tiny")), backend=backend)
    names = ["pooler_output", "last_hidden_state"]
    want = {n: sample.outputs[n] for n in names}
    assert_matches(asyncio.run(session.run_async(names, sample.feeds)), want)
    started = session.start(names, sample.feeds)
    assert started.wait is None
    assert_matches(started.finish(None), want)


def concrete(shape: Sequence[int | str | None]) -> list[int | None]:
    """A shape with every symbolic or unknown dimension as None (only concrete sizes must agree)."""
    return [d if isinstance(d, int) else None for d in shape]


def test_io_metadata_matches_onnxruntime(models_dir: Path, model_name: str) -> None:
    path = str(model_path(models_dir, model_name))
    session = webinfer.InferenceSession(path)
    oracle = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for got, want in (
        (session.get_inputs(), oracle.get_inputs()),
        (session.get_outputs(), oracle.get_outputs()),
    ):
        assert [(a.name, a.type, concrete(a.shape)) for a in got] == [
            (b.name, b.type, concrete(b.shape)) for b in want
        ]
