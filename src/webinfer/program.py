"""The shape-independent preparation of a model: node order, op objects, packed weights."""

from __future__ import annotations

from .compiler import Program
from .graph import Model
from .ops import create
from .passes.toposort import toposort
from .planner import align


def prepare(model: Model) -> tuple[Program, bytearray]:
    """Order the nodes, create their ops (failing on the first unsupported one), pack the weights.

    Only initializers that kernels read are packed; shape vectors and axes stay in the model.
    """
    graph = model.graph
    nodes = toposort(graph)
    ops = [(node, create(node, model.opsets)) for node in nodes]
    weights = bytearray()
    offsets: dict[str, int] = {}
    for node, op in ops:
        for i, name in enumerate(node.inputs):
            if name in graph.initializers and name not in offsets and i not in op.value_inputs:
                offsets[name] = align(len(weights))
                weights.extend(bytes(offsets[name] - len(weights)))
                weights.extend(graph.initializers[name].data.cast("B"))
    return Program(graph, ops, offsets), weights
