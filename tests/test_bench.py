"""The benchmark harness (webinfer.bench): statistics, accuracy, ratios, the report's JSON shape, its
rendering, and the reasons given for targets that cannot run. Nothing here asserts on speed."""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from webinfer.bench import targets as targets_module
from webinfer.bench.inputs import load_inputs, pack
from webinfer.bench.qoe import summarize
from webinfer.bench.report import render, render_qoe
from webinfer.bench.results import (
    ERROR,
    OK,
    UNAVAILABLE,
    Measurement,
    Reference,
    Result,
    Unavailable,
    accuracy,
    add_ratios,
    check_report,
    decode_outputs,
    encode_outputs,
    make_report,
    measured,
)
from webinfer.bench.stats import median, percentile, ratio
from webinfer.bench.targets import TARGET_NAMES, TARGETS, Paths, parse_targets, problem
from webinfer.cli import main


def is_png(path: Path) -> bool:
    """PNG signature, an IHDR with a non-empty image, and an IEND chunk."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or b"IEND" not in data[-12:]:
        return False
    width, height = struct.unpack(">II", data[16:24])
    return width > 0 and height > 0


@pytest.mark.parametrize("n", [1, 2, 5, 20, 101])
def test_percentile_and_median_match_numpy(n: int) -> None:
    values = list(np.random.default_rng(n).exponential(10.0, n))
    for q in (0, 10, 50, 90, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert median(values) == pytest.approx(np.median(values))
    assert percentile(values, 90) >= median(values)


def test_statistics_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        median([])
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(1.0, None) is None and ratio(1.0, 0.0) is None


def test_parse_targets() -> None:
    assert [t.name for t in parse_targets("all")] == list(TARGET_NAMES)
    assert [t.name for t in parse_targets("onnxruntime, webinfer-native")] == [
        "webinfer-native",
        "onnxruntime",
    ]
    with pytest.raises(ValueError, match=r"unknown target.*nope.*choose from webinfer-native"):
        parse_targets("webinfer-native,nope")
    with pytest.raises(ValueError):
        parse_targets(" , ")


def test_outputs_round_trip_through_base64() -> None:
    outputs = {
        "f": np.arange(6, dtype=np.float32).reshape(2, 3),
        "i": np.array([[-(2**40), 7]], dtype=np.int64),
        "b": np.array([True, False]),
    }
    back = decode_outputs(json.loads(json.dumps(encode_outputs(outputs))))
    for name, array in outputs.items():
        assert back[name].dtype == array.dtype and np.array_equal(back[name], array)


def record(times: list[float], logits: np.ndarray, **extra: object) -> dict:
    return {"load_ms": 5.0, "first_ms": 2.0, "times_ms": times, "backend": "native", "threads_used": 1,
            "memory": {"peak_rss_growth_bytes": 2**20}, "outputs": encode_outputs({"logits": logits}),
            **extra}  # fmt: skip


def test_measurement_from_record_raises_with_the_runner_reason() -> None:
    with pytest.raises(Unavailable, match="no WebGPU adapter"):
        Measurement.from_record({"unavailable": "no WebGPU adapter"})
    with pytest.raises(RuntimeError, match="boom"):
        Measurement.from_record({"error": "TypeError: boom"})
    m = Measurement.from_record(record([1.0, 2.0], np.zeros((1, 3), np.float32), runtime_ms=7.0))
    assert m.runtime_ms == 7.0 and m.eval_outputs is None and m.outputs["logits"].shape == (1, 3)


def test_accuracy_errors_agreement_and_labels() -> None:
    expected = np.array([[1.0, -4.0, 2.0]], np.float32)
    got = expected + np.array([[0.0, 0.5, -0.25]], np.float32)
    ref_eval = np.array([[0, 1], [1, 0], [3, 2], [0, 5]], np.float32)  # top-1: 1, 0, 0, 1
    eval_got = np.array([[0, 1], [1, 0], [2, 3], [0, 5]], np.float32)  # top-1: 1, 0, 1, 1
    ref = Reference({"logits": expected}, {"logits": ref_eval}, labels=np.array([1, 0, 1, 0]))
    result = accuracy({"logits": got}, {"logits": eval_got}, ref)
    assert result["max_abs"] == pytest.approx(0.5)
    assert result["max_rel"] == pytest.approx(0.5 / 4.0)
    assert result["top1_agreement"] == 0.75
    assert result["accuracy"] == 0.75
    assert set(accuracy({"logits": got}, None, ref)) == {"max_abs", "max_rel"}


def sample_results() -> list[Result]:
    logits = np.array([[1.0, 2.0]], np.float32)
    ref = Reference({"logits": logits})

    def ok(target: str, threads: int | None, times: list[float]) -> Result:
        return measured(target, threads, Measurement.from_record(record(times, logits)), ref)

    return [
        ok("webinfer-native", 1, [2.0, 4.0, 3.0]),
        ok("webinfer-native", 2, [1.0, 1.0, 1.0]),
        ok("onnxruntime", 1, [1.0, 1.5, 2.0]),
        ok("webinfer-webgpu", None, [6.0, 6.0, 6.0]),
        ok("pyodide-chromium", 2, [4.0, 4.0, 5.0]),
        Result("pyodide-node", 1, UNAVAILABLE, "node not found: run scripts/setup_browser.sh"),
        Result("ort-web-wasm", 1, ERROR, "RuntimeError: page crashed"),
    ]


def test_measured_statistics_and_ratios() -> None:
    results = sample_results()
    add_ratios(results)
    by = {(r.target, r.threads): r for r in results}
    native1 = by["webinfer-native", 1]
    assert (native1.median_ms, native1.p90_ms, native1.memory_bytes) == (3.0, pytest.approx(3.8), 2**20)
    assert native1.accuracy == {"max_abs": 0.0, "max_rel": 0.0}
    assert native1.vs_webinfer_native == 1.0 and native1.vs_onnxruntime == 2.0
    assert by["webinfer-webgpu", None].vs_webinfer_native == 2.0  # no thread setting: the 1-thread baseline
    assert by["pyodide-chromium", 2].vs_webinfer_native == 4.0
    assert by["pyodide-chromium", 2].vs_onnxruntime is None  # no onnxruntime row at 2 threads
    assert by["pyodide-node", 1].vs_webinfer_native is None


def report_for(results: list[Result], qoe: dict | None = None) -> dict:
    model = {"path": "m.onnx", "name": "m.onnx", "size_bytes": 1000, "inputs": "input float32[1, 2]",
             "input_source": "random (seed 0)"}  # fmt: skip
    settings = {
        "runs": 3,
        "max_seconds": 30.0,
        "threads": [1, 2],
        "targets": list(TARGET_NAMES),
        "wheel": None,
        "chromium_flags": [],
        "reference": "onnxruntime",
    }
    return make_report(model, settings, {"cpus": 2}, results, qoe)


def test_report_json_schema_and_rendering() -> None:
    results = sample_results()
    add_ratios(results)
    report = json.loads(json.dumps(report_for(results)))  # what --json writes
    check_report(report)
    assert [r["status"] for r in report["results"]] == [OK] * 5 + [UNAVAILABLE, ERROR]
    text = render(report)
    assert "median ms" in text and "vs native" in text and "vs ort" in text
    assert "2.00x" in text  # webinfer-native x1 against onnxruntime x1
    assert "not available:\n  pyodide-node (threads 1): node not found: run scripts/setup_browser.sh" in text
    assert "failed:\n  ort-web-wasm (threads 1): RuntimeError: page crashed" in text


def test_check_report_names_what_is_wrong() -> None:
    def broken(change) -> dict:
        report = json.loads(json.dumps(report_for(sample_results())))
        change(report)
        return report

    cases = {
        "schema": lambda r: r.update(schema="other"),
        "missing 'machine'": lambda r: r.pop("machine"),
        "without a reason": lambda r: r["results"][5].update(reason=None),
        "lacks": lambda r: r["results"][0].update(median_ms=None),
        "p90 >= median": lambda r: r["results"][0].update(p90_ms=0.1),
        "differ from Result": lambda r: r["results"][0].update(extra=1),
        "unknown status": lambda r: r["results"][0].update(status="maybe"),
    }
    for message, change in cases.items():
        with pytest.raises(ValueError, match=message):
            check_report(broken(change))


def test_unavailable_reasons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    by_name = {t.name: t for t in TARGETS}
    node, page, ort_web = by_name["pyodide-node"], by_name["pyodide-chromium"], by_name["ort-web-wasm"]
    monkeypatch.setattr(targets_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(targets_module, "chromium_problem", lambda: None)
    assert "no benchmark pages" in problem(node, Paths(tmp_path, None))
    (tmp_path / "demo" / "bench").mkdir(parents=True)
    (tmp_path / "demo" / "bench" / "engines.mjs").touch()
    assert "no Pyodide dist" in problem(node, Paths(tmp_path, None))
    assert "onnxruntime-web is not installed" in problem(ort_web, Paths(tmp_path, None))
    (tmp_path / "build" / "pyodide").mkdir(parents=True)
    (tmp_path / "build" / "pyodide" / "pyodide.mjs").touch()
    assert "no pure webinfer wheel" in problem(page, Paths(tmp_path, None))
    assert "does not exist" in problem(page, Paths(tmp_path, tmp_path / "webinfer-0-py3-none-any.whl"))
    wheel = tmp_path / "wheels" / "webinfer-0.1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.touch()
    assert Paths.discover(root=tmp_path).wheel == wheel
    assert problem(node, Paths.discover(root=tmp_path)) is None
    fake = targets_module.Target("webinfer-fake", "webinfer", "process", "no-such-backend")
    assert "unknown backend 'no-such-backend'" in problem(fake, Paths(tmp_path, None))

    monkeypatch.setattr(targets_module.shutil, "which", lambda name: None)
    assert problem(node, Paths(tmp_path, wheel)) == "node not found: run scripts/setup_browser.sh"
    monkeypatch.undo()
    monkeypatch.setattr(targets_module.shutil, "which", lambda name: None)
    assert "not found" in problem(page, Paths(tmp_path, wheel)) or "selenium" in problem(
        page, Paths(tmp_path, wheel)
    )


def test_inputs_from_the_model_set(models_dir: Path, tmp_path: Path) -> None:
    digits = load_inputs(models_dir / "lenet_digits.onnx")
    assert digits.feeds["input"].shape == (1, 1, 8, 8)
    assert digits.eval_feeds is not None and digits.labels is not None
    assert digits.eval_feeds["input"].shape[0] == len(digits.labels) > 100
    blob, feeds, eval_feeds = pack(digits)
    for spec, array in ((feeds[0], digits.feeds["input"]), (eval_feeds[0], digits.eval_feeds["input"])):
        assert spec["offset"] % 8 == 0 and spec["dtype"] == "float32"
        data = np.frombuffer(blob, np.float32, spec["nbytes"] // 4, spec["offset"]).reshape(spec["shape"])
        assert np.array_equal(data, array)
    shutil.copy(models_dir / "mlp.onnx", tmp_path / "mlp.onnx")  # outside the set: random feeds
    loose = load_inputs(tmp_path / "mlp.onnx")
    assert loose.source == "random (seed 0)" and loose.feeds["input"].shape == (1, 784)
    assert loose.eval_feeds is None


def test_qoe_summary_and_rendering() -> None:
    frames = [16.7] * 50 + [33.3] * 8 + [66.7] * 2
    raw = {"elapsed_ms": sum(frames), "frame_intervals_ms": frames, "input_delays_ms": [1.0, 30.0, 20.0],
           "inference_ms": [25.0, 26.0]}  # fmt: skip
    s = summarize(raw)
    assert s["fps"] == pytest.approx(1000 * 60 / sum(frames))
    assert s["long_frames_16ms"] == pytest.approx(10 / 60) and s["long_frames_50ms"] == pytest.approx(2 / 60)
    assert s["input_delay_ms"]["median"] == 20.0 and s["input_delay_ms"]["n"] == 3
    assert s["inferences"] == 2 and s["inference_ms_median"] == 25.5
    scenarios = [
        {"scenario": "idle", "status": OK, "reason": None, **s},
        {"scenario": "webinfer-main", "status": UNAVAILABLE, "reason": "no wheel"},
    ]
    qoe = {"seconds": 2.0, "threads": 1, "click_gap_s": [0.15, 0.35], "scenarios": scenarios}
    text = render_qoe(qoe)
    assert "idle" in text and "16.7%" in text and "webinfer-main: no wheel" in text


def test_bench_command_end_to_end(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Native targets of a small model, plus one target made unavailable on purpose (no such wheel)."""
    out = tmp_path / "report.json"
    argv = ["bench", str(models_dir / "lenet_digits.onnx"), "--runs", "3", "--threads", "1",
            "--targets", "webinfer-native,onnxruntime,pyodide-node", "--wheel", str(tmp_path / "none.whl"),
            "--json", str(out)]  # fmt: skip
    plots = importlib.util.find_spec("matplotlib") is not None
    if plots:
        argv += ["--plots", str(tmp_path / "plots")]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    check_report(report)
    rows = {r["target"]: r for r in report["results"]}
    assert rows["webinfer-native"]["status"] == OK and len(rows["webinfer-native"]["times_ms"]) == 3
    assert rows["webinfer-native"]["accuracy"]["top1_agreement"] == 1.0
    assert rows["onnxruntime"]["accuracy"]["accuracy"] > 0.9
    assert rows["pyodide-node"]["status"] == UNAVAILABLE and rows["pyodide-node"]["reason"]
    printed = capsys.readouterr().out
    assert "webinfer-native" in printed and "not available:" in printed
    if plots:
        for name in ("latency.png", "breakdown.png"):
            assert is_png(tmp_path / "plots" / name)


def test_bench_command_rejects_unknown_targets(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(models_dir / "mlp.onnx"), "--targets", "webinfer-native,fast"]) == 2
    assert "unknown target(s) ['fast']" in capsys.readouterr().err
