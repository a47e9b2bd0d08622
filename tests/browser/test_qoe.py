"""A short page-experience run (`webinfer bench --qoe`) in headless Chromium: the report has every
scenario with the documented fields and sane values, or the reason it could not run. No assertion
depends on how fast anything is."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from webinfer.bench.qoe import SCENARIOS
from webinfer.bench.results import OK, UNAVAILABLE
from webinfer.bench.targets import Paths, chromium_problem
from webinfer.cli import main

SECONDS = 1.0


def test_qoe_report(models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if reason := chromium_problem():
        pytest.skip(reason)
    out = tmp_path / "report.json"
    argv = ["bench", str(models_dir / "lenet_digits.onnx"), "--targets", "webinfer-native", "--runs", "3",
            "--threads", "1", "--qoe", "--qoe-seconds", str(SECONDS), "--json", str(out)]  # fmt: skip
    plots = importlib.util.find_spec("matplotlib") is not None
    if plots:
        argv += ["--plots", str(tmp_path)]
    assert main(argv) == 0
    qoe = json.loads(out.read_text())["qoe"]
    assert qoe["seconds"] == SECONDS and qoe["threads"] == 1 and len(qoe["click_gap_s"]) == 2
    scenarios = {s["scenario"]: s for s in qoe["scenarios"]}
    assert list(scenarios) == list(SCENARIOS)
    assert scenarios["idle"]["status"] == OK
    wheel = Paths.discover().wheel is not None
    for name, s in scenarios.items():
        if s["status"] != OK:  # only a missing wheel or npm package may stop a scenario
            assert s["status"] == UNAVAILABLE and s["reason"], s
            assert (name.startswith("webinfer") and not wheel) or name.startswith("ort-web"), s
            continue
        assert 0 < s["fps"] < 1000 and s["frames"] > 0 and s["worst_frame_ms"] > 0
        assert 0 <= s["long_frames_50ms"] <= s["long_frames_16ms"] <= 1
        delay = s["input_delay_ms"]
        assert delay["n"] >= 1 and 0 <= delay["median"] <= delay["p90"] <= delay["max"]
        if name == "idle":
            assert s["inferences"] == 0 and s["inference_ms_median"] is None
        else:
            assert s["inferences"] >= 1 and s["inference_ms_median"] > 0
    assert "page experience" in capsys.readouterr().out
    if plots:
        assert (tmp_path / "qoe.png").stat().st_size > 1000
