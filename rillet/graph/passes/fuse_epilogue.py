"""Epilogue fusion: ``matmul``/``conv2d`` -> ``add`` of a bias -> ``relu`` becomes one node.

A Dense or Conv layer traces to a product, the add of its 1-D bias over the last axis and
its activation: two or three passes over the output, each a kernel call. This pass replaces
the chain by one ``fused_matmul`` / ``fused_conv2d`` node (``rillet.ops.epilogue``) when:

* the product's value is read only by the add, possibly through one ``reshape``,
  ``squeeze`` or ``expand_dims`` that keeps the last axis (Dense flattens a 3-D input; the
  view then moves after the fused node, as adding a bias over the last axis and relu
  commute with it, or, when it undoes a view that flattened the matmul's input to rows
  and nothing else reads that, both views go and the fused matmul takes the N-d input);
* the add's other operand is a vector over that last axis, of the same float32/float64
  dtype, and the add does not broadcast the product to a larger shape;
* a ``relu`` joins when it is the add's only reader (any other activation stays a node of
  its own and the fused node has no activation).

An intermediate that is a graph output or has another reader stops the fusion (the backward
pass reads the relu's output, which the fused node makes). The fused node takes the last
member's place; a chain with an assignment to a variable between its first and last member
is left alone (the product would read the variable after the assignment).

>>> import rillet as rl
>>> f = rl.function(lambda x, w, b: rl.relu(rl.matmul(x, w) + b), optimize=False)
>>> graph = f.get_graph(rl.ones((2, 3)), rl.ones((3, 4)), rl.ones(4))
>>> sorted(fuse_epilogue(graph).op_counts())
['fused_matmul', 'placeholder']
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ir import Graph, Node, Value

FUSED = {"matmul": "fused_matmul", "conv2d": "fused_conv2d"}
# Ops that give a value another shape without moving its elements.
_VIEWS = frozenset({"reshape", "squeeze", "expand_dims"})
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _Chain(NamedTuple):
    product: Node
    view: Node | None
    add: Node
    bias: Value
    relu: Node | None
    flatten: Node | None = None  # a view of the matmul's input that ``view`` undoes

    @property
    def last(self) -> Node:
        return self.relu or self.add


def fuse_epilogue(graph: Graph) -> Graph:
    """A copy of ``graph`` with each product -> bias add (-> relu) chain fused."""
    graph = graph.copy()
    chains = _find_chains(graph)
    if not chains:
        return graph
    original = list(graph.nodes)  # add_node appends the new nodes; they go at the chains' ends
    members = {id(n) for c in chains for n in c if isinstance(n, Node)}
    at_last: dict[int, list[Node]] = {}
    replaced: dict[int, Value] = {}
    for chain in chains:
        new_nodes = _fused_nodes(graph, chain)
        at_last[id(chain.last)] = new_nodes
        replaced[id(chain.last.outputs[0])] = new_nodes[-1].outputs[0]
    nodes = []
    for node in original:
        nodes.extend(at_last.get(id(node), []) if id(node) in members else [node])
    graph.nodes = nodes
    _repoint(graph, replaced)
    return graph


# --- finding chains -----------------------------------------------------------------------


def _find_chains(graph: Graph) -> list[_Chain]:
    users = graph.consumers()
    outputs = {id(v) for v in graph.outputs}
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    assignments = [i for i, n in enumerate(graph.nodes) if n.written_variables]
    chains, taken = [], set()
    for node in graph.nodes:
        chain = _match(node, users, outputs)
        if chain is None:
            continue
        members = {id(n) for n in chain if isinstance(n, Node)}
        first = position[id(chain.flatten or chain.product)]
        last = position[id(chain.last)]
        if not members & taken and not any(first < i < last for i in assignments):
            chains.append(chain)  # (two products may meet at one add: the first takes it)
            taken |= members
    return chains


def _match(node: Node, users: dict, outputs: set) -> _Chain | None:
    if node.op not in FUSED or not _fusable_product(node):
        return None
    value, view = node.outputs[0], None
    reader = _only_reader(value, users, outputs)
    if reader is not None and reader.op in _VIEWS and _keeps_last_axis(value, reader):
        view, value = reader, reader.outputs[0]
        reader = _only_reader(value, users, outputs)
    bias = _bias(reader, value)
    if bias is None:
        return None
    relu = _only_reader(reader.outputs[0], users, outputs)
    relu = relu if relu is not None and relu.op == "relu" and not relu.attrs else None
    flatten = _flatten(node, view, users, outputs)
    return _Chain(node, view, reader, bias, relu, flatten)


def _flatten(product: Node, view: Node | None, users: dict, outputs: set) -> Node | None:
    """The view that flattens a matmul's input to rows when ``view`` restores those rows
    (Dense on an N-d input): the fused matmul takes the N-d input itself, neither view runs."""
    x = product.inputs[0]
    if view is None or product.op != "matmul" or x.node.op not in _VIEWS:
        return None
    source, result = x.node.inputs[0], view.outputs[0].shape
    if not source.shape or None in source.shape or None in result:
        return None
    if _only_reader(x, users, outputs) is None:
        return None
    same = source.shape[:-1] == result[:-1] and source.shape[-1] == x.shape[-1]
    return x.node if same else None


def _fusable_product(node: Node) -> bool:
    """One float32/float64 output from inputs of its dtype; a matmul by a matrix."""
    value = node.outputs[0]
    if len(node.outputs) != 1 or value.dtype not in _FLOATS or not value.shape:
        return False
    if any(v is None or v.dtype != value.dtype for v in node.inputs):
        return False
    if node.op == "matmul":
        return node.inputs[1].ndim == 2 and node.inputs[0].ndim >= 1 and not node.attrs
    return True


def _only_reader(value: Value, users: dict, outputs: set) -> Node | None:
    """The node that reads ``value``, when it is read exactly once and is not an output."""
    readers = users.get(id(value), [])
    return readers[0] if len(readers) == 1 and id(value) not in outputs else None


def _keeps_last_axis(value: Value, view: Node) -> bool:
    result = view.outputs[0]
    size = value.shape[-1]
    return size is not None and len(result.shape) >= 1 and result.shape[-1] == size


def _bias(add: Node | None, value: Value) -> Value | None:
    """The vector ``add`` adds to ``value`` over its last axis, or None."""
    if add is None or add.op != "add" or add.attrs:
        return None
    a, b = add.inputs
    bias = b if a is value else a
    result = add.outputs[0]
    size = value.shape[-1]
    if bias is value or bias is None or len(bias.shape) != 1 or bias.dtype != value.dtype:
        return None
    if size is None or bias.shape[0] != size:
        return None
    return bias if (result.shape, result.dtype) == (value.shape, value.dtype) else None


# --- rewriting ----------------------------------------------------------------------------


def _fused_nodes(graph: Graph, chain: _Chain) -> list[Node]:
    """The fused node (and the moved view after it), appended to ``graph.nodes``."""
    product, flatten = chain.product, chain.flatten
    attrs = {**product.attrs, "activation": "relu" if chain.relu else None}
    inputs = [*product.inputs, chain.bias]
    spec = product.outputs[0].spec
    if flatten is not None:
        inputs[0], spec = flatten.inputs[0], chain.last.outputs[0].spec
    fused = graph.add_node(FUSED[product.op], inputs, attrs, [spec])
    fused.name = f"{chain.last.name}_fused"
    if chain.view is None or flatten is not None:
        return [fused]
    view = chain.view
    moved = graph.add_node(view.op, [fused.outputs[0]], view.attrs, [chain.last.outputs[0].spec])
    moved.name = f"{view.name}_moved"
    return [fused, moved]


def _repoint(graph: Graph, replaced: dict[int, Value]) -> None:
    """Make every reader of a replaced value read its replacement."""
    for node in graph.nodes:
        node.inputs = [replaced.get(id(v), v) if v is not None else None for v in node.inputs]
    graph.outputs = [replaced.get(id(v), v) for v in graph.outputs]
