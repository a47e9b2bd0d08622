"""Build the ONNX model set that webinfer's model tests and benchmarks run (no network, fixed seeds).

Architectures are written here in plain torch from their papers (LeNet, ResNet-18, MobileNetV2,
SqueezeNet 1.1, BERT), exported with the TorchScript exporter at opset 17, checked with onnx, and
run through onnxruntime, the independent oracle whose outputs the tests compare against.
Idempotent: models whose manifest entry came from this exact script and whose files are intact are
kept as they are. `recipe(name)` rebuilds a model's torch module with its seeds, so that
benchmarks/bench_webgpu.py times the very network that was exported.

    python scripts/make_models.py [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import math
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("webinfer") is None:  # a plain checkout: use the source tree
    sys.path.insert(0, str(ROOT / "src"))

from webinfer.testing import models as layout  # noqa: E402

OPSET = 17
SEED = 0
# The op set the engine is built for; an export that strays outside it is a builder bug.
ALLOWED_OPS = frozenset({
    "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Relu", "Clip", "Sigmoid", "Tanh",
    "Erf", "Gelu", "HardSigmoid", "HardSwish", "BatchNormalization", "MaxPool", "AveragePool",
    "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Concat", "Split", "Slice", "Gather", "Squeeze",
    "Unsqueeze", "Shape", "Constant", "ConstantOfShape", "Cast", "Expand", "Where", "Equal", "ReduceMean",
    "ReduceSum", "Softmax", "LayerNormalization", "Identity", "Dropout",
})  # fmt: skip
IMAGE = (3, 224, 224)
Feeds = dict[str, np.ndarray]


class Unbuildable(Exception):
    """A model this environment cannot build (an optional dependency is missing); says which."""


@dataclass
class Recipe:
    """A torch module plus what its export and its oracle samples need."""

    module: nn.Module
    example: tuple[torch.Tensor, ...]  # traced at export; sizes differ from every sample's
    input_names: list[str]
    output_names: list[str]
    samples: list[Feeds]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    test_set: tuple[np.ndarray, np.ndarray] | None = None  # (x, labels), evaluated by the oracle


# ---------------------------------------------------------------- architectures


def conv_bn(
    cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU
) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([act()] if act else []))


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, act=None))
        projected = stride != 1 or cin != cout
        self.shortcut = conv_bn(cin, cout, 1, stride, act=None) if projected else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
        cin = 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, 3x3 depthwise, linear 1x1 bottleneck, residual if shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1, act=nn.ReLU6)] if expand != 1 else []
        layers += [
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            conv_bn(hidden, cout, 1, act=None),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    # (expansion t, channels c, repeats n, first stride s), Table 2 of the paper
    SETTINGS = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(conv_bn(cin, 1280, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class Fire(nn.Module):
    """SqueezeNet module: 1x1 squeeze, then parallel 1x1 and 3x3 expands concatenated on channels."""

    def __init__(self, cin: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1(s)), F.relu(self.expand3(s))], 1)


class SqueezeNet11(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2), nn.ReLU(), pool,
            Fire(64, 16, 64), Fire(128, 16, 64), pool,
            Fire(128, 32, 128), Fire(256, 32, 128), pool,
            Fire(256, 48, 192), Fire(384, 48, 192), Fire(384, 64, 256), Fire(512, 64, 256),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, classes, 1), nn.ReLU())
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He init: without BatchNorm, torch's default shrinks activations
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.uniform_(m.bias, -0.1, 0.1)  # not zeros: the exporter dedups equal initializers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.classifier(self.features(x)), 1).flatten(1)


class LeNet(nn.Module):
    """LeNet-style CNN sized for 8x8 digits: two conv/relu/pool stages, then two dense layers."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query, self.key, self.value, self.out = (nn.Linear(hidden, hidden) for _ in range(4))

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        b, s, hidden = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # [b, s, hidden] -> [b, heads, s, head_dim]
            return t.reshape(b, s, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, hidden)
        return self.out(context)


class EncoderLayer(nn.Module):
    """Post-LN transformer layer as in BERT: attention and a GELU feed-forward, each residual + LayerNorm."""

    def __init__(self, hidden: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.attention = SelfAttention(hidden, heads)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ff = nn.Sequential(nn.Linear(hidden, intermediate), nn.GELU(), nn.Linear(intermediate, hidden))
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attention(x, mask_bias))
        return self.norm2(x + self.ff(x))


class BertTiny(nn.Module):
    """BERT-tiny-like encoder returning (last hidden state, tanh-pooled first token)."""

    def __init__(
        self,
        vocab: int = 1000,
        hidden: int = 128,
        heads: int = 2,
        intermediate: int = 512,
        layers: int = 2,
        max_seq: int = 128,
    ) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, hidden)
        self.positions = nn.Embedding(max_seq, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, intermediate) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.bias, std=0.02)
            if isinstance(m, nn.LayerNorm):  # non-trivial affine, so an engine that drops it fails
                nn.init.normal_(m.weight, 1.0, 0.1)
                nn.init.normal_(m.bias, 0.0, 0.1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.tokens(input_ids) + self.positions.weight[: input_ids.shape[1]]
        x = self.norm(x)
        mask_bias = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0  # 0 keep, -1e4 padding
        for layer in self.layers:
            x = layer(x, mask_bias)
        return x, torch.tanh(self.pooler(x[:, 0]))


# ---------------------------------------------------------------- recipes


def recalibrate_batchnorm(
    module: nn.Module, rng: np.random.Generator, batches: int = 4, batch: int = 8
) -> None:
    """Replace BatchNorm running stats by the cumulative stats of random batches.

    With random weights the default stats (mean 0, var 1) are far off, and deep nets such as
    MobileNetV2 then output ~1e-10, against which any tolerance passes.
    """
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average
    module.train()
    with torch.no_grad():
        for _ in range(batches):
            module(torch.from_numpy(rng.standard_normal((batch, *IMAGE), dtype=np.float32)))
    module.eval()


def image_recipe(module: nn.Module, rng: np.random.Generator) -> Recipe:
    recalibrate_batchnorm(module, rng)
    return Recipe(
        module,
        example=(torch.zeros(1, *IMAGE),),
        input_names=["input"],
        output_names=["logits"],
        samples=[{"input": rng.standard_normal((1, *IMAGE), dtype=np.float32)}],
    )


def mlp(rng: np.random.Generator) -> Recipe:
    module = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    return Recipe(
        module,
        example=(torch.zeros(2, 784),),
        input_names=["input"],
        output_names=["logits"],
        samples=[{"input": rng.standard_normal((n, 784), dtype=np.float32)} for n in (1, 7)],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )


def lenet_digits(rng: np.random.Generator) -> Recipe:
    """LeNet trained for a few seconds on scikit-learn's bundled 8x8 digits (pixels scaled to [0, 1])."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise Unbuildable(f"needs scikit-learn for its bundled digits dataset ({exc})") from exc
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=SEED, stratify=digits.target
    )
    module = LeNet()
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    generator = torch.Generator().manual_seed(SEED)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batches this small train several times faster on one thread, and the
    try:  # weights then do not depend on the core count (bench_webgpu.py retrains them elsewhere)
        for _ in range(30):
            for idx in torch.randperm(len(xt), generator=generator).split(32):
                optimizer.zero_grad()
                F.cross_entropy(module(xt[idx]), yt[idx]).backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return Recipe(
        module.eval(),
        example=(torch.zeros(2, 1, 8, 8),),
        input_names=["input"],
        output_names=["logits"],
        samples=[{"input": x_test[:1]}],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        test_set=(x_test, y_test.astype(np.int64)),
    )


def bert_tiny(rng: np.random.Generator) -> Recipe:
    module = BertTiny()

    def feeds(batch: int, seq: int, lengths: list[int]) -> Feeds:
        mask = (np.arange(seq) < np.array(lengths)[:, None]).astype(np.int64)
        ids = rng.integers(1, 1000, (batch, seq), dtype=np.int64) * mask  # 0 is the padding token
        return {"input_ids": ids, "attention_mask": mask}

    axes = {0: "batch", 1: "seq"}
    return Recipe(
        module.eval(),
        example=(torch.ones(2, 16, dtype=torch.int64), torch.ones(2, 16, dtype=torch.int64)),
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state", "pooler_output"],
        samples=[feeds(1, 128, [128]), feeds(3, 37, [37, 20, 5])],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "last_hidden_state": axes,
            "pooler_output": {0: "batch"},
        },
    )


RECIPES: dict[str, Callable[[np.random.Generator], Recipe]] = {
    "mlp": mlp,
    "lenet_digits": lenet_digits,
    "mobilenetv2": lambda rng: image_recipe(MobileNetV2(), rng),
    "resnet18": lambda rng: image_recipe(ResNet18(), rng),
    "squeezenet": lambda rng: image_recipe(SqueezeNet11(), rng),
    "bert_tiny": bert_tiny,
}
assert tuple(RECIPES) == layout.MODEL_NAMES


def recipe(name: str) -> Recipe:
    """A model's recipe, seeded as for its export (the same weights every time on one machine)."""
    torch.manual_seed(SEED)
    return RECIPES[name](np.random.default_rng(SEED))


# ---------------------------------------------------------------- export and oracle


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary name so an interrupted build never leaves a truncated file behind."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def export_onnx(recipe: Recipe) -> tuple[bytes, onnx.ModelProto]:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            recipe.module,
            recipe.example,
            buffer,
            input_names=recipe.input_names,
            output_names=recipe.output_names,
            dynamic_axes=recipe.dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for out in inferred.graph.output:
        assert out.type.tensor_type.HasField("shape"), f"shape inference lost the rank of {out.name}"
    stray = {n.op_type for n in model.graph.node} - ALLOWED_OPS
    if stray:
        raise SystemExit(f"export uses ops outside the supported set: {sorted(stray)}")
    return buffer.getvalue(), model


def oracle(model: bytes) -> ort.InferenceSession:
    """onnxruntime with graph rewrites off, so each node runs as the ONNX spec defines it."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def torch_outputs(module: nn.Module, feeds: Feeds, names: list[str]) -> list[np.ndarray]:
    with torch.no_grad():
        result = module(*(torch.from_numpy(feeds[n]) for n in names))
    return [t.numpy() for t in (result if isinstance(result, tuple) else (result,))]


def build(name: str, recipe: Recipe, out: Path) -> dict[str, Any]:
    """Export one model, check it, write the model and its oracle samples; returns its manifest entry."""
    data, model = export_onnx(recipe)
    path = layout.model_path(out, name)
    write_atomic(path, lambda p: p.write_bytes(data))
    session = oracle(data)
    output_names = [o.name for o in session.get_outputs()]
    oracle_outputs = [session.run(None, feeds) for feeds in recipe.samples]
    sample_files, export_error = [], 0.0
    for k, (feeds, outputs) in enumerate(zip(recipe.samples, oracle_outputs, strict=True)):
        for got, want in zip(outputs, torch_outputs(recipe.module, feeds, recipe.input_names), strict=True):
            export_error = max(export_error, layout.rel_error(got, want))
        file = layout.sample_file(name, k)
        sample = layout.Sample(feeds, dict(zip(output_names, outputs, strict=True)))
        write_atomic(out / file, lambda p, s=sample: layout.save_sample(p, s))
        sample_files.append(file)
    if export_error > 1e-4:
        raise SystemExit(f"{name}: onnxruntime disagrees with torch (relative error {export_error:.2e})")
    output_std = float(oracle_outputs[0][0].std())
    if not 1e-2 <= output_std <= 1e2:
        raise SystemExit(
            f"{name}: output std {output_std:.3g} is degenerate; tolerances would be meaningless"
        )
    entry: dict[str, Any] = {
        "model": path.name,
        "samples": sample_files,
        "opset": model.opset_import[0].version,
        "params": sum(p.numel() for p in recipe.module.parameters()),
        "size_bytes": len(data),
        "ops": dict(Counter(n.op_type for n in model.graph.node).most_common()),
        "inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in session.get_inputs()],
        "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in session.get_outputs()],
        "output_std": output_std,
        "torch_vs_onnxruntime_rel_error": export_error,
    }
    if recipe.test_set is not None:
        x, y = recipe.test_set
        logits = session.run(None, {recipe.input_names[0]: x})[0]
        entry["test_accuracy"] = float(np.mean(logits.argmax(1) == y))
        entry["test_size"] = len(y)
        write_atomic(out / layout.DIGITS_TEST, lambda p: np.savez(p, x=x, y=y, logits=logits))
        sample_files = [*sample_files, layout.DIGITS_TEST]
    entry["files"] = {f: layout.file_sha256(out / f) for f in [path.name, *sample_files]}
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / ".models", help="output directory (default: .models/)"
    )
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    digest = layout.file_sha256(Path(__file__))
    manifest_path = out / layout.MANIFEST
    previous = layout.load_manifest(out) if manifest_path.is_file() else {}
    kept = previous.get("models", {}) if previous.get("builder_sha256") == digest else {}
    manifest: dict[str, Any] = {
        "builder_sha256": digest,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
        "models": {n: e for n, e in kept.items() if n in RECIPES and layout.entry_problem(out, e) is None},
    }
    started = time.perf_counter()
    for name in RECIPES:
        if name in manifest["models"]:
            print(f"{name}: up to date")
            continue
        t0 = time.perf_counter()
        try:
            made = recipe(name)
        except Unbuildable as exc:
            print(f"{name}: SKIPPED, not built: {exc}")
            continue
        entry = build(name, made, out)
        entry["build_seconds"] = round(time.perf_counter() - t0, 2)
        manifest["models"][name] = entry
        write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=1) + "\n"))
        extra = f", test accuracy {entry['test_accuracy']:.2%}" if "test_accuracy" in entry else ""
        print(
            f"{name}: {entry['size_bytes'] / 1e6:.1f} MB, {entry['params']:,} params, "
            f"{sum(entry['ops'].values())} nodes, output std {entry['output_std']:.3g}{extra}, "
            f"{entry['build_seconds']}s"
        )
    write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=1) + "\n"))
    print(f"model set in {out} ({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
