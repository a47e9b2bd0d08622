"""Order nodes so that every tensor is produced before it is read (ONNX requires it, files vary)."""

from __future__ import annotations

from ..errors import ShapeError
from ..graph import Graph, Node


def toposort(graph: Graph) -> list[Node]:
    available = set(graph.initializers) | {v.name for v in graph.inputs} | {""}
    producers = {out: node for node in graph.nodes for out in node.outputs if out}
    order: list[Node] = []
    done: set[int] = set()
    for root in graph.nodes:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                order.append(node)
                available.update(node.outputs)
                continue
            stack.append((node, True))
            for name in node.inputs:
                if name in available:
                    continue
                producer = producers.get(name)
                if producer is None:
                    raise ShapeError(f"{node.describe()} reads '{name}', which no node or input provides")
                if id(producer) not in done:
                    if any(n is producer for n, exp in stack if exp):
                        raise ShapeError(f"the graph has a cycle through {producer.describe()}")
                    stack.append((producer, False))
    missing = [o.name for o in graph.outputs if o.name not in available]
    if missing:
        raise ShapeError(f"graph outputs {missing} are never produced")
    return order
