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
    Graph inputs that feed such shape/axes slots are noted: their values become part of the plan key.
    """
    graph = model.graph
    nodes = toposort(graph)
    ops = [(node, create(node, model.opsets)) for node in nodes]
    weights = bytearray()
    offsets: dict[str, int] = {}
    value_inputs: set[str] = set()
    input_names = {vi.name for vi in graph.inputs}
    for node, op in ops:
        for i, name in enumerate(node.inputs):
            if name in input_names and i in op.value_inputs:
                value_inputs.add(name)
            if name in graph.initializers and name not in offsets and i not in op.value_inputs:
                offsets[name] = align(len(weights))
                weights.extend(bytes(offsets[name] - len(weights)))
                weights.extend(graph.initializers[name].data.cast("B"))
    return Program(graph, ops, offsets, value_inputs), weights
