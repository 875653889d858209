"""Pruning: drop the nodes that neither the outputs nor any side effect needs.

A node is kept when a graph output depends on it, when it is stateful (reading or writing
a variable is a side effect the program asked for, even if no output depends on it), when a
kept node depends on it, or when it is a placeholder (the graph's inputs never change). The
kept nodes stay in their program order.

>>> import rillet as rl
>>> def f(x):
...     unused = rl.exp(x)            # no output depends on it
...     return rl.tanh(x)
>>> graph = rl.function(f, optimize=False).get_graph(rl.ones(3))
>>> sorted(prune(graph).op_counts())
['placeholder', 'tanh']
"""

from __future__ import annotations

from ..ir import PLACEHOLDER, Graph, Node


def prune(graph: Graph) -> Graph:
    """Remove the nodes ``graph``'s outputs and side effects do not need (in place)."""
    needed = _needed_nodes(graph)
    graph.nodes = [n for n in graph.nodes if id(n) in needed]
    return graph


def _roots(graph: Graph) -> list[Node]:
    """The nodes kept for their own sake: output producers, stateful nodes, placeholders."""
    roots = [v.node for v in graph.outputs]
    roots += [n for n in graph.nodes if n.op == PLACEHOLDER or n.stateful]
    return roots


def _needed_nodes(graph: Graph) -> set[int]:
    """Ids of the roots and of every node they read from, transitively."""
    needed: set[int] = set()
    stack = _roots(graph)
    while stack:
        node = stack.pop()
        if id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(v.node for v in node.inputs if v is not None)
    return needed
