"""Memory planning: liveness of every value and the peak bytes a graph needs.

A value is live from the step that makes it until the last step that reads it (graph
outputs stay live to the end; placeholders and constants are live from the start, as they
are held by the caller).
"""

from __future__ import annotations

import math

from ..ir import CONSTANT, PLACEHOLDER, Graph, Value


def nbytes(value: Value) -> int:
    """Bytes of ``value`` (an unknown size counts as 1)."""
    return math.prod(1 if s is None else s for s in value.shape) * value.dtype.itemsize


def liveness(graph: Graph) -> dict[int, tuple[int, int]]:
    """For each value (by ``id``): the indices of the step that makes it and of its last use."""
    spans: dict[int, tuple[int, int]] = {}
    end = len(graph.nodes)
    for i, node in enumerate(graph.nodes):
        start = 0 if node.op in (PLACEHOLDER, CONSTANT) else i
        for value in node.outputs:
            spans[id(value)] = (start, i)
        for value in node.inputs:
            if value is not None:
                spans[id(value)] = (spans[id(value)][0], i)
    for value in graph.outputs:
        spans[id(value)] = (spans[id(value)][0], end)
    return spans


def planned_peak_bytes(graph: Graph) -> int:
    """The largest total of live bytes at any step, with every value in its own buffer."""
    spans = liveness(graph)
    sizes = {id(v): nbytes(v) for n in graph.nodes for v in n.outputs}
    delta = [0] * (len(graph.nodes) + 2)
    for key, (start, stop) in spans.items():
        delta[start] += sizes[key]
        delta[stop + 1] -= sizes[key]
    peak = live = 0
    for change in delta:
        live += change
        peak = max(peak, live)
    return peak
