"""The feeds every target runs, and how they travel to Node and browser pages.

A model from the bundled set (a manifest next to it) runs its recorded first sample, so that BERT
gets real masks; lenet_digits also runs the labelled digits test split as one batch, for top-1
agreement and accuracy. Any other model gets seeded random feeds of its declared shapes
(symbolic dims 1, as `webinfer run --random`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import dtypes
from ..onnx_reader import load_model
from ..testing import DIGITS_TEST, load_manifest, load_samples

ALIGN = 8  # every feed starts 8-byte aligned in the blob, so JS typed arrays can view it in place


@dataclass
class Inputs:
    feeds: dict[str, np.ndarray]
    source: str  # where the feeds came from, for the report
    eval_feeds: dict[str, np.ndarray] | None = None
    labels: np.ndarray | None = None


def _random_feeds(model_path: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for vi in load_model(str(model_path)).graph.inputs:
        shape = tuple(d if isinstance(d, int) else 1 for d in vi.shape or ())
        dtype = np.dtype(dtypes.info(vi.dtype).numpy_name)
        if dtype.kind == "f":
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[vi.name] = rng.integers(0, 2, size=shape).astype(dtype)
    return feeds


def load_inputs(model_path: Path) -> Inputs:
    folder, name = model_path.parent, model_path.stem
    bundled = (folder / "manifest.json").is_file() and name in load_manifest(folder).get("models", {})
    if not bundled:
        return Inputs(_random_feeds(model_path), "random (seed 0)")
    inputs = Inputs(load_samples(folder, name)[0].feeds, f"sample {name}.io.npz")
    if name == "lenet_digits" and (folder / DIGITS_TEST).is_file():
        with np.load(folder / DIGITS_TEST) as test:
            inputs.eval_feeds = {"input": test["x"]}
            inputs.labels = test["y"]
        inputs.source += f" + {DIGITS_TEST} ({len(inputs.labels)} labelled digits)"
    return inputs


def pack(inputs: Inputs) -> tuple[bytes, list[dict[str, Any]], list[dict[str, Any]] | None]:
    """One binary blob holding every feed, and the specs (name, dtype, shape, offset, nbytes) the
    JS side slices it with: the timing feeds, then the evaluation feeds if any."""
    blob = bytearray()

    def specs(feeds: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        out = []
        for name, array in feeds.items():
            blob.extend(b"\0" * (-len(blob) % ALIGN))
            data = np.ascontiguousarray(array).tobytes()
            out.append(
                {"name": name, "dtype": str(array.dtype), "shape": list(array.shape), "offset": len(blob),
                 "nbytes": len(data)}
            )  # fmt: skip
            blob.extend(data)
        return out

    feed_specs = specs(inputs.feeds)
    eval_specs = specs(inputs.eval_feeds) if inputs.eval_feeds is not None else None
    return bytes(blob), feed_specs, eval_specs


def describe(feeds: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{name} {a.dtype}{list(a.shape)}" for name, a in feeds.items())
