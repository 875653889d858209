"""Constant folding: compute at compile time what depends on constants only.

A pure node (not stateful, not random: see :func:`.cse.is_pure`) whose inputs are all
constants is run once, through the op's own kernel (``rillet._context.compute``, the same
path eager execution takes), and replaced by constant nodes holding its results. Chains
fold in one pass, since each folded result is a constant for the nodes after it.

Folding is skipped where it would not pay or would hide something:

* results over ``MAX_FOLD_BYTES`` stay ops (a scalar broadcast to a large shape is cheaper
  to compute than to keep alive for the whole program);
* control flow (a node holding a sub-graph) stays: a loop's cost has no bound;
* a node whose kernel fails stays, so that the error is raised when the graph runs;
* a node that makes NaN or Inf from finite inputs stays, so that
  ``rl.debugging.enable_check_numerics()`` still names the op that made it.

>>> import rillet as rl
>>> def f(x):
...     return x * (rl.asarray(2.0) + 1.0)   # the add depends on constants only
>>> graph = rl.function(f, optimize=False).get_graph(rl.ones(3))
>>> sorted(graph.op_counts())
['add', 'constant', 'multiply', 'placeholder']
>>> sorted(fold_constants(graph).op_counts())
['constant', 'multiply', 'placeholder']
"""

from __future__ import annotations

import math

import numpy as np

from ... import _context
from ...errors import RilletError
from ...ops._registry import Spec
from ..ir import CONSTANT, Graph, Node, Value, fresh_name
from .cse import is_pure

MAX_FOLD_BYTES = 1 << 20  # 1 MiB per folded node


def fold_constants(graph: Graph) -> Graph:
    """Replace pure nodes of constant inputs by constants of their results (mutates ``graph``).

    The folded nodes are dropped; the constants they read are left for ``prune``.
    """
    subst: dict[int, Value] = {}
    names = {n.name for n in graph.nodes}
    nodes: list[Node] = []
    for node in graph.nodes:  # graph.nodes keeps dropped nodes alive, so ids stay unique
        node.inputs = [None if v is None else subst.get(id(v), v) for v in node.inputs]
        results = _fold(node) if _foldable(node) else None
        if results is None:
            nodes.append(node)
            continue
        for value, array in zip(node.outputs, results):
            constant = _constant_node(array, fresh_name(names, CONSTANT))
            nodes.append(constant)
            subst[id(value)] = constant.outputs[0]
    graph.nodes = nodes
    graph.outputs = [subst.get(id(v), v) for v in graph.outputs]
    return graph


def _foldable(node: Node) -> bool:
    """A pure op of constant inputs, with results of known and modest size."""
    if node.op == CONSTANT or not is_pure(node):
        return False
    if any(isinstance(a, Graph) for a in node.attrs.values()):
        return False  # control flow: running a loop now could take any time
    if any(v is not None and v.node.op != CONSTANT for v in node.inputs):
        return False
    sizes = [_nbytes(v) for v in node.outputs]
    return None not in sizes and sum(sizes) <= MAX_FOLD_BYTES


def _nbytes(value: Value) -> int | None:
    if None in value.shape:
        return None
    return math.prod(value.shape) * value.dtype.itemsize


def _fold(node: Node) -> list[np.ndarray] | None:
    """The node's results computed now, or None when it should stay an op."""
    arrays = [None if v is None else v.node.attrs["value"] for v in node.inputs]
    try:
        spec = node.opdef.rule(*node.inputs, **node.attrs)
        result = _context.compute(node.opdef, arrays, node.attrs, spec)
    except (RilletError, ArithmeticError, ValueError, TypeError, IndexError):
        return None  # leave it to fail (or not) at run time, with the executor's message
    results = [result] if type(spec) is Spec else list(result)
    if _makes_non_finite(arrays, results):
        return None
    # Own, contiguous copies: a kernel may return a view of an input or a broadcast view.
    return [np.array(r, dtype=v.dtype, order="C", copy=True) for r, v in zip(results, node.outputs)]


def _finite(array: np.ndarray) -> bool:
    if array.dtype.kind == "V":  # bfloat16
        array = array.astype(np.float32)
    return array.dtype.kind != "f" or bool(np.isfinite(array).all())


def _makes_non_finite(inputs: list, results: list) -> bool:
    return all(_finite(a) for a in inputs if a is not None) and not all(map(_finite, results))


def _constant_node(array: np.ndarray, name: str) -> Node:
    return Node(CONSTANT, [], {"value": array}, [Spec(array.shape, array.dtype)], name)
