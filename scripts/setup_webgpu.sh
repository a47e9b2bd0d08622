#!/usr/bin/env bash
# Set up the native WebGPU backend on Debian, after scripts/setup.sh made the venv: Mesa's lavapipe
# (a Vulkan driver on the CPU, so WebGPU runs without a GPU) and wgpu-py in the venv. Mesa comes from
# bookworm-backports when that suite is reachable (Mesa 25 runs compute shaders ~5x faster than
# bookworm's 22.3), else from the release. Idempotent. The venv is $VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
BACKPORTS=/etc/apt/sources.list.d/webinfer-bookworm-backports.list

if [ ! -x "$PY" ]; then
    echo "no python at $PY: run scripts/setup.sh first (or set VENV=...)" >&2
    exit 1
fi

if ! dpkg -s mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1; then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    suite=()
    if [ "$codename" = bookworm ]; then
        [ -f "$BACKPORTS" ] || echo "deb http://deb.debian.org/debian bookworm-backports main" >"$BACKPORTS"
        suite=(-t bookworm-backports)
    fi
    echo "== apt-get install mesa-vulkan-drivers libvulkan1 ${suite[*]}"
    apt-get update -qq || true
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${suite[@]}" \
        mesa-vulkan-drivers libvulkan1 >/dev/null; then
        echo "   backports unavailable: installing the release's Mesa"
        rm -f "$BACKPORTS"
        apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            mesa-vulkan-drivers libvulkan1 >/dev/null
    fi
fi

echo "== pip install wgpu==0.32.0"
"$PY" -m pip install --disable-pip-version-check -q wgpu==0.32.0
"$PY" -c "from webinfer.backends.webgpu import WebGPUBackend as B; r = B.available(); print('webgpu backend:', r or 'ok', '-', B.adapter_name() if r is None else '')"
