"""Tile sizes of the GEMM/CONV shaders: a small search space, a default rule, a tuner and its cache.

The best tiles depend on the adapter (a GPU wants 128x128 tiles of 256 threads, a CPU renderer
direct tiles without workgroup memory) and on the problem's shape, so each distinct (adapter, op
signature) is timed once, within a time budget per plan, and the winner is kept in a JSON file in
the user's cache directory. Without tuning (or once the budget is spent) `default_tile` decides.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from pathlib import Path

from .gpu import Limits

BUDGET_ENV = "WEBINFER_WEBGPU_TUNE"  # seconds of tuning per plan; 0 disables tuning
DEFAULT_BUDGET_S = 5.0
CACHE_ENV = "WEBINFER_CACHE_DIR"


@dataclass(frozen=True)
class Tile:
    """A TM x TN output block per workgroup; each thread computes WM x WN results. `buffers` is how
    many copies of the operand tiles (TK deep) the k loop cycles through in workgroup memory: 1, or
    2 to double-buffer them (one barrier per step instead of two). 0 makes it direct: no workgroup
    memory and no barriers, each thread reading its operands from global memory, TK k per loop
    iteration (gemm_direct.wgsl): CPU renderers compile it several times faster, and a product of a
    few rows spends no threads on rows of padding. `split` > 1 (tiled tiles only) is split-K: K is
    cut into that many slices, each multiplied by its own workgroups into a scratch buffer, and a
    second dispatch adds the slices up and applies the epilogue (split.wgsl), for products whose
    grid of tiles is too small to fill a GPU (few rows and columns, deep K)."""

    tm: int
    tn: int
    tk: int
    wm: int
    wn: int
    buffers: int = 1
    split: int = 1

    @property
    def direct(self) -> bool:
        return self.buffers == 0

    @property
    def threads(self) -> int:
        return (self.tm // self.wm) * (self.tn // self.wn)

    def fits(self, limits: Limits) -> bool:
        """Within the device's limits, and shaped as gemm.wgsl (gemm_direct.wgsl) assumes: rows and
        columns in groups of four (a thread's rows, if fewer, inside one group), every thread
        copying the same number of tile elements, always of one B column (direct: columns in groups
        of four, k steps of whole vec4s)."""
        whole = self.tm % self.wm == 0 and self.tn % self.wn == 0 and self.wn % 4 == 0
        if self.split < 1 or (self.split > 1 and self.direct):
            return False
        if self.direct:
            return whole and self.tk % 4 == 0 and 0 < self.threads <= limits.workgroup_invocations
        shared = (self.tm + self.tn) * (self.tk + 1) * 4 * self.buffers
        groups = self.tm % 4 == 0 and (self.wm % 4 == 0 or self.wm in (1, 2)) and self.buffers in (1, 2)
        copies = (self.tm * self.tk) % self.threads == 0 and (self.tk * self.tn) % self.threads == 0
        shaped = groups and whole and copies and self.threads % self.tn == 0
        return shaped and self.threads <= limits.workgroup_invocations and shared <= limits.workgroup_bytes


# (tm, tn, tk, wm, wn[, buffers]), best first within each size class (the tuner times them in this
# order, so a search cut short by its budget has tried the likeliest). The large and medium tiles
# are the fastest of a sweep of some 60 variants on an NVIDIA H200 (256 x 128 tiles, 8 x 16 blocks
# ran no faster there and compile several times slower); the small ones serve products with few
# rows (batch-1 inference) or few columns. Then the direct tiles: 8 x 8 blocks ran fastest on
# SwiftShader, 1-row ones are for batch-1 products (GEMV).
SPACE = tuple(
    Tile(*t)
    for t in (
        (128, 128, 8, 8, 8, 2),
        (128, 128, 8, 8, 8),
        (64, 128, 16, 8, 8),
        (64, 64, 16, 8, 8),
        (64, 64, 16, 4, 4, 2),
        (64, 64, 16, 4, 4),
        (128, 32, 16, 8, 4),
        (32, 128, 16, 4, 8),
        (64, 32, 16, 4, 4),
        (32, 64, 16, 4, 4),
        (32, 64, 16, 2, 4),
        (32, 32, 16, 4, 4),
        (16, 128, 16, 2, 8),
        (16, 64, 16, 2, 4),
        (8, 128, 16, 2, 4),
        (8, 64, 32, 1, 4),
        (4, 128, 32, 1, 4),
        (4, 64, 32, 1, 4),
        (64, 64, 4, 8, 8, 0),
        (64, 32, 4, 8, 4, 0),
        (32, 64, 4, 4, 8, 0),
        (16, 64, 4, 4, 4, 0),
        (4, 64, 4, 1, 4, 0),
        (1, 256, 4, 1, 4, 0),
        (1, 128, 8, 1, 4, 0),
    )
)
# The untuned choices, each kind largest first (see default_tile). Tiled: the second stands in for
# the first on devices with WebGPU's minimum 16 KiB of workgroup memory; the medium one keeps 4 x 4
# blocks, which CPU renderers compile ten times faster than 8 x 8; the last fits any WebGPU device
# (64 threads, 9 KiB). Direct, CPU renderers' choice: 8 x 4 blocks, which on SwiftShader (2 cores)
# ran ResNet-18 about 1.5x faster than 4 x 4 and 8 x 8 no faster, and which lavapipe compiles in
# half the time of 8 x 8 (against the tiled defaults there: MobileNetV2 compiled in 29 s instead of
# 43 s and ran in 186 ms instead of 233); 4 x 4 for fewer rows, single rows for GEMVs.
DEFAULTS = (
    Tile(128, 128, 8, 8, 8, 2),
    Tile(128, 128, 8, 8, 8),
    Tile(64, 64, 16, 4, 4),
    Tile(32, 64, 16, 2, 4),
    Tile(16, 64, 16, 2, 4),
    Tile(8, 64, 32, 1, 4),
    Tile(4, 64, 32, 1, 4),
    Tile(64, 32, 4, 8, 4, 0),
    Tile(16, 64, 4, 4, 4, 0),
    Tile(1, 256, 4, 1, 4, 0),
)


# Split-K: the slice counts tried, on products whose grid of tiles has fewer workgroups than
# SPLIT_BELOW (an H200 has 132 SMs; a 1024^3 product on 64 x 64 tiles, 256 workgroups, ran at 0.64x
# cuBLAS, where 4096^3 reached 0.92x).
SPLITS = (2, 4, 8)
SPLIT_BELOW = 512


@dataclass(frozen=True)
class Problem:
    """One GEMM or CONV to tile: its cache signature, its matrix-product shape m x n x k and how
    many such products it makes (GEMM's batches, CONV's groups)."""

    signature: str
    m: int
    n: int
    k: int = 1
    batches: int = 1


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def workgroups(tile: Tile, m: int, n: int) -> int:
    """The grid of one m x n product on the tile."""
    return -(-m // tile.tm) * -(-n // tile.tn)


def _plausible(tile: Tile, m: int, n: int) -> bool:
    """Tiles no more than about twice the matrix (bigger ones compute mostly padding); the largest
    (128 x 128 and up) only where they still make 256 workgroups, enough to fill a large GPU (on
    an H200, 64 of them ran a 1024^3 product at two thirds the speed of 64 x 64 tiles)."""
    small = tile.tm <= max(4, _pow2_at_least(m)) and tile.tn <= max(32, _pow2_at_least(n))
    return small and (tile.tm * tile.tn < 128 * 128 or workgroups(tile, m, n) >= 256)


def usable(tile: Tile, m: int, n: int, limits: Limits) -> bool:
    """The device runs it, and its grid of tiles stays within the workgroups of one dispatch."""
    grid = max(-(-m // tile.tm), -(-n // tile.tn))
    return tile.fits(limits) and grid <= limits.groups_per_dim


def default_tile(m: int, n: int, limits: Limits, software: bool = False) -> Tile:
    """The untuned choice: a direct tile on a CPU renderer (`software`: compiled faster there and
    running as fast, see DEFAULTS) and for products of fewer rows than the smallest tiled one (which
    would compute mostly padding; not yet timed on a GPU), else a tiled one; of that kind the
    largest plausible default (small tiles starve a GPU's SIMD units more than few workgroups idle
    its cores), else the smallest the device can use (of either kind when none of that one is)."""
    options = [t for t in DEFAULTS if usable(t, m, n, limits)]
    if not options:
        raise ValueError(f"a {m} x {n} product needs more workgroups than one dispatch has")
    direct = software or m < min(t.tm for t in DEFAULTS if not t.direct)
    options = [t for t in options if t.direct == direct] or options
    return next((t for t in options if _plausible(t, m, n)), options[-1])


def candidates(p: Problem, limits: Limits, software: bool = False) -> list[Tile]:
    """The default first, then every other plausible tile of the space that the device can use
    (direct ones only on a CPU renderer: its budget goes further on tiles that compile fast). On a
    GPU, a product whose tiles make fewer than SPLIT_BELOW workgroups also gets split-K variants of its
    first two tiled candidates, right after the default."""
    first = default_tile(p.m, p.n, limits, software)
    others = [t for t in SPACE if t != first and (t.direct or not software)]
    found = [first] + [t for t in others if usable(t, p.m, p.n, limits) and _plausible(t, p.m, p.n)]
    if software:
        return found
    tiled = [t for t in found if not t.direct][:2]
    split = [replace(t, split=s) for t in tiled for s in SPLITS if _split_pays(t, s, p, limits)]
    return found[:1] + split + found[1:]


def _split_pays(tile: Tile, split: int, p: Problem, limits: Limits) -> bool:
    """Split-K is worth timing for a product whose unsplit grid leaves a GPU idle, when each slice
    still runs at least 8 k steps of the tile and the partial products fit one binding."""
    few = workgroups(tile, p.m, p.n) * p.batches < SPLIT_BELOW
    deep = p.k >= split * 8 * tile.tk
    return few and deep and split * p.batches * p.m * p.n * 4 <= limits.max_binding_bytes


def cache_path() -> Path:
    base = os.environ.get(CACHE_ENV) or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "webinfer" / "webgpu-tuning.json"


def budget_from_env() -> float:
    """Tuning seconds per plan from $WEBINFER_WEBGPU_TUNE (default 5; 0 turns tuning off)."""
    value = os.environ.get(BUDGET_ENV, "")
    try:
        return max(0.0, float(value)) if value else DEFAULT_BUDGET_S
    except ValueError:
        return DEFAULT_BUDGET_S


class TuningCache:
    """{adapter: {signature: [tm, tn, tk, wm, wn]}} in one JSON file; unreadable files count as empty."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._data: dict[str, dict[str, list[int]]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self._data = {}

    def get(self, adapter: str, signature: str) -> Tile | None:
        found = self._data.get(adapter, {}).get(signature)
        return Tile(*found) if found else None

    def put(self, adapter: str, signature: str, tile: Tile) -> None:
        self._data.setdefault(adapter, {})[signature] = list(astuple(tile))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)  # readers never see half a file
        except OSError:
            pass  # a read-only home only costs re-tuning


class Tuner:
    """Chooses tiles for the problems of one plan within `budget_s` seconds of timing in total."""

    def __init__(
        self, adapter: str, limits: Limits, cache: TuningCache, budget_s: float, software: bool = False
    ) -> None:
        """software: the adapter is a CPU renderer (gpu.GPU.software), which gets direct tiles."""
        self.adapter, self.limits, self.cache, self.budget_s = adapter, limits, cache, budget_s
        self.software = software
        self.spent_s = 0.0
        self._timings: list[float] = []  # seconds each timing took, compilation included

    def choose(self, problems: list[Problem], measure: Callable[[Problem, Tile], float]) -> list[Tile]:
        """A tile per problem: cached, else timed with `measure` (seconds per run), else the default."""
        chosen: dict[str, Tile] = {}
        pending: dict[str, Problem] = {}
        for p in problems:
            found = self.cache.get(self.adapter, p.signature)
            if found is not None and usable(found, p.m, p.n, self.limits):
                chosen[p.signature] = found
            else:
                pending.setdefault(p.signature, p)
        start = time.perf_counter()
        deadline = start + self.budget_s
        for i, p in enumerate(pending.values()):
            now = time.perf_counter()
            chosen[p.signature] = self._tune(p, now + (deadline - now) / (len(pending) - i), measure)
        self.spent_s = time.perf_counter() - start if pending else 0.0
        return [chosen[p.signature] for p in problems]

    def _tune(self, p: Problem, until: float, measure: Callable[[Problem, Tile], float]) -> Tile:
        """The fastest candidate timed before `until` (best first, so a search cut short still found
        good ones); remembered once at least two were compared. A timing is only started when the
        typical one so far would end in time."""
        options = candidates(p, self.limits, self.software)
        best, best_s, timed = options[0], math.inf, 0
        for tile in options:
            begin = time.perf_counter()
            if begin + self._typical_s() > until:
                break
            seconds = measure(p, tile)
            self._timings.append(time.perf_counter() - begin)
            timed += 1
            if seconds < best_s:
                best, best_s = tile, seconds
        if timed >= min(2, len(options)):
            self.cache.put(self.adapter, p.signature, best)
        return best

    def _typical_s(self) -> float:
        return statistics.median(self._timings) if self._timings else 0.0
