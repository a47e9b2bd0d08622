"""GEMM throughput of the native backend against numpy (OpenBLAS) and the CPU's nominal FMA peak.

    python benchmarks/bench_gemm.py [--sizes 512 1024] [--repeats 9]    (after `pip install -e .`)

Each figure is the median of `repeats` timed runs of one plan holding a single square GEMM. The
peak is per core: 2 FMA units x 8 float lanes (AVX2) x 2 flops x clock, the clock being the largest
"cpu MHz" in /proc/cpuinfo (or lscpu's "CPU max MHz" when it reports one). Inside a VM that is the
nominal frequency, so a turbo-clocked core can exceed "100%"; AVX-512 doubles the lanes where the
FMA units are 512 bits wide, which the avx512 rows show against the same AVX2 peak.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from webinfer.backends.native import NativeBackend
from webinfer.dtypes import DType
from webinfer.kernels import GemmParams, Kernel
from webinfer.plan import FIRST_IO, Plan, Step, TensorRef

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # numpy then uses its own thread count, printed as "all"
    threadpool_limits = None


def clock_mhz() -> tuple[float, str]:
    """The core clock and where it was read."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        match = re.search(r"CPU max MHz:\s*([\d.]+)", out)
        if match:
            return float(match.group(1)), "lscpu 'CPU max MHz'"
    except (OSError, subprocess.CalledProcessError):
        pass
    mhz = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text())]
    return max(mhz), "/proc/cpuinfo 'cpu MHz'"


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: page faults, packing buffers, thread start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def native_gemm(backend: NativeBackend, n: int) -> Callable[[], None]:
    a_ref, b_ref, y_ref = (TensorRef(FIRST_IO + i, 0, DType.FLOAT, (n, n)) for i in range(3))
    params = GemmParams((), (), (), n, n, n, 0, 0, 1.0, 0.0, 0, 0)
    plan = Plan([Step(Kernel.GEMM, (a_ref, b_ref, y_ref), params)], 0, b"", ["a", "b"], ["y"])
    compiled = backend.compile(plan)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    y = np.empty((n, n), np.float32)
    backend.execute(compiled, [memoryview(a), memoryview(b)], [memoryview(y)])
    with threadpool_limits(1) if threadpool_limits else nullcontext():  # no BLAS threads left spinning
        want = a @ b
    if not np.allclose(y, want, rtol=1e-3, atol=1e-3 * n**0.5):
        raise SystemExit(f"native GEMM is wrong at n={n}")
    return lambda: backend.execute(compiled, [memoryview(a), memoryview(b)], [memoryview(y)])


def numpy_gflops(n: int, threads: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    limit = threadpool_limits(threads) if threadpool_limits else nullcontext()
    with limit:
        gflops = 2 * n**3 / median_seconds(lambda: a @ b, repeats) / 1e9
    time.sleep(0.5)  # OpenBLAS workers spin a while after a call; keep them off the native runs
    return gflops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    mhz, source = clock_mhz()
    peak = 2 * 8 * 2 * mhz / 1000  # GFLOP/s per core
    print(f"clock {mhz:.0f} MHz ({source}); AVX2 FMA peak {peak:.1f} GFLOP/s per core")
    isas = [isa for isa in ("avx2", "avx512") if isa in {"avx2", NativeBackend(1).isa}]
    print(f"{'n':>5} {'thr':>3} {'isa':>7} {'native':>8} {'numpy':>8} {'nat/np':>7} {'nat/peak':>8}")
    for n in args.sizes:
        for threads in (1, 2):
            native: list[tuple[str, float]] = []  # measured before numpy, whose threads linger
            for isa in isas:
                backend = NativeBackend(threads, isa=isa)
                seconds = median_seconds(native_gemm(backend, n), args.repeats)
                native.append((backend.isa, 2 * n**3 / seconds / 1e9))
            ref = numpy_gflops(n, threads, args.repeats)
            for name, gflops in native:
                print(
                    f"{n:5d} {threads:3d} {name:>7} {gflops:8.1f} {ref:8.1f} "
                    f"{gflops / ref:7.2f} {gflops / (peak * threads):8.2f}"
                )
    print("GFLOP/s; numpy = OpenBLAS sgemm via a @ b" + ("" if threadpool_limits else " (all threads)"))


if __name__ == "__main__":
    main()
