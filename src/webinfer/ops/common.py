"""Shape arithmetic shared by the ops: broadcasting, strides, axis normalisation, dim coalescing."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import ShapeError


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return tuple(strides)


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """Numpy-style multidirectional broadcasting; raises ShapeError when shapes are incompatible."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ShapeError(f"shapes {', '.join(str(tuple(s)) for s in shapes)} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> tuple[int, ...]:
    """Element strides that read a contiguous `shape` tensor as if it had `out_shape` (0 = repeat)."""
    pad = len(out_shape) - len(shape)
    own = contiguous_strides(shape)
    return tuple(
        0 if i < pad or (shape[i - pad] == 1 and out_shape[i] != 1) else own[i - pad]
        for i in range(len(out_shape))
    )


def coalesce(dims: Sequence[int], *strides: Sequence[int]) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Drop size-1 dims and merge neighbours that are contiguous in every operand.

    Kernels then see the fewest, longest loops (e.g. a 4-D Add of equal shapes becomes 1-D).
    """
    keep = [i for i, d in enumerate(dims) if d != 1]
    out_dims: list[int] = []
    out_strides: list[list[int]] = [[] for _ in strides]
    for i in keep:
        if out_dims and all(s[i] * dims[i] == o[-1] for s, o in zip(strides, out_strides, strict=True)):
            out_dims[-1] *= dims[i]
            for s, o in zip(strides, out_strides, strict=True):
                o[-1] = s[i]
            continue
        out_dims.append(dims[i])
        for s, o in zip(strides, out_strides, strict=True):
            o.append(s[i])
    if not out_dims:
        return (1,), [(0,) for _ in strides]
    return tuple(out_dims), [tuple(o) for o in out_strides]


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)
