"""`webinfer bench`: one model on every target available here (native, wasmtime, Pyodide in Node
and Chromium, onnxruntime and onnxruntime-web), side by side; see docs/BENCH.md.

Development tooling, entered through `runner.run_bench`: it needs numpy, onnxruntime, tqdm,
matplotlib (plots), selenium (browser targets) and a source checkout (demo/ pages), none of which
the engine needs; this package's __init__ imports nothing so that `webinfer --help` stays light.
"""
