"""Export a few labelled digits of the bundled test split for the demo page: demo/data/digits.json.

The demo draws and classifies 8x8 digits like scikit-learn's (pixel values 0..16; the model sees
them divided by 16). Samples are taken in test-set order, the first `--per-class` of each digit,
so the file is the same on every machine that built the same model set.

    python demo/make_samples.py [--models .models] [--per-class 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / ".models", help="folder of digits_test.npz")
    parser.add_argument("--per-class", type=int, default=2)
    args = parser.parse_args()
    with np.load(args.models / "digits_test.npz") as test:
        x, y = test["x"], test["y"]
    samples = []
    for digit in range(10):
        for index in np.flatnonzero(y == digit)[: args.per_class]:
            pixels = np.rint(x[index].reshape(-1) * 16).astype(int)
            samples.append({"label": digit, "test_index": int(index), "pixels": pixels.tolist()})
    out = ROOT / "demo" / "data" / "digits.json"
    out.write_text(json.dumps({"source": "digits_test.npz (scikit-learn digits, test split)",
                               "samples": samples}) + "\n")  # fmt: skip
    print(f"wrote {len(samples)} samples to {out}")


if __name__ == "__main__":
    main()
