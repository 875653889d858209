"""Common subexpression elimination: one node for each distinct computation.

Two nodes compute the same value when they apply the same op to the same input values with
equal attributes, and the op is pure: it does not touch state (``read_variable`` twice may
see two different values) and does not draw random numbers (two draws are two samples,
even when the ops look alike). Constants with the same dtype, shape and bytes are one value.
The later node's uses (and graph outputs) are redirected to the earlier node, and the later
node is dropped; nothing is reordered.

>>> import rillet as rl
>>> graph = rl.function(lambda x: rl.exp(x) + rl.exp(x), optimize=False).get_graph(rl.ones(3))
>>> eliminate_common_subexpressions(graph).op_counts()["exp"]
1
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

from ..ir import PLACEHOLDER, Graph, Node, Value

# Ops whose name holds one of these draw random numbers (or may, one day): never merged or
# folded, even though the stateless ones are pure given their key. Being conservative
# costs a duplicate draw at most; merging two draws would silently correlate samples.
RANDOM_MARKERS = ("random", "dropout", "shuffle", "categorical", "bernoulli", "truncated")


def is_random(op: str) -> bool:
    """True for ops that draw random numbers (by name: ``stateless_*`` and the markers)."""
    return op.startswith("stateless_") or any(marker in op for marker in RANDOM_MARKERS)


def is_pure(node: Node) -> bool:
    """An op node whose outputs depend only on its inputs and attributes."""
    return node.op != PLACEHOLDER and not node.stateful and not is_random(node.op)


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Merge nodes computing the same value into the first of them (mutates ``graph``)."""
    subst: dict[int, Value] = {}  # id of a dropped node's output -> the kept equivalent
    seen: dict[object, Node] = {}
    kept: list[Node] = []
    for node in graph.nodes:  # graph.nodes keeps the dropped nodes alive, so ids stay unique
        node.inputs = [None if v is None else subst.get(id(v), v) for v in node.inputs]
        twin = _find_twin(node, seen) if is_pure(node) else None
        if twin is None:
            kept.append(node)
            continue
        for old, new in zip(node.outputs, twin.outputs):
            subst[id(old)] = new
    graph.nodes = kept
    graph.outputs = [subst.get(id(v), v) for v in graph.outputs]
    return graph


def _find_twin(node: Node, seen: dict) -> Node | None:
    """An earlier node equal to ``node``, or None (then ``node`` is remembered)."""
    key = _node_key(node)
    twin = seen.get(key)
    if twin is not None and _same_specs(twin, node) and _same_arrays(twin, node):
        return twin
    seen.setdefault(key, node)
    return None


def _node_key(node: Node) -> tuple:
    inputs = tuple(None if v is None else id(v) for v in node.inputs)
    return (node.op, inputs, attr_key(node.attrs))


def _same_specs(a: Node, b: Node) -> bool:
    return [(v.shape, v.dtype) for v in a.outputs] == [(v.shape, v.dtype) for v in b.outputs]


def _same_arrays(a: Node, b: Node) -> bool:
    """The array attributes are equal byte for byte (keys only compared digests)."""
    return all(
        _array_bytes_equal(x, y)
        for x, y in zip(_arrays_in(a.attrs), _arrays_in(b.attrs))
        if x is not y
    )


def _arrays_in(obj) -> list:
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, dict):
        return [a for k in sorted(obj, key=repr) for a in _arrays_in(obj[k])]
    if isinstance(obj, (tuple, list)):
        return [a for item in obj for a in _arrays_in(item)]
    return []


def _array_bytes_equal(x: np.ndarray, y: np.ndarray) -> bool:
    return x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()


# -- attribute keys -------------------------------------------------------------------------


def attr_key(value) -> object:
    """A hashable key such that equal keys mean interchangeable attribute values.

    Floats compare by their bits (so NaN equals the same NaN, and 0.0 differs from -0.0),
    arrays by dtype, shape and a digest of their bytes, containers structurally with their
    type, and any other object (a variable, a tensor, a function) by identity.
    """
    kind = type(value)
    if value is None or kind in (bool, int, str, bytes):
        return (kind.__name__, value)
    if kind is float:
        return ("float", struct.pack("<d", value))
    if kind is complex:
        return ("complex", struct.pack("<dd", value.real, value.imag))
    if isinstance(value, np.ndarray):
        return _array_key(value)
    if isinstance(value, np.generic):
        return _array_key(np.asarray(value)) + ("scalar",)
    if isinstance(value, np.dtype):
        return ("dtype", value)
    if isinstance(value, (tuple, list)):
        return (kind, tuple(attr_key(v) for v in value))
    if isinstance(value, dict):
        return (kind, tuple((attr_key(k), attr_key(value[k])) for k in sorted(value, key=repr)))
    if kind is slice:
        return ("slice", attr_key(value.start), attr_key(value.stop), attr_key(value.step))
    if value is Ellipsis:
        return ("ellipsis",)
    return ("id", id(value))


def _array_key(array: np.ndarray) -> tuple:
    if array.dtype.hasobject:
        return ("id", id(array))
    digest = hashlib.blake2b(np.ascontiguousarray(array).view(np.uint8), digest_size=16)
    return ("array", array.dtype, array.shape, digest.digest())
