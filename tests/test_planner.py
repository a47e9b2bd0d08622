"""The memory planner: buffers alive at the same time never overlap, and sharing really saves.

Oracle: a brute-force pairwise check of every placement, and the arena never smaller than the
largest set of simultaneously live buffers (a lower bound) nor larger than their plain sum.
"""

from __future__ import annotations

import random

import pytest

from webinfer.planner import ALIGN, Buffer, align, place


@pytest.mark.parametrize("seed", range(20))
def test_live_buffers_never_overlap(seed):
    rng = random.Random(seed)
    buffers = []
    for i in range(rng.randint(1, 60)):
        first = rng.randint(0, 40)
        buffers.append(Buffer(f"t{i}", rng.choice([0, 4, 100, 4096, rng.randint(1, 1 << 16)]), first,
                              first + rng.randint(0, 10)))  # fmt: skip
    offsets, arena = place(buffers)
    assert set(offsets) == {b.key for b in buffers}
    for b in buffers:
        assert offsets[b.key] % ALIGN == 0
        assert offsets[b.key] + b.nbytes <= arena
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            if a.first <= b.last and b.first <= a.last:  # alive together
                lo, hi = sorted([a, b], key=lambda t: offsets[t.key])
                assert offsets[lo.key] + align(max(lo.nbytes, 1)) <= offsets[hi.key]
    peak = max(sum(align(max(b.nbytes, 1)) for b in buffers if b.first <= t <= b.last) for t in range(60))
    assert peak <= arena <= sum(align(max(b.nbytes, 1)) for b in buffers)


def test_chain_reuses_memory():
    """A chain a -> b -> c -> d needs only two live buffers at a time."""
    chain = [Buffer(k, 1000, i, i + 1) for i, k in enumerate("abcd")]
    offsets, arena = place(chain)
    assert arena == 2 * align(1000)
    assert offsets["a"] == offsets["c"] and offsets["b"] == offsets["d"]
