#!/usr/bin/env bash
# The test command: set up from nothing, then lint and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_browser.sh
VENV=.venv bash scripts/setup_webgpu.sh
VENV=.venv bash scripts/build_wheel.sh
echo "== ruff"
.venv/bin/ruff check src tests benchmarks scripts
echo "== building test models"
.venv/bin/python scripts/make_models.py --out .models
echo "== pytest"
.venv/bin/python -m pytest -q -rs "$@"
