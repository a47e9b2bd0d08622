"""Ops that only move or reinterpret data: views become aliases, rearrangements become COPY steps."""

from __future__ import annotations

import math

from ..dtypes import DType
from ..graph import TensorData
from ..kernels import CopyParams, GatherParams, Kernel
from ..lowering import Lowering
from .common import broadcast_shapes, broadcast_strides, coalesce, contiguous_strides, normalize_axis
from .registry import Op, TensorInfo, register


def copy_step(lw: Lowering, src: str, dst: str, dims, src_strides, dst_strides, src_start=0, dst_start=0):
    dims, (ss, ds) = coalesce(tuple(dims), tuple(src_strides), tuple(dst_strides))
    lw.step(Kernel.COPY, [src, dst], CopyParams(dims, ss, ds, src_start, dst_start))


class View(Op):
    """Ops whose output is the input's bytes under another shape."""

    def lower(self, lw: Lowering, ins, outs):
        lw.alias(outs[0], ins[0])

    def out(self, x: TensorInfo, shape) -> list[TensorInfo]:
        shape = tuple(int(d) for d in shape)
        if math.prod(shape) != math.prod(x.shape):
            raise self.fail(f"cannot view {x.shape} as {shape}")
        return [TensorInfo(x.dtype, shape)]


@register
class Reshape(View):
    op_types = ("Reshape",)
    value_inputs = (1,)

    def parse(self, node):
        if self.opset < 5:
            raise self.unsupported("Reshape-1 (shape attribute)")
        self.allowzero = int(self.attr("allowzero", 0))

    def infer(self, ins):
        x, s = ins[0], ins[1]
        assert x is not None and s is not None
        shape = [int(v) for v in s.values()]
        if not self.allowzero:
            shape = [x.shape[i] if d == 0 and i < len(x.shape) else d for i, d in enumerate(shape)]
        if shape.count(-1) > 1:
            raise self.fail(f"more than one -1 in {shape}")
        if -1 in shape:
            known = math.prod(d for d in shape if d != -1)
            if known == 0 or math.prod(x.shape) % known:
                raise self.fail(f"cannot reshape {x.shape} to {shape}")
            shape[shape.index(-1)] = math.prod(x.shape) // known
        return self.out(x, shape)


@register
class Flatten(View):
    op_types = ("Flatten",)

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        axis = int(self.attr("axis", 1))
        axis = axis + len(x.shape) if axis < 0 else axis
        if not 0 <= axis <= len(x.shape):
            raise self.fail(f"axis {self.attr('axis')} out of range for rank {len(x.shape)}")
        return self.out(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


@register
class Squeeze(View):
    op_types = ("Squeeze", "Unsqueeze")
    value_inputs = (1,)

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        if self.opset >= 13:
            axes = [int(a) for a in ins[1].values()] if len(ins) > 1 and ins[1] is not None else None
        else:
            axes = self.attr("axes")
        if self.node.op_type == "Squeeze":
            rank = len(x.shape)
            drop = (
                {normalize_axis(a, rank) for a in axes}
                if axes
                else {i for i, d in enumerate(x.shape) if d == 1}
            )
            if any(x.shape[i] != 1 for i in drop):
                raise self.fail(f"cannot squeeze axes {sorted(drop)} of {x.shape}")
            return self.out(x, [d for i, d in enumerate(x.shape) if i not in drop])
        if not axes:
            raise self.fail("Unsqueeze needs axes")
        rank = len(x.shape) + len(axes)
        added = {normalize_axis(a, rank) for a in axes}
        if len(added) != len(axes):
            raise self.fail(f"repeated axes {axes}")
        dims = iter(x.shape)
        return self.out(x, [1 if i in added else next(dims) for i in range(rank)])


@register
class Identity(View):
    """Identity, and Dropout at inference: the data passes through, the mask is all true."""

    op_types = ("Identity", "Dropout")
    value_inputs = (2,)  # Dropout's training_mode

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        if self.node.op_type == "Dropout" and len(ins) > 2 and ins[2] is not None and any(ins[2].values()):
            raise self.unsupported("training_mode (only inference is supported)")
        mask = TensorData.from_values(DType.BOOL, x.shape, [True] * math.prod(x.shape))
        return [TensorInfo(x.dtype, x.shape), TensorInfo(DType.BOOL, x.shape, mask)][: len(self.node.outputs)]


class Source(Op):
    """Ops whose output is known from attributes and input shapes alone (folded, never run)."""

    def lower(self, lw: Lowering, ins, outs):
        raise AssertionError("constant ops are folded during inference")


@register
class Shape(Source):
    op_types = ("Shape", "Size")

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        if self.node.op_type == "Size":
            return [
                TensorInfo(DType.INT64, (), TensorData.from_values(DType.INT64, (), [math.prod(x.shape)]))
            ]
        rank = len(x.shape)
        start = max(0, min(rank, _wrap(int(self.attr("start", 0)), rank)))
        end = max(0, min(rank, _wrap(int(self.attr("end", rank)), rank)))
        dims = list(x.shape[start:end])
        return [
            TensorInfo(DType.INT64, (len(dims),), TensorData.from_values(DType.INT64, (len(dims),), dims))
        ]


def _wrap(i: int, n: int) -> int:
    return i + n if i < 0 else i


@register
class Constant(Source):
    op_types = ("Constant",)

    def parse(self, node):
        attrs = node.attrs
        if "value" in attrs:
            self.data = attrs["value"]
        elif "value_float" in attrs:
            self.data = TensorData.from_values(DType.FLOAT, (), [float(attrs["value_float"])])
        elif "value_floats" in attrs:
            v = list(attrs["value_floats"])
            self.data = TensorData.from_values(DType.FLOAT, (len(v),), v)
        elif "value_int" in attrs:
            self.data = TensorData.from_values(DType.INT64, (), [int(attrs["value_int"])])
        elif "value_ints" in attrs:
            v = list(attrs["value_ints"])
            self.data = TensorData.from_values(DType.INT64, (len(v),), v)
        else:
            raise self.unsupported(f"attributes {sorted(attrs)}")

    def infer(self, ins):
        return [TensorInfo(self.data.dtype, self.data.shape, self.data)]


@register
class ConstantOfShape(Source):
    op_types = ("ConstantOfShape",)
    value_inputs = (0,)

    def parse(self, node):
        self.value = self.attr("value") or TensorData.from_values(DType.FLOAT, (1,), [0.0])

    def infer(self, ins):
        s = ins[0]
        assert s is not None
        shape = tuple(int(v) for v in s.values())
        if any(d < 0 for d in shape):
            raise self.fail(f"negative dim in {shape}")
        fill = self.value.tolist()[0]
        data = TensorData.from_values(self.value.dtype, shape, [fill] * math.prod(shape))
        return [TensorInfo(self.value.dtype, shape, data)]


@register
class Transpose(Op):
    op_types = ("Transpose",)

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        rank = len(x.shape)
        self.perm = tuple(self.attr("perm") or range(rank - 1, -1, -1))
        if sorted(self.perm) != list(range(rank)):
            raise self.fail(f"perm {self.perm} is not a permutation of {rank} axes")
        return [TensorInfo(x.dtype, tuple(x.shape[p] for p in self.perm))]

    def lower(self, lw: Lowering, ins, outs):
        in_strides = contiguous_strides(lw.shape(ins[0]))
        out_shape = lw.shape(outs[0])
        copy_step(
            lw, ins[0], outs[0], out_shape, [in_strides[p] for p in self.perm], contiguous_strides(out_shape)
        )


@register
class Concat(Op):
    op_types = ("Concat",)

    def infer(self, ins):
        xs = [t for t in ins if t is not None]
        rank = len(xs[0].shape)
        self.axis = normalize_axis(int(self.attr("axis", 0)), rank)
        for t in xs:
            if (
                len(t.shape) != rank
                or t.dtype != xs[0].dtype
                or any(
                    a != b
                    for i, (a, b) in enumerate(zip(t.shape, xs[0].shape, strict=True))
                    if i != self.axis
                )
            ):
                raise self.fail(f"inputs {[t.shape for t in xs]} do not concatenate on axis {self.axis}")
        shape = list(xs[0].shape)
        shape[self.axis] = sum(t.shape[self.axis] for t in xs)
        return [TensorInfo(xs[0].dtype, tuple(shape))]

    def lower(self, lw: Lowering, ins, outs):
        out_strides = contiguous_strides(lw.shape(outs[0]))
        offset = 0
        for name in ins:
            shape = lw.shape(name)
            if math.prod(shape):
                copy_step(lw, name, outs[0], shape, contiguous_strides(shape), out_strides,
                          dst_start=offset * out_strides[self.axis])  # fmt: skip
            offset += shape[self.axis]


@register
class Split(Op):
    op_types = ("Split",)
    value_inputs = (1,)

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        self.axis = normalize_axis(int(self.attr("axis", 0)), len(x.shape))
        n_out = len(self.node.outputs)
        total = x.shape[self.axis]
        if self.opset >= 13:
            split = [int(v) for v in ins[1].values()] if len(ins) > 1 and ins[1] is not None else None
        else:
            split = self.attr("split")
        if split is None:
            parts = int(self.attr("num_outputs", n_out))
            chunk = -(-total // parts)
            split = [min(chunk, total - i * chunk) for i in range(parts)]
        if sum(split) != total or len(split) != n_out or min(split) < 0:
            raise self.fail(f"split {split} does not divide axis {self.axis} of {x.shape} into {n_out}")
        self.split = split
        return [TensorInfo(x.dtype, (*x.shape[: self.axis], s, *x.shape[self.axis + 1 :])) for s in split]

    def lower(self, lw: Lowering, ins, outs):
        in_strides = contiguous_strides(lw.shape(ins[0]))
        start = 0
        for name, size in zip(outs, self.split, strict=True):
            shape = lw.shape(name)
            if size and name:
                copy_step(lw, ins[0], name, shape, in_strides, contiguous_strides(shape),
                          src_start=start * in_strides[self.axis])  # fmt: skip
            start += size


@register
class Slice(Op):
    op_types = ("Slice",)
    value_inputs = (1, 2, 3, 4)

    def infer(self, ins):
        x = ins[0]
        assert x is not None
        rank = len(x.shape)
        if self.opset < 10:
            starts, ends = self.attr("starts"), self.attr("ends")
            axes, steps = self.attr("axes"), None
        else:
            vals = [[int(v) for v in t.values()] if t is not None else None for t in self.padded(ins, 5)[1:]]
            starts, ends, axes, steps = vals
        axes = axes if axes is not None else list(range(len(starts)))
        steps = steps if steps is not None else [1] * len(starts)
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise self.fail("starts/ends/axes/steps lengths differ")
        self.begin = [0] * rank
        self.step = [1] * rank
        shape = list(x.shape)
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
            a = normalize_axis(axis, rank)
            if step == 0:
                raise self.fail("step 0")
            n = x.shape[a]
            start, end = (start + n if start < 0 else start), (end + n if end < 0 else end)
            if step > 0:
                start, end = max(0, min(n, start)), max(0, min(n, end))
                count = max(0, -(-(end - start) // step))
            else:
                start, end = max(0, min(n - 1, start)), max(-1, min(n - 1, end))
                count = max(0, -(-(start - end) // -step))
            self.begin[a], self.step[a], shape[a] = start, step, count
        return [TensorInfo(x.dtype, tuple(shape))]

    def lower(self, lw: Lowering, ins, outs):
        out_shape = lw.shape(outs[0])
        if not math.prod(out_shape):
            return
        in_strides = contiguous_strides(lw.shape(ins[0]))
        src_start = sum(b * s for b, s in zip(self.begin, in_strides, strict=True))
        copy_step(lw, ins[0], outs[0], out_shape, [s * k for s, k in zip(in_strides, self.step, strict=True)],
                  contiguous_strides(out_shape), src_start=src_start)  # fmt: skip


@register
class Gather(Op):
    op_types = ("Gather",)

    def infer(self, ins):
        data, idx = ins[0], ins[1]
        assert data is not None and idx is not None
        if idx.dtype not in (DType.INT32, DType.INT64):
            raise self.fail("indices must be int32 or int64")
        self.axis = normalize_axis(int(self.attr("axis", 0)), len(data.shape))
        return [TensorInfo(data.dtype, (*data.shape[: self.axis], *idx.shape, *data.shape[self.axis + 1 :]))]

    def lower(self, lw: Lowering, ins, outs):
        shape = lw.shape(ins[0])
        inner = math.prod(shape[self.axis + 1 :])
        params = GatherParams(math.prod(shape[: self.axis]), shape[self.axis], inner,
                              math.prod(lw.shape(ins[1])))  # fmt: skip
        lw.step(Kernel.GATHER, [ins[0], ins[1], outs[0]], params)


@register
class Expand(Op):
    op_types = ("Expand",)
    value_inputs = (1,)

    def infer(self, ins):
        x, s = ins[0], ins[1]
        assert x is not None and s is not None
        return [TensorInfo(x.dtype, broadcast_shapes(x.shape, [int(v) for v in s.values()]))]

    def lower(self, lw: Lowering, ins, outs):
        out_shape = lw.shape(outs[0])
        copy_step(lw, ins[0], outs[0], out_shape, broadcast_strides(lw.shape(ins[0]), out_shape),
                  contiguous_strides(out_shape))  # fmt: skip
