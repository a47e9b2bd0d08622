#!/usr/bin/env bash
# The main job, from nothing: set up (native build, WebAssembly build, Chromium, Pyodide), build the
# bundled models, then run a model natively, in wasm, in Pyodide under Node and in headless Chromium
# and with the peers (onnxruntime, onnxruntime-web), and print the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_browser.sh
VENV=.venv bash scripts/setup_webgpu.sh
VENV=.venv bash scripts/build_wheel.sh
.venv/bin/python scripts/make_models.py --out .models
mkdir -p out
echo "== webinfer info (MobileNetV2)"
.venv/bin/webinfer info .models/mobilenetv2.onnx
echo "== webinfer bench: the digits CNN on every target (native, wasm, Node, Chromium, peers)"
.venv/bin/webinfer bench .models/lenet_digits.onnx --json out/bench_lenet_digits.json --plots out/plots
echo "== models: webinfer native vs onnxruntime, 1 and 2 threads"
.venv/bin/python benchmarks/bench_models.py --json out/bench_models.json
