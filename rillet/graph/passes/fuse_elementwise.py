"""Elementwise fusion: a tree of elementwise nodes becomes one ``fused_elementwise`` node.

A group grows from a root node (any elementwise node) up through the producers of its
inputs, absorbing a producer when it is elementwise and its value is read by that one group
member only and is not a graph output: such intermediates exist only inside the group, so
one kernel call can compute the root's value without materializing them. The group's
program (``rillet.ops.fused``) lists the members in program order, and the fused node takes
the root's place. Stateful nodes are never members and keep their order; a member is not
moved down past an assignment to a variable it reads. Float16 and bfloat16 groups compute
in float32 throughout and round once at the end (unfused, each op rounds its result).

>>> import rillet as rl
>>> from rillet.graph.passes.fuse_elementwise import fuse_elementwise
>>> f = rl.function(lambda x, b: rl.relu(x * 2.0 + b), optimize=False)
>>> graph = f.get_graph(rl.ones((2, 3)), rl.ones(3))
>>> fuse_elementwise(graph).op_counts()["fused_elementwise"]
1
"""

from __future__ import annotations

from ...ops.fused import ELEMENTWISE
from ..ir import Graph, Node, Value

_ATTR_TYPES = (bool, int, float, str, type(None))


def fuse_elementwise(graph: Graph) -> Graph:
    """A copy of ``graph`` with each group of two or more elementwise nodes fused."""
    graph = graph.copy()
    groups = _find_groups(graph)
    if not groups:
        return graph
    original = list(graph.nodes)  # add_node appends the fused nodes; they go at their roots
    names = {n.name for n in original}
    replaced: dict[int, Value] = {}
    fused_at: dict[int, Node] = {}
    members: set[int] = set()
    for group in groups:
        root, node = group[-1], _fused_node(graph, group)
        node.name = _unique(node.name, names)
        replaced[id(root.outputs[0])] = node.outputs[0]
        fused_at[id(root)] = node
        members.update(id(m) for m in group)
    graph.nodes = [
        fused_at.get(id(n), n) for n in original if id(n) in fused_at or id(n) not in members
    ]
    _repoint(graph, replaced)
    return graph


# --- finding groups -----------------------------------------------------------------------


def _fusable(node: Node) -> bool:
    return (
        node.op in ELEMENTWISE
        and len(node.outputs) == 1
        and all(isinstance(v, _ATTR_TYPES) for v in node.attrs.values())
    )


def _find_groups(graph: Graph) -> list[list[Node]]:
    """Groups (members in program order, root last) of two or more nodes, found from the
    last node back so that each node joins the group of its latest possible consumer."""
    users = graph.consumers()
    outputs = {id(v) for v in graph.outputs}
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    assignments = _assignment_positions(graph)
    taken: set[int] = set()
    groups = []
    for root in reversed(graph.nodes):
        if id(root) in taken or not _fusable(root):
            continue
        group = _grow(root, users, outputs, position, assignments, taken)
        if len(group) > 1:
            groups.append(sorted(group, key=lambda n: position[id(n)]))
    return groups


def _grow(root, users, outputs, position, assignments, taken) -> list[Node]:
    group, stack = [root], [root]
    taken.add(id(root))
    while stack:
        member = stack.pop()
        for value in member.inputs:
            producer = None if value is None else value.node
            if producer is None or id(producer) in taken or not _fusable(producer):
                continue
            if id(value) in outputs or any(u is not member for u in users[id(value)]):
                continue  # the value is needed outside the group
            if _reads_across_assignment(producer, position[id(root)], position, assignments):
                continue
            taken.add(id(producer))
            group.append(producer)
            stack.append(producer)
    return group


def _assignment_positions(graph: Graph) -> dict[int, list[int]]:
    """For each variable (by ``id``), the positions of the nodes that assign it."""
    found: dict[int, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        for variable in node.written_variables:
            found.setdefault(id(variable), []).append(i)
    return found


def _reads_across_assignment(producer: Node, root_at: int, position, assignments) -> bool:
    """Whether moving ``producer`` down to ``root_at`` would keep one of its variable reads
    alive across an assignment of that variable (the fused node must see what it saw)."""
    here = position[id(producer)]
    for value in producer.inputs:
        if value is not None and value.node.op == "read_variable":
            writes = assignments.get(id(value.node.attrs["variable"]), ())
            if any(here < w < root_at for w in writes):
                return True
    return False


# --- building the fused node --------------------------------------------------------------


def _fused_node(graph: Graph, group: list[Node]) -> Node:
    """The ``fused_elementwise`` node computing the group's root (the last member)."""
    inside = {id(m.outputs[0]): k for k, m in enumerate(group)}
    external: dict[int, int] = {}
    inputs: list[Value] = []
    for member in group:
        for value in member.inputs:
            if value is not None and id(value) not in inside and id(value) not in external:
                external[id(value)] = len(inputs)
                inputs.append(value)

    def register(value):
        if value is None:
            return None
        k = inside.get(id(value))
        return external[id(value)] if k is None else len(inputs) + k

    program = tuple(
        (m.op, tuple(register(v) for v in m.inputs), tuple(m.attrs.items())) for m in group
    )
    root = group[-1].outputs[0]
    return graph.add_node("fused_elementwise", inputs, {"program": program}, [root.spec])


def _unique(name: str, names: set) -> str:
    """``name``, or a variant of it, not yet in ``names`` (a copied graph's name counter may
    repeat a name an earlier pass gave)."""
    candidate, k = name, 1
    while candidate in names:
        k += 1
        candidate = f"{name}_{k}"
    names.add(candidate)
    return candidate


def _repoint(graph: Graph, replaced: dict[int, Value]) -> None:
    """Make every reader of a replaced value read its replacement."""
    for node in graph.nodes:
        node.inputs = [replaced.get(id(v), v) if v is not None else None for v in node.inputs]
    graph.outputs = [replaced.get(id(v), v) for v in graph.outputs]
