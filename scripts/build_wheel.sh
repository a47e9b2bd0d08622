#!/usr/bin/env bash
# Build the pure wheel wheels/webinfer-<version>-py3-none-any.whl: the Python engine plus the
# WebAssembly kernels (package data), without the cffi extension. It is what Pyodide installs with
# micropip; natively it runs on the wasm backend (wasmtime) or the numpy reference backend.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-${VENV:-.venv}/bin/python}"

bash scripts/build_wasm.sh
# From a clean copy of the sources: the native build's build/lib and egg-info would smuggle the
# extension in.
rm -rf build/pure wheels/webinfer-*-py3-none-any.whl
mkdir -p build/pure wheels
tar -c --exclude='*.so' --exclude=__pycache__ --exclude='*.egg-info' pyproject.toml setup.py README.md src |
    tar -x -C build/pure
WEBINFER_PURE=1 "$PY" -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation \
    -w wheels build/pure
"$PY" - <<'CHECK'
import sys
import zipfile
from pathlib import Path

(wheel,) = Path("wheels").glob("webinfer-*-py3-none-any.whl")
names = zipfile.ZipFile(wheel).namelist()
wasm = sorted(n for n in names if n.endswith(".wasm"))
native = [n for n in names if n.endswith((".so", ".pyd"))]
expected = [f"webinfer/wasm/webinfer_{v}.wasm" for v in ("relaxed", "relaxed_mt", "simd", "simd_mt")]
wgsl = {Path(n).name for n in names if n.startswith("webinfer/webgpu/wgsl/")}
templates = {p.name for p in Path("src/webinfer/webgpu/wgsl").glob("*.wgsl")}
if wasm != expected or native or wgsl != templates:
    sys.exit(f"{wheel}: wrong contents (wasm {wasm}, native {native}, missing WGSL {templates - wgsl}); "
             "are the package-data entries for wasm/*.wasm and webgpu/wgsl/*.wgsl in pyproject.toml?")
print(f"built {wheel} ({wheel.stat().st_size} bytes)")
CHECK
