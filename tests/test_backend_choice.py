"""backend="auto": webgpu only on a hardware adapter and a model big enough to pay for it, and the
choice says why (backends/choice.py states the rule; the rule is the oracle of the decision tests).

The session tests run on this machine's real adapter. With Mesa's lavapipe (a CPU renderer) auto
must stay on the CPU; to exercise the move to webgpu the adapter is then presented as hardware.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper, shape_inference

import webinfer
from webinfer.backends import choice, unavailable_reason
from webinfer.backends.webgpu import WebGPUBackend
from webinfer.cli import main
from webinfer.plan import plan_flops
from webinfer.testing import load_samples, model_path, rel_error
from webinfer.webgpu import tuning
from webinfer.webgpu.gpu import open_gpu, software_renderer

GPU_UNAVAILABLE = unavailable_reason("webgpu")
needs_gpu = pytest.mark.skipif(GPU_UNAVAILABLE is not None, reason=f"no WebGPU adapter: {GPU_UNAVAILABLE}")


@dataclass
class FakeAdapter:
    name: str
    software: bool


def _survey(software: bool, min_gflops: float = 1.0) -> choice.Survey:
    adapter = FakeAdapter("Fake GPU", software)
    no_gpu = "has only a software renderer, 'Fake GPU'" if software else ""
    return choice.Survey("native", {"wasm": "native comes first"}, adapter, no_gpu, min_gflops)


def test_hardware_adapter_and_big_model_pick_webgpu() -> None:
    picked = choice.decide(_survey(software=False), gflops=3.6)
    assert picked.backend == "webgpu"
    assert "Fake GPU" in picked.reason and "3.6 GFLOP" in picked.reason
    assert set(picked.passed_over) == {"native", "wasm"}


def test_hardware_adapter_and_tiny_model_stay_on_cpu() -> None:
    picked = choice.decide(_survey(software=False), gflops=0.1)
    assert picked.backend == "native"
    assert "0.1 GFLOP" in picked.reason and "below the 1 GFLOP" in picked.reason
    assert "below" in picked.passed_over["webgpu"]


def test_software_adapter_never_picked_whatever_the_model() -> None:
    picked = choice.decide(_survey(software=True, min_gflops=0.0), gflops=1000.0)
    assert picked.backend == "native"
    assert "software renderer" in picked.reason and "software renderer" in picked.passed_over["webgpu"]


def test_choice_waits_for_the_plan_only_with_a_hardware_adapter() -> None:
    assert _survey(software=False).needs_plan and not _survey(software=True).needs_plan
    provisional = choice.decide(_survey(software=False), gflops=None)
    assert provisional.backend == "native" and "until the first plan" in provisional.reason


def test_threshold_defaults_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(choice.MIN_GFLOPS_ENV, raising=False)
    assert choice.min_gflops("native") == 1.0 and choice.min_gflops("wasm") == 0.25
    monkeypatch.setenv(choice.MIN_GFLOPS_ENV, "2.5")
    assert choice.min_gflops("native") == choice.min_gflops("wasm") == 2.5
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv(choice.MIN_GFLOPS_ENV, bad)
        with pytest.raises(webinfer.BackendError, match=choice.MIN_GFLOPS_ENV):
            choice.min_gflops("native")


def test_threshold_inf_keeps_auto_off_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(choice.MIN_GFLOPS_ENV, "inf")
    found = choice.survey()
    assert found.adapter is None and "turned off" in choice.decide(found, None).passed_over["webgpu"]


def test_a_failing_gpu_probe_leaves_auto_on_the_cpu(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever an adapter does while probed, auto still gives a working session and says why."""

    def broken(cls: type) -> str | None:
        raise AttributeError("'JsNull' object has no attribute 'device'")

    monkeypatch.delenv(choice.MIN_GFLOPS_ENV, raising=False)
    monkeypatch.setattr(WebGPUBackend, "available", classmethod(broken))
    session = webinfer.InferenceSession(str(model_path(models_dir, "mlp")))
    assert session.backend == "native"
    assert "could not be probed (AttributeError: 'JsNull'" in session.backend_choice.passed_over["webgpu"]


def test_software_renderer_names() -> None:
    for name in ("llvmpipe (LLVM 15.0.6, 256 bits)", "Google SwiftShader", "Microsoft Basic Render Driver"):
        assert software_renderer("vendor", name)
    assert not software_renderer("nvidia", "NVIDIA H200", "Vulkan")


def _onnx_gemm_conv_flops(path: Path) -> int:
    """Independent count from the ONNX graph (onnx's shape inference, before any fusion)."""
    model = shape_inference.infer_shapes(onnx.load(path))
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]
    }
    shapes.update({t.name: list(numpy_helper.to_array(t).shape) for t in model.graph.initializer})
    flops = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            flops += 2 * int(np.prod(shapes[node.output[0]])) * int(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type == "Gemm":
            m, n = shapes[node.output[0]]
            flops += 2 * m * n * int(np.prod(shapes[node.input[0]])) // m
    return flops


def test_plan_flops_match_the_onnx_graph(models_dir: Path) -> None:
    path = model_path(models_dir, "resnet18")
    session = webinfer.InferenceSession(str(path), backend="reference")
    plan = session.plan_for_shapes({"input": (1, 3, 224, 224)})
    assert plan_flops(plan) == _onnx_gemm_conv_flops(path)
    assert 3.6e9 < plan_flops(plan) < 3.7e9  # ResNet-18's published 1.8 GMAC


@needs_gpu
def test_auto_never_picks_a_software_adapter(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = open_gpu()
    if not gpu.software:
        pytest.skip(f"this machine's adapter is hardware ({gpu.name}); the test needs lavapipe")
    monkeypatch.setenv(choice.MIN_GFLOPS_ENV, "0")  # so only the adapter can keep auto off the GPU
    session = webinfer.InferenceSession(str(model_path(models_dir, "resnet18")))
    assert session.backend == "native"
    assert "software renderer" in session.backend_choice.reason
    assert "software renderer" in session.backend_choice.passed_over["webgpu"]


@pytest.fixture
def hardware_lavapipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's adapter presented as hardware, so that auto may move to it; tuning off."""
    if GPU_UNAVAILABLE is not None:
        pytest.skip(f"no WebGPU adapter: {GPU_UNAVAILABLE}")
    monkeypatch.setattr(open_gpu(), "software", False)
    monkeypatch.setenv(tuning.BUDGET_ENV, "0")


def _mlp(models_dir: Path) -> tuple[webinfer.InferenceSession, list]:
    return webinfer.InferenceSession(str(model_path(models_dir, "mlp"))), load_samples(models_dir, "mlp")


def test_auto_moves_to_webgpu_at_the_first_plan(
    models_dir: Path, hardware_lavapipe: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MLP at batch 1 does 0.54 MFLOP: over a threshold of 0.5 MFLOP it runs on webgpu, right."""
    monkeypatch.setenv(choice.MIN_GFLOPS_ENV, "0.0005")
    session, samples = _mlp(models_dir)
    assert session.backend == "native" and "until the first plan" in session.backend_choice.reason
    (got,) = session.run(None, samples[0].feeds)  # batch 1: the first plan
    assert session.backend == "webgpu" and "0.000538 GFLOP" in session.backend_choice.reason
    assert rel_error(np.asarray(got), *samples[0].outputs.values()) <= 1e-3
    for sample in samples[1:]:  # the choice stays: other shapes run on webgpu too
        (got,) = session.run(None, sample.feeds)
        assert rel_error(np.asarray(got), *sample.outputs.values()) <= 1e-3
    assert session.backend == "webgpu"


def test_auto_stays_native_below_the_threshold(
    models_dir: Path, hardware_lavapipe: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(choice.MIN_GFLOPS_ENV, "0.001")
    session, samples = _mlp(models_dir)
    session.run(None, samples[0].feeds)
    assert session.backend == "native" and "below the 0.001 GFLOP" in session.backend_choice.reason


def test_auto_falls_back_when_webgpu_cannot_run_the_model(
    models_dir: Path, hardware_lavapipe: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(choice.MIN_GFLOPS_ENV, "0")
    monkeypatch.setattr(WebGPUBackend, "unsupported", lambda self, step: "a tensor beyond the binding limit")
    session, samples = _mlp(models_dir)
    (got,) = session.run(None, samples[0].feeds)
    assert session.backend == "native"
    assert "cannot run this model: a tensor beyond the binding limit" in session.backend_choice.reason
    assert rel_error(np.asarray(got), *samples[0].outputs.values()) <= 1e-4


def test_info_prints_the_auto_choice_and_why_not_the_others(
    models_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MLP at batch 1 (2 * (784*256 + 256*256 + 256*10) = 0.000538 GFLOP) is far below any
    default threshold, so by the rule auto picks native whatever the adapter."""
    monkeypatch.delenv(choice.MIN_GFLOPS_ENV, raising=False)
    assert main(["info", str(model_path(models_dir, "mlp")), "--backend", "reference"]) == 0
    out = capsys.readouterr().out
    assert "backend   reference (named by the caller)" in out
    assert "auto      picks native: " in out and "0.000538 GFLOP of GEMM/CONV" in out
    for name in ("webgpu", "wasm", "reference"):
        assert f"not {name}: " in out
    if GPU_UNAVAILABLE is None and open_gpu().software:
        assert "software renderer" in out
