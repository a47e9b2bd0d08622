"""WebAssembly runtimes for the `wasm` backend and the modules it runs (built by scripts/build_wasm.sh)."""
