"""From a graph and concrete input shapes to an execution plan.

  infer shapes node by node -> fold what is constant -> lower the rest to kernel steps
  -> fuse kernel steps -> place buffers (planner) -> Plan with TensorRefs.

Constant subgraphs are folded by *running* their lowered steps on the session's backend (a tiny plan
each), so folding needs no numpy and matches the backend's arithmetic bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import dtypes
from .errors import ShapeError, UnsupportedOpError
from .graph import Graph, Node, TensorData
from .kernels import CopyParams, Kernel
from .lowering import Lowering
from .ops import Op, TensorInfo
from .passes.fuse import fuse_steps
from .passes.gelu import fuse_gelu
from .plan import ARENA, CONSTS, FIRST_IO, WEIGHTS, Plan, Step, TensorRef
from .planner import Buffer, align, place

# Runs a constant-only plan and returns its outputs' bytes (the session binds its backend).
Evaluate = Callable[[Plan], list[bytes]]


@dataclass
class Program:
    """The shape-independent part of a session: ops in order and where each weight lives."""

    graph: Graph
    ops: list[tuple[Node, Op]]
    weight_offsets: dict[str, int] = field(default_factory=dict)
    value_inputs: set[str] = field(default_factory=set)  # inputs whose values shape the plan


def build_plan(
    program: Program,
    input_shapes: dict[str, tuple[int, ...]],
    evaluate: Evaluate,
    input_values: dict[str, TensorData] | None = None,
) -> Plan:
    """input_values: the current values of program.value_inputs (they shape this plan)."""
    graph = program.graph
    infos: dict[str, TensorInfo] = {
        name: TensorInfo(t.dtype, t.shape, t) for name, t in graph.initializers.items()
    }
    for vi in graph.inputs:
        infos[vi.name] = TensorInfo(vi.dtype, input_shapes[vi.name], (input_values or {}).get(vi.name))
    lw = Lowering(infos)
    for node, op in program.ops:
        ins = [infos[n] if n else None for n in node.inputs]
        for i in op.value_inputs:
            if i < len(ins) and ins[i] is not None and ins[i].const is None:  # type: ignore[union-attr]
                raise UnsupportedOpError(
                    f"{node.describe()}: input {i} ('{node.inputs[i]}') must be a constant or computable "
                    "from shapes; data-dependent shapes are not supported"
                )
        outs = op.infer(ins)
        if len(outs) < len([o for o in node.outputs if o]):
            raise ShapeError(
                f"{node.describe()}: produces {len(outs)} outputs, graph expects {len(node.outputs)}"
            )
        for name, info in zip(node.outputs, outs, strict=False):
            if name:
                infos[name] = info
        if all(o.const is not None for o in outs):
            continue
        if all(t is None or t.const is not None for t in ins):
            _fold(node, op, infos, evaluate)
            continue
        lw.origin = node.describe()
        op.lower(lw, list(node.inputs), list(node.outputs))
    protected = {o.name for o in graph.outputs}
    fuse_gelu(lw, protected)
    fuse_steps(lw, protected)
    return assemble(
        lw, [vi.name for vi in graph.inputs], [o.name for o in graph.outputs], program.weight_offsets
    )


def _fold(node: Node, op: Op, infos: dict[str, TensorInfo], evaluate: Evaluate) -> None:
    """Compute a node whose inputs are all constants, once, and record its outputs as constants."""
    lw = Lowering(infos, origin=node.describe())
    op.lower(lw, list(node.inputs), list(node.outputs))
    outs = [o for o in node.outputs if o]
    if not lw.steps and all(o in lw.aliases for o in outs):  # pure views of constants: no arithmetic
        for o in outs:
            src = infos[lw.aliases[o]].const
            assert src is not None
            infos[o].const = src.reshaped(infos[o].shape)
        return
    plan = assemble(lw, [], outs, {})
    for o, data in zip(outs, evaluate(plan), strict=True):
        infos[o].const = TensorData(infos[o].dtype, infos[o].shape, memoryview(data))


def _contiguous_copy(lw: Lowering, src: str) -> str:
    info = lw.info(src)
    dst = lw.temp(info.dtype, info.shape)
    n = _numel(info.shape)
    lw.step(Kernel.COPY, [(src, (n,)), (dst, (n,))], CopyParams((n,), (1,), (1,), 0, 0))
    return dst


def assemble(lw: Lowering, inputs: list[str], outputs: list[str], weight_offsets: dict[str, int]) -> Plan:
    """Place every tensor the steps touch and turn the named steps into a Plan."""
    infos = lw.infos

    def root(name: str) -> str:
        while name in lw.aliases:
            name = lw.aliases[name]
        return name

    # An output must own its buffer: copy when it is a constant, an input, or shared with another output.
    out_names: list[str] = []
    claimed: set[str] = set()
    for name in outputs:
        r = root(name)
        if infos[r].const is not None or r in inputs or r in claimed:
            lw.origin = f"output '{name}'"
            name = _contiguous_copy(lw, name)
            r = name
        claimed.add(r)
        out_names.append(name)

    location: dict[str, tuple[int, int]] = {}  # root -> (buffer, offset)
    consts = bytearray()
    for i, name in enumerate(inputs):
        location[root(name)] = (FIRST_IO + i, 0)
    for j, name in enumerate(out_names):
        location[root(name)] = (FIRST_IO + len(inputs) + j, 0)

    def nbytes(name: str) -> int:
        info = infos[name]
        return dtypes.info(info.dtype).itemsize * _numel(info.shape)

    # Liveness of arena tensors, then in-place sharing where a step allows it.
    share: dict[str, str] = {}

    def group(name: str) -> str:
        r = root(name)
        while r in share:
            r = share[r]
        return r

    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for s, step in enumerate(lw.steps):
        for name, _ in step.tensors:
            r = root(name)
            if infos[r].const is not None or r in location:
                continue
            first.setdefault(r, s)
            last[r] = s
    intermediate_bytes = sum(nbytes(r) for r in first)
    for s, step in enumerate(lw.steps):
        if not step.inplace_ok:
            continue
        a, y = group(step.reads[0]), group(step.output)
        if a in first and y in first and a != y and last[a] == s and first[y] == s and nbytes(a) == nbytes(y):
            share[y] = a
            last[a] = last[y]
    buffers = [Buffer(r, nbytes(r), first[r], last[r]) for r in first if r not in share]
    offsets, arena_bytes = place(buffers)

    def ref(name: str, shape: tuple[int, ...]) -> TensorRef:
        r = group(name)
        info = infos[name]
        if r in location:
            buf, off = location[r]
        elif r in offsets:
            buf, off = ARENA, offsets[r]
        elif r in weight_offsets:
            buf, off = WEIGHTS, weight_offsets[r]
        else:
            data = infos[r].const
            assert data is not None, f"tensor {r} has no storage"
            off = align(len(consts))
            consts.extend(b"\0" * (off - len(consts)))
            consts.extend(data.data.cast("B"))
            buf = CONSTS
            location[r] = (buf, off)
        return TensorRef(buf, off, info.dtype, shape)

    steps = [
        Step(k.kernel, tuple(ref(name, shape) for name, shape in k.tensors), k.params, k.origin)
        for k in lw.steps
    ]
    return Plan(
        steps=steps,
        arena_bytes=arena_bytes,
        consts=bytes(consts),
        input_names=list(inputs),
        output_names=list(outputs),
        input_refs=[ref(n, infos[n].shape) for n in inputs],
        output_refs=[ref(n, infos[n].shape) for n in out_names],
        intermediate_bytes=intermediate_bytes,
    )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
