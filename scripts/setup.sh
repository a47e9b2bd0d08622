#!/usr/bin/env bash
# Set up everything webinfer needs on a fresh Debian machine: a compiler, a virtualenv in .venv,
# webinfer itself (building its C kernels) and the test/benchmark tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v gcc >/dev/null || ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    echo "== installing compiler and python venv support (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential python3-venv python3-dev >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    python3 -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip
echo "== installing dependencies (torch is pinned to the 2.13.0 CPU build)"
"${PIP[@]}" install -r requirements-dev.txt
echo "== building and installing webinfer"
"${PIP[@]}" install --no-build-isolation -e .
echo "== building the WebAssembly kernels"
bash scripts/build_wasm.sh
.venv/bin/python -c "import webinfer.backends as b; r = b.unavailable_reason('native'); print('native backend:', r or 'ok')"
