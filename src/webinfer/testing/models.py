"""The generated model set: file layout, freshness check and oracle outputs.

scripts/make_models.py writes the set; tests and benchmarks read it through these helpers, so the
layout and the "is it current?" rule live in one place. Only the standard library and numpy are
used here: the builder's torch dependency is needed only when the set must be (re)built.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAMES = ("mlp", "lenet_digits", "mobilenetv2", "resnet18", "squeezenet", "bert_tiny")
MANIFEST = "manifest.json"
DIGITS_TEST = "digits_test.npz"  # x, y and onnxruntime's logits for the whole digits test split
BUILDER = Path("scripts") / "make_models.py"
_IN, _OUT = "input:", "output:"


@dataclass
class Sample:
    """One set of feeds and onnxruntime's outputs for them (outputs in graph order)."""

    feeds: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]


def rel_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max|actual - expected| / max|expected|: scale-free, so one bound fits logits and embeddings."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    return float(np.max(diff)) / (scale or 1.0) if diff.size else 0.0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_path(models_dir: Path, name: str) -> Path:
    return models_dir / f"{name}.onnx"


def sample_file(name: str, index: int) -> str:
    """`<name>.io.npz` for the first sample, `<name>.io<k>.npz` for further input shapes."""
    return f"{name}.io{index or ''}.npz"


def save_sample(path: Path, sample: Sample) -> None:
    arrays: dict[str, Any] = {_IN + k: v for k, v in sample.feeds.items()}
    arrays.update({_OUT + k: v for k, v in sample.outputs.items()})
    np.savez(path, **arrays)


def load_manifest(models_dir: Path) -> dict[str, Any]:
    return json.loads((models_dir / MANIFEST).read_text())


def load_samples(models_dir: Path, name: str) -> list[Sample]:
    samples = []
    for file in load_manifest(models_dir)["models"][name]["samples"]:
        with np.load(models_dir / file) as data:
            samples.append(
                Sample(
                    feeds={k[len(_IN) :]: data[k] for k in data.files if k.startswith(_IN)},
                    outputs={k[len(_OUT) :]: data[k] for k in data.files if k.startswith(_OUT)},
                )
            )
    return samples


def entry_problem(models_dir: Path, entry: dict[str, Any]) -> str | None:
    """None when every file a manifest entry lists is present with the recorded hash."""
    for file, sha in entry["files"].items():
        path = models_dir / file
        if not path.is_file():
            return f"{file} is missing"
        if file_sha256(path) != sha:
            return f"{file} differs from the manifest"
    return None


def stale_reason(models_dir: Path, builder: Path) -> str | None:
    """None when the set in models_dir is complete and was made by this exact builder script."""
    if not (models_dir / MANIFEST).is_file():
        return "no manifest"
    manifest = load_manifest(models_dir)
    if manifest.get("builder_sha256") != file_sha256(builder):
        return "the builder script changed"
    for name in MODEL_NAMES:
        entry = manifest["models"].get(name)
        problem = "not built" if entry is None else entry_problem(models_dir, entry)
        if problem:
            return f"{name}: {problem}"
    return None


def ensure_models(repo: Path, models_dir: Path | None = None) -> Path:
    """Build the set with the repo's builder when missing or out of date; returns its directory.

    The builder runs in a subprocess so that torch is imported (and its threads started) only when
    a build is needed, never in the process under test.
    """
    models_dir = models_dir or repo / ".models"
    builder = repo / BUILDER
    if stale_reason(models_dir, builder) is not None:
        done = subprocess.run(
            [sys.executable, str(builder), "--out", str(models_dir)], capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(
                f"{BUILDER} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-4000:]}"
            )
        reason = stale_reason(models_dir, builder)
        if reason:
            raise RuntimeError(
                f"{BUILDER} ran but the model set is still not current: {reason}\n{done.stdout[-2000:]}"
            )
    return models_dir
