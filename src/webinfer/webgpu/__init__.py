"""WebGPU execution: WGSL kernels generated per plan, run through a small GPU adapter interface.

`gpu.py` is the handful of WebGPU calls the backend needs; `wgpu_native.py` implements them with
wgpu-py (Vulkan, Metal, D3D12, or lavapipe on a CPU), `js_gpu.py` with navigator.gpu under Pyodide
(a browser, or Node with Dawn). `wgsl.py` fills the templates in `wgsl/`, `codegen.py`
turns plan steps into specialised shaders, and `tuning.py` picks GEMM/CONV tile sizes.
"""
