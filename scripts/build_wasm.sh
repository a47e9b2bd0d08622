#!/usr/bin/env bash
# Build the C kernels of csrc/ as standalone WebAssembly modules for the `wasm` backend:
#   src/webinfer/wasm/webinfer_simd.wasm     SIMD128 (every current browser, Node 16+, wasmtime)
#   src/webinfer/wasm/webinfer_relaxed.wasm  SIMD128 + relaxed SIMD (fused multiply-add)
# and each again as webinfer_*_mt.wasm for wasm threads: -matomics, a shared memory the embedder
# creates and imports (--import-memory), csrc/wasm/threads_wasm_mt.c's pool instead of threads_wasm.c;
# js_runtime.py starts workers on it, each setting its own __stack_pointer.
# Freestanding (no libc, no WASI, no emscripten): csrc/wasm/ replaces the native-only files
# (alloc.c, threads_pthread.c); -mbulk-memory turns memcpy/memset into memory.copy/fill, so no
# libc is needed. Compile and link are separate steps so that clang never runs a
# wasm-opt found on PATH (Debian's binaryen cannot parse relaxed SIMD). Installs clang-19/lld-19
# with apt when missing. Outputs are build products (.gitignore'd); the backend picks one at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=clang-19
LD=wasm-ld-19
OUT=src/webinfer/wasm
MAX_PAGES=65536 # 4 GiB: all a wasm32 memory can address
MT_INITIAL_PAGES=64 # the threaded modules' imported memory: runtime.py's MT_INITIAL_PAGES
NATIVE_ONLY=(csrc/alloc.c csrc/threads_pthread.c)
EXPORTS=(wi_create wi_destroy wi_num_threads wi_select_isa wi_clear_packed wi_last_error wi_free)

if ! command -v "$CC" >/dev/null || ! command -v "$LD" >/dev/null; then
    echo "== apt-get install clang-19 lld-19"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-19 lld-19 >/dev/null
fi

sources=(csrc/wasm/alloc_wasm.c csrc/wasm/exports_wasm.c)
for f in csrc/*.c; do
    [[ " ${NATIVE_ONLY[*]} " == *" $f "* ]] || sources+=("$f")
done
cflags=(--target=wasm32 -O3 -std=c11 -ffreestanding -nostdlib -msimd128 -mbulk-memory -mnontrapping-fptoint
    -msign-ext -fno-math-errno -fno-trapping-math -Wall -Wextra -Icsrc "-DWI_WASM_MAX_PAGES=$MAX_PAGES")
ldflags=(--no-entry --strip-all --stack-first -z stack-size=1048576 "--max-memory=$((MAX_PAGES * 65536))")
for name in "${EXPORTS[@]}"; do
    ldflags+=("--export=$name")
done

mt_ldflags=(--shared-memory --import-memory "--initial-memory=$((MT_INITIAL_PAGES * 65536))"
    --export=__stack_pointer)

build() { # variant (a name ending in _mt: threaded), extra cflags...
    local variant=$1 objs=() pids=() obj pid threads=csrc/wasm/threads_wasm.c flags=() link=()
    shift
    if [[ $variant == *_mt ]]; then
        threads=csrc/wasm/threads_wasm_mt.c flags=(-matomics) link=("${mt_ldflags[@]}")
    fi
    mkdir -p "build/wasm/$variant"
    for src in "${sources[@]}" "$threads"; do
        obj="build/wasm/$variant/$(basename "${src%.c}").o"
        "$CC" "${cflags[@]}" "${flags[@]}" "$@" -c "$src" -o "$obj" &
        pids+=($!)
        objs+=("$obj")
    done
    for pid in "${pids[@]}"; do
        wait "$pid"
    done
    "$LD" "${ldflags[@]}" "${link[@]}" "${objs[@]}" -o "$OUT/webinfer_$variant.wasm"
    echo "built $OUT/webinfer_$variant.wasm ($(stat -c %s "$OUT/webinfer_$variant.wasm") bytes)"
}

mkdir -p "$OUT"
build simd
build relaxed -mrelaxed-simd
build simd_mt
build relaxed_mt -mrelaxed-simd
