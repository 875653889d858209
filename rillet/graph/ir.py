"""The graph IR: nodes of registered ops, joined by values with static shapes and dtypes.

A :class:`Graph` holds its nodes in a topological order that is also program order: a node
that reads or writes a variable stays after the nodes that came before it in the traced
program, which keeps side effects ordered. Three kinds of node are not ops of the registry:

* ``placeholder``: an input of the graph (``attrs["index"]`` is its position);
* ``constant``: a value captured at trace time (``attrs["value"]``, a NumPy array);
* every other node names a registered op (``rillet.ops.REGISTRY``), including the stateful
  ``read_variable`` and ``assign_variable`` whose ``variable`` attribute is the variable.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..ops._registry import REGISTRY, Spec
from ..ops._rules import fmt

PLACEHOLDER = "placeholder"
CONSTANT = "constant"
SPECIAL = (PLACEHOLDER, CONSTANT)


class Value:
    """One output of a node: an edge of the graph, with a static shape and dtype."""

    __slots__ = ("node", "index", "shape", "dtype")

    def __init__(self, node: Node, index: int, shape: tuple, dtype: np.dtype):
        self.node, self.index, self.shape, self.dtype = node, index, tuple(shape), dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def spec(self) -> Spec:
        return Spec(self.shape, self.dtype)

    @property
    def name(self) -> str:
        return self.node.name if len(self.node.outputs) == 1 else f"{self.node.name}:{self.index}"

    def __repr__(self) -> str:
        return f"%{self.name}: {self.dtype.name}{fmt(self.shape)}"


class Node:
    """An op applied to values. ``inputs`` may hold ``None`` for an absent optional input."""

    __slots__ = ("op", "inputs", "attrs", "outputs", "name")

    def __init__(self, op: str, inputs: list, attrs: dict, specs: list, name: str):
        self.op, self.inputs, self.attrs, self.name = op, list(inputs), dict(attrs), name
        self.outputs = [Value(self, i, s.shape, s.dtype) for i, s in enumerate(specs)]

    @property
    def opdef(self):
        return REGISTRY[self.op]

    @property
    def stateful(self) -> bool:
        """Reads or writes state: never pruned, merged, folded or reordered."""
        return self.op not in SPECIAL and self.opdef.stateful

    @property
    def written_variables(self) -> list:
        """The variables this node updates (``assign_variable``, fused optimizer updates)."""
        if self.op in SPECIAL:
            return []
        return [self.attrs[name] for name in self.opdef.writes]

    @property
    def variables(self) -> list:
        """The variables this stateful node reads or writes: its ``variable`` attribute and
        those it updates, first seen first (none for a node that is not stateful)."""
        if not self.stateful:
            return []
        candidates = [self.attrs.get("variable"), *self.written_variables]
        return list({id(v): v for v in candidates if v is not None}.values())

    def __repr__(self) -> str:
        return f"<Node {self.name} = {self.op}>"


def fresh_name(names: set[str], op: str) -> str:
    """A node name ``{op}_{k}`` not in ``names`` (the graph's node names, which it joins): for
    passes that make nodes in a copied graph, whose name counter may repeat a name."""
    index = len(names)
    while f"{op}_{index}" in names:
        index += 1
    names.add(f"{op}_{index}")
    return f"{op}_{index}"


class Graph:
    """A dataflow graph with inputs (placeholders), nodes in program order and outputs.

    ``variables`` lists the variables the graph reads or writes, in first-use order.
    ``output_structure`` rebuilds the traced function's (possibly nested) return value
    from the flat ``outputs``.
    """

    def __init__(self, name: str = "graph"):
        self.name = name
        self.nodes: list[Node] = []
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.output_structure = None
        self._names = itertools.count()

    # -- building ---------------------------------------------------------------------------

    def add_node(self, op: str, inputs: list, attrs: dict, specs: list) -> Node:
        node = Node(op, inputs, attrs, specs, f"{op}_{next(self._names)}")
        self.nodes.append(node)
        return node

    def add_placeholder(self, shape: tuple, dtype) -> Value:
        attrs = {"index": len(self.inputs)}
        value = self.add_node(PLACEHOLDER, [], attrs, [Spec(tuple(shape), np.dtype(dtype))])
        self.inputs.append(value.outputs[0])
        return value.outputs[0]

    def add_constant(self, array: np.ndarray) -> Value:
        return self.add_node(
            CONSTANT, [], {"value": array}, [Spec(array.shape, array.dtype)]
        ).outputs[0]

    @property
    def variables(self) -> list:
        seen: dict[int, object] = {}
        for node in self.nodes:
            for variable in node.variables:
                seen.setdefault(id(variable), variable)
        return list(seen.values())

    # -- reading ----------------------------------------------------------------------------

    def consumers(self) -> dict[int, list[Node]]:
        """For each value (by ``id``), the nodes that read it."""
        users: dict[int, list[Node]] = {}
        for node in self.nodes:
            for value in node.inputs:
                if value is not None:
                    users.setdefault(id(value), []).append(node)
        return users

    def use_counts(self) -> dict[int, int]:
        """How many times each value (by ``id``) is read by a node or returned by the graph."""
        uses: dict[int, int] = {}
        for value in [v for n in self.nodes for v in n.inputs] + list(self.outputs):
            if value is not None:
                uses[id(value)] = uses.get(id(value), 0) + 1
        return uses

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.op] = counts.get(node.op, 0) + 1
        return counts

    def copy(self) -> Graph:
        """A structural copy: new nodes and values, the same attributes and constants."""
        clone = Graph(self.name)
        mapping: dict[int, Value] = {}
        for node in self.nodes:
            inputs = [None if v is None else mapping[id(v)] for v in node.inputs]
            new = clone.add_node(node.op, inputs, node.attrs, [v.spec for v in node.outputs])
            new.name = node.name
            for old, fresh in zip(node.outputs, new.outputs):
                mapping[id(old)] = fresh
        clone.inputs = [mapping[id(v)] for v in self.inputs]
        clone.outputs = [mapping[id(v)] for v in self.outputs]
        clone.output_structure = self.output_structure
        # Both graphs continue one numbering, so names made later in either never collide.
        start = next(self._names)
        self._names, clone._names = itertools.count(start), itertools.count(start)
        return clone

    def run(self, *inputs):
        """Run the graph on ``inputs`` (arrays or tensors) with the interpreter."""
        from .executors.interpreter import Interpreter

        return Interpreter(self)(*inputs)

    def __str__(self) -> str:
        from .serialize import to_text

        return to_text(self)

    def to_dot(self) -> str:
        from .serialize import to_dot

        return to_dot(self)

    def to_json(self) -> dict:
        from .serialize import to_json

        return to_json(self)

    def __repr__(self) -> str:
        return (
            f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes, "
            f"{len(self.outputs)} outputs>"
        )
