#!/usr/bin/env bash
# The main job: set up from nothing, build the bundled models, then run them with webinfer and
# with onnxruntime side by side and print the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/make_models.py --out .models
echo "== webinfer info (MobileNetV2)"
.venv/bin/webinfer info .models/mobilenetv2.onnx
echo "== GEMM kernel"
.venv/bin/python benchmarks/bench_gemm.py
echo "== models: webinfer native vs onnxruntime"
.venv/bin/python benchmarks/bench_models.py --json out/bench_models.json
