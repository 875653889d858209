"""Algebraic simplification: rewrite nodes into cheaper nodes that compute the same values.

Each rewrite below is exact: it gives the same values, shape and dtype for every input,
including NaN and Inf (the one exception, the sign of a zero in ``x + 0``, is noted at its
rule). A rewrite never applies when it would change the result's shape or dtype, which the
nodes' recorded specs decide; shapes must be fully known where the rewrite relies on sizes.

Rewriting a node means redirecting its consumers (and the graph outputs) to the replacement
value: an existing value, or the output of a new node placed just before it. The rewritten
node is left in place, dead, for ``prune`` (which runs after this pass) to remove. Nodes are
visited in program order, so chains (``transpose(transpose(transpose(x)))``, reshape chains)
collapse in one pass. Not rewritten on purpose: ``x * 0`` (``NaN * 0`` and ``Inf * 0`` are
NaN, not 0) and ``x - x`` (NaN, Inf).

>>> import rillet as rl
>>> def f(x):
...     return rl.transpose(rl.transpose(x * 1.0)) + 0.0
>>> graph = rl.function(f, optimize=False).get_graph(rl.ones((2, 3)))
>>> from rillet.graph.passes.prune import prune
>>> sorted(prune(simplify(graph)).op_counts())
['placeholder']
"""

from __future__ import annotations

import math

import numpy as np

from ... import _context
from ...errors import RilletError
from ...ops._registry import REGISTRY, Spec
from ...ops._rules import normalize_axes
from ...ops.indexing import Slice
from ..ir import CONSTANT, Graph, Node, Value, fresh_name

# ``ones_like``/``zeros_like``/``full_like`` of a known shape become constants up to this
# size (enough for the seed of a gradient); larger ones stay ops, but rewrites still see
# their value (``x * ones_like(x)`` is ``x``).
MAX_SPLAT_CONSTANT_BYTES = 1024

RESHAPES = ("reshape", "squeeze", "expand_dims")  # ops that only change the shape
REDUCTIONS = ("sum", "mean", "prod", "max", "min")  # of one element: that element
_SPLATS = {"ones_like": 1, "zeros_like": 0}


def simplify(graph: Graph) -> Graph:
    """Apply the algebraic rewrites to ``graph`` (mutated in place; see the module doc)."""
    rewriter = _Rewriter(graph)
    for node in graph.nodes:  # graph.nodes keeps every node alive, so ids stay unique
        node.inputs = [None if v is None else rewriter.resolve(v) for v in node.inputs]
        replacement = _rewrite(node, rewriter)
        if replacement is not None:
            rewriter.replace(node.outputs[0], replacement)
        rewriter.nodes.append(node)
    graph.nodes = rewriter.nodes
    graph.outputs = [rewriter.resolve(v) for v in graph.outputs]
    return graph


class _Rewriter:
    """The new program being built, the substitutions made, and a maker of new nodes."""

    def __init__(self, graph: Graph):
        self.nodes: list[Node] = []
        self.subst: dict[int, Value] = {}
        self.names = {n.name for n in graph.nodes}
        self.uses = graph.use_counts()

    def resolve(self, value: Value) -> Value:
        return self.subst.get(id(value), value)

    def replace(self, old: Value, new: Value) -> None:
        """Redirect the uses of ``old`` to ``new`` (as the nodes after it are visited)."""
        self.subst[id(old)] = new
        self.uses[id(new)] = self.uses.get(id(new), 0) + self.uses.get(id(old), 0)

    def make(self, op: str, inputs: list, attrs: dict, want: Value) -> Value | None:
        """A new node ``op(inputs, attrs)`` before the current one, if its rule gives
        ``want``'s spec exactly; else None (the rewrite is not made)."""
        try:
            spec = REGISTRY[op].rule(*inputs, **attrs)
        except RilletError:
            return None
        if type(spec) is not Spec or not _same_spec(spec, want):
            return None
        node = Node(op, inputs, attrs, [spec], fresh_name(self.names, op))
        self.nodes.append(node)
        simpler = _rewrite(node, self)  # the new node may simplify further (left dead then)
        return node.outputs[0] if simpler is None else simpler

    def constant(self, array: np.ndarray) -> Value:
        spec = Spec(array.shape, array.dtype)
        node = Node(CONSTANT, [], {"value": array}, [spec], fresh_name(self.names, CONSTANT))
        self.nodes.append(node)
        return node.outputs[0]


def _rewrite(node: Node, rw: _Rewriter) -> Value | None:
    """The value that replaces ``node``'s (single) output, or None."""
    rule = RULES.get(node.op)
    if rule is None or len(node.outputs) != 1:
        return None
    return rule(node, rw)


# -- helpers --------------------------------------------------------------------------------


def _same_spec(a, b) -> bool:
    return tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype


def _known(shape: tuple) -> bool:
    return None not in shape


def _producer(value: Value, ops) -> Node | None:
    """The node making ``value`` when it is one of ``ops`` with a single output."""
    node = value.node
    return node if node.op in ops and len(node.outputs) == 1 else None


def splat(value: Value):
    """The one number every element of ``value`` holds, when the graph says so; else None.

    Known for constants whose elements are all equal, and for ``ones_like``,
    ``zeros_like`` and ``full_like`` nodes.
    """
    node = value.node
    if node.op == CONSTANT:
        array = node.attrs["value"]
        if array.size == 0 or array.dtype.kind not in "biufV":
            return None
        first = array.reshape(-1)[0]
        return first if bool(np.all(array == first)) else None
    if node.op in _SPLATS:
        return _SPLATS[node.op]
    if node.op == "full_like" and isinstance(node.attrs.get("fill_value"), (int, float)):
        return node.attrs["fill_value"]
    return None


def _is(value: Value, number) -> bool:
    found = splat(value)
    return found is not None and bool(found == number)


# -- arithmetic with neutral elements ---------------------------------------------------------
# x * 1, 1 * x, x / 1 and x - 0 are exact in IEEE arithmetic (NaN, Inf and -0.0 included).
# The neutral operand must not broadcast x to a larger shape or change its dtype, which
# comparing x's spec with the output's spec rules out.


def _neutral_operand(node: Node, neutral, commutes: bool) -> Value | None:
    x, y = node.inputs
    if _keeps(x, y, node.outputs[0], neutral):
        return x
    if commutes and _keeps(y, x, node.outputs[0], neutral):
        return y
    return None


def _keeps(x: Value, other: Value, out: Value, neutral) -> bool:
    """``x op other`` is ``x``: ``other`` is ``neutral`` everywhere and broadcasts nothing.

    A constant's shape is known, so equal specs prove it; a ``ones_like(y)`` could hide a
    larger runtime shape behind unknown sizes, so then the shape must be known.
    """
    if not _same_spec(x, out) or not _is(other, neutral):
        return False
    return other.node.op == CONSTANT or _known(out.shape)


def _multiply(node: Node, rw: _Rewriter) -> Value | None:
    return _neutral_operand(node, 1, commutes=True)


def _divide(node: Node, rw: _Rewriter) -> Value | None:
    return _neutral_operand(node, 1, commutes=False)


def _add(node: Node, rw: _Rewriter) -> Value | None:
    # x + 0 is x except that -0.0 + 0.0 is +0.0: the rewrite keeps -0.0, which compares
    # equal to it (XLA's algebraic simplifier makes the same trade).
    return _neutral_operand(node, 0, commutes=True)


def _subtract(node: Node, rw: _Rewriter) -> Value | None:
    return _neutral_operand(node, 0, commutes=False)


def _negative(node: Node, rw: _Rewriter) -> Value | None:
    # -(-x) is x for floats (a sign flip twice) and for integers (two's complement wraps
    # the same way both times: -(-(-128)) == -128 in int8).
    inner = _producer(node.inputs[0], ("negative",))
    return inner.inputs[0] if inner is not None else None


# -- data movement ----------------------------------------------------------------------------


def _permutation(node: Node) -> tuple[int, ...]:
    ndim = len(node.inputs[0].shape)
    axes = node.attrs.get("axes")
    if axes is None:
        return tuple(range(ndim - 1, -1, -1))
    return tuple(int(a) % ndim for a in axes)


def _transpose(node: Node, rw: _Rewriter) -> Value | None:
    # transpose(transpose(x, p), q) is transpose(x, r) with r[k] = p[q[k]]: output axis k
    # is axis q[k] of the inner result, which is axis p[q[k]] of x. An identity
    # permutation is no transpose at all.
    perm, source = _permutation(node), node.inputs[0]
    inner = _producer(source, ("transpose",))
    if inner is not None:
        perm, source = tuple(_permutation(inner)[k] for k in perm), inner.inputs[0]
    if perm == tuple(range(len(perm))):
        return source if _same_spec(source, node.outputs[0]) else None
    if inner is None:
        return None
    return rw.make("transpose", [source], {"axes": perm}, node.outputs[0])


def _reshape(node: Node, rw: _Rewriter) -> Value | None:
    # reshape, squeeze and expand_dims only relabel the shape of the same row-major
    # elements: one of them to the input's own shape is the input, and a chain of them is
    # one reshape from the chain's source to the final shape.
    x, out = node.inputs[0], node.outputs[0]
    if _same_spec(x, out) and _known(out.shape):
        return x
    if not _known(out.shape):
        return None
    inner = _producer(x, RESHAPES)
    if inner is None:
        return _drop_kept_axes(node, rw)
    source = inner.inputs[0]
    if _same_spec(source, out):
        return source
    return rw.make("reshape", [source], {"shape": tuple(out.shape)}, out)


def _drop_kept_axes(node: Node, rw: _Rewriter) -> Value | None:
    # reshape(sum(x, axis, keepdims=True)) to the shape without the kept size-1 axes is
    # sum(x, axis): removing size-1 axes keeps the row-major order. Only when the reshape
    # is the reduction's one use, else the reduction would run twice.
    x = node.inputs[0]
    inner = _producer(x, REDUCTIONS)
    if inner is None or inner.attrs.get("keepdims") is not True or rw.uses.get(id(x)) != 1:
        return None
    return rw.make(inner.op, inner.inputs, {**inner.attrs, "keepdims": False}, node.outputs[0])


def _cast(node: Node, rw: _Rewriter) -> Value | None:
    x = node.inputs[0]
    return x if _same_spec(x, node.outputs[0]) else None  # a cast to x's own dtype


def _broadcast_to(node: Node, rw: _Rewriter) -> Value | None:
    # Broadcasting to x's own shape is x; broadcasting a broadcast is one broadcast (if x
    # broadcasts to s1 and s1 to s2, x broadcasts to s2 with the same elements).
    x, out = node.inputs[0], node.outputs[0]
    if _same_spec(x, out) and _known(out.shape):
        return x
    inner = _producer(x, ("broadcast_to",))
    if inner is None or not _known(out.shape):
        return None
    return rw.make("broadcast_to", [inner.inputs[0]], {"shape": tuple(out.shape)}, out)


def _reduction(node: Node, rw: _Rewriter) -> Value | None:
    # A reduction over axes of size 1 combines each element with nothing (the sum, mean,
    # product, max or min of one number is that number): it only drops the reduced axes
    # (a reshape), or nothing at all with keepdims or no axes.
    x, out = node.inputs[0], node.outputs[0]
    if x.dtype != out.dtype or not _known(x.shape):
        return None
    axes = normalize_axes(node.attrs.get("axis"), len(x.shape))
    if any(x.shape[a] != 1 for a in axes):
        return None
    if x.shape == out.shape:
        return x
    return rw.make("reshape", [x], {"shape": tuple(out.shape)}, out)


def _splat_constant(node: Node, rw: _Rewriter) -> Value | None:
    # ones_like(x), zeros_like(x) and full_like(x) depend on x's shape only: with a known,
    # small shape they are constants (the kernel makes them, so dtypes match exactly).
    x, out = node.inputs[0], node.outputs[0]
    if not _known(out.shape) or _nbytes(out) > MAX_SPLAT_CONSTANT_BYTES:
        return None
    spec = Spec(out.shape, out.dtype)
    dummy = np.zeros(x.shape, x.dtype)
    array = _context.compute(node.opdef, [dummy], node.attrs, spec)
    return rw.constant(np.array(array, order="C", copy=True))


def _getitem(node: Node, rw: _Rewriter) -> Value | None:
    # Step-1 slices that keep every axis's length take the whole axis: x[:, -3:] of a
    # (1, 3, 40) x is x itself (no copy).
    x, out = node.inputs[0], node.outputs[0]
    key = node.attrs["key"]
    if not (_same_spec(x, out) and _known(out.shape)):
        return None
    slices = all(isinstance(k, Slice) and k.step in (None, 1) for k in key)
    return x if slices else None


def _nbytes(value: Value) -> int:
    return math.prod(value.shape) * value.dtype.itemsize


RULES = {
    "multiply": _multiply,
    "divide": _divide,
    "add": _add,
    "subtract": _subtract,
    "negative": _negative,
    "transpose": _transpose,
    "cast": _cast,
    "broadcast_to": _broadcast_to,
    "getitem": _getitem,
    **{op: _reshape for op in RESHAPES},
    **{op: _reduction for op in REDUCTIONS},
    **{op: _splat_constant for op in ("ones_like", "zeros_like", "full_like")},
}
