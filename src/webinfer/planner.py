"""Memory planner: place every intermediate buffer in one arena so that buffers alive at the same
time never overlap, reusing bytes of dead ones.

Greedy by size (largest first, lowest fitting offset) is simple and known to land close to the
optimum for inference graphs; see Pisarchyk & Lee, "Efficient Memory Management for Deep Neural
Net Inference" (2020).
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 64


@dataclass(frozen=True)
class Buffer:
    key: str
    nbytes: int
    first: int  # first step index that touches it
    last: int  # last step index that touches it


def align(n: int, to: int = ALIGN) -> int:
    return (n + to - 1) // to * to


def place(buffers: list[Buffer]) -> tuple[dict[str, int], int]:
    """Offsets per buffer key and the arena size."""
    placed: list[tuple[int, int, Buffer]] = []  # (offset, end, buffer)
    offsets: dict[str, int] = {}
    for buf in sorted(buffers, key=lambda b: (-b.nbytes, b.first, b.key)):
        size = align(max(buf.nbytes, 1))
        busy = sorted((o, e) for o, e, other in placed if other.first <= buf.last and buf.first <= other.last)
        offset = 0
        for start, end in busy:
            if offset + size <= start:
                break
            offset = max(offset, end)
        offsets[buf.key] = offset
        placed.append((offset, offset + size, buf))
    return offsets, max((e for _, e, _ in placed), default=0)
