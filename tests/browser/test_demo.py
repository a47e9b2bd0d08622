"""The demo page (demo/index.html) in headless Chromium, served like `python scripts/serve.py` does:
pick a bundled test digit, classify it, and check that the page shows the digit that native webinfer
predicts for the same pixels; a screenshot of the result is kept as a PNG.

Needs Chromium + chromedriver + selenium, the Pyodide dist and a pure wheel in wheels/; each missing
piece skips with the reason. Set WEBINFER_ARTIFACTS=DIR to keep the screenshot (default: tmp dir).
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import webinfer
from webinfer.bench.browser import chromium
from webinfer.bench.targets import Paths, chromium_problem

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = 13  # demo/data/digits.json holds two test digits per class: this is a 6


def wait_for_state(driver: Any, states: tuple[str, ...], timeout: float = 180.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.body.dataset.state")
        if state in states:
            return state
        time.sleep(0.25)
    raise TimeoutError(f"page still '{state}' after {timeout} s, waiting for {states}")


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG; AssertionError if it is not one (signature, IHDR, IEND)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and b"IEND" in data[-12:]
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def demo_ready() -> Paths:
    """Skips (with the reason) unless Chromium, the Pyodide dist and a wheel are all there."""
    paths = Paths.discover()
    if reason := chromium_problem():
        pytest.skip(reason)
    if not (paths.dist / "pyodide.mjs").is_file():
        pytest.skip(f"no Pyodide dist in {paths.dist}: run scripts/setup_browser.sh")
    if paths.wheel is None:
        pytest.skip("no pure webinfer wheel in wheels/: run scripts/build_wheel.sh")
    return paths


def test_demo_classifies_a_bundled_digit(
    demo_ready: Paths, models_dir: Path, serve_dir: Callable[..., Any], tmp_path: Path
) -> None:
    sample = json.loads((ROOT / "demo" / "data" / "digits.json").read_text())["samples"][SAMPLE]
    pixels = np.array(sample["pixels"], np.float32).reshape(1, 1, 8, 8) / 16
    native = webinfer.InferenceSession(str(models_dir / "lenet_digits.onnx"))
    expected = int(native.run(None, {"input": pixels})[0].argmax())

    with serve_dir(ROOT) as base, chromium() as driver:
        driver.set_window_size(1200, 900)
        driver.get(f"{base}/demo/index.html")
        state = wait_for_state(driver, ("ready", "error"))
        assert state == "ready", driver.find_element("id", "status").text
        driver.find_element("css selector", f'button.sample[data-index="{SAMPLE}"]').click()
        driver.find_element("id", "classify").click()
        assert wait_for_state(driver, ("done", "error")) == "done", driver.find_element("id", "status").text
        prediction = driver.find_element("id", "prediction")
        shown, source = prediction.text, prediction.get_attribute("data-source")
        row = driver.find_element("css selector", "#webinfer-wasm-1 .prediction").text
        folder = Path(os.environ.get("WEBINFER_ARTIFACTS", tmp_path))
        folder.mkdir(parents=True, exist_ok=True)
        screenshot = folder / "demo.png"
        assert driver.save_screenshot(str(screenshot))

    assert source == "webinfer-wasm-1"  # the headline is webinfer's own answer
    assert shown == str(expected) and row.startswith(f"{expected} (")
    assert sample["label"] == expected  # the model gets this test digit right
    width, height = png_size(screenshot)
    assert width > 0 and height > 0 and screenshot.stat().st_size > 10_000
    print(f"demo screenshot: {screenshot}")
