"""Early updates: run each variable update as soon as what it needs is ready.

A training step traces as forward, backward, then the optimizer: every gradient is made
before the first update, so all of them are alive at once. Moving each update (an
``assign_variable`` or a fused ``apply_adam``) up to just after its gradient and the last
read of the variable it writes lets the gradient die there, so the backward pass holds
about one gradient at a time (PyTorch's "optimizer step in backward", done by the compiler):

>>> import rillet as rl
>>> w1, w2 = rl.Variable(rl.ones((64, 64))), rl.Variable(rl.ones((64, 64)))
>>> def step(x):
...     with rl.GradientTape() as tape:
...         loss = rl.sum(rl.tanh(x @ w1) @ w2)
...     for w, g in zip((w1, w2), tape.gradient(loss, [w1, w2])):
...         w.assign_sub(0.01 * g)
>>> graph = rl.function(step).get_graph(rl.ones((8, 64)))
>>> [n.op for n in graph.nodes if n.op in ("matmul", "assign_variable")]  # w2's first
['matmul', 'matmul', 'matmul', 'matmul', 'assign_variable', 'matmul', 'assign_variable']

An update moves up only past nodes it does not depend on and that do not depend on it,
where, besides data flow, a node depends on:

- every earlier node touching one of the same variables, when either of them writes it
  (reads of one variable may change places; a stateful node whose variables are unknown
  keeps its place against every stateful node);
- every earlier node reading the buffer of a variable it writes: a variable read returns the
  variable's own array, and ops such as ``transpose`` return views of their input, so the
  update waits for the last reader of any of those (measured views, as the memory planner).

Nodes an update needs move up with it, placed just before it, when they are small (a scalar
step size, a variable read) or elementwise and read only by moving nodes (a gradient's
scaling); every other node keeps its place. The new order is kept only when it lowers the
graph's planned peak of live bytes.
"""

from __future__ import annotations

from ...ops.fused import ELEMENTWISE
from ..ir import CONSTANT, PLACEHOLDER, Graph, Node
from .memory_plan import kernel_traits, nbytes, planned_peak_bytes, view_sources

SMALL = 256  # bytes: a node with outputs this small may move up with an update


def schedule_updates(graph: Graph, traits=kernel_traits) -> Graph:
    """Reorder ``graph`` (in place) so that updates run early, when that lowers its peak."""
    nodes = graph.nodes
    if not any(node.written_variables for node in nodes):
        return graph
    order = _early_order(graph, dependencies(graph, traits))
    if order == list(range(len(nodes))):
        return graph
    before = planned_peak_bytes(graph)
    graph.nodes = [nodes[i] for i in order]
    if planned_peak_bytes(graph) >= before:
        graph.nodes = nodes
    return graph


def dependencies(graph: Graph, traits=kernel_traits) -> list[set[int]]:
    """For each node (by position), the positions of the nodes it must come after."""
    nodes = graph.nodes
    made_by = {id(v): i for i, node in enumerate(nodes) for v in node.outputs}
    after: list[set[int]] = []
    sharing: dict[int, set[int]] = {}  # value id -> ids of the variables whose buffer it may be
    readers: dict[int, set[int]] = {}  # variable id -> positions reading its buffer
    touched: dict[int, tuple[set[int], set[int]]] = {}  # variable id -> (reads, writes) so far
    unknown: list[int] = []  # stateful nodes whose variables are not known
    stateful: list[int] = []
    for i, node in enumerate(nodes):
        needs = {made_by[id(v)] for v in node.inputs if v is not None}
        shared = set().union(*(sharing.get(id(v), set()) for v in node.inputs if v is not None))
        for variable in shared:
            readers.setdefault(variable, set()).add(i)
        if node.stateful:
            needs |= _effect_order(node, i, touched, unknown, stateful)
            for variable in node.written_variables:
                needs |= readers.pop(id(variable), set()) - {i}
        after.append(needs)
        own = {id(node.attrs["variable"])} if node.op == "read_variable" else set()
        own |= {id(v) for v in node.written_variables}
        if shared:  # only a node reading a variable's buffer can pass it on, as a view
            for source in view_sources(node, traits):
                own |= sharing.get(id(source), set())
        if own:
            for value in node.outputs:
                sharing[id(value)] = own
    return after


def _effect_order(node: Node, i: int, touched: dict, unknown: list, stateful: list) -> set[int]:
    """The earlier stateful nodes that ``node`` (at ``i``) must stay after; records it."""
    writes = {id(v) for v in node.written_variables}
    reads = {id(v) for v in node.variables} - writes
    needs = set(unknown)
    if not reads and not writes:  # effects unknown: after every earlier stateful node
        needs |= set(stateful)
        unknown.append(i)
    for key in reads:
        needs |= touched.get(key, (set(), set()))[1]
    for key in writes:
        earlier_reads, earlier_writes = touched.get(key, (set(), set()))
        needs |= earlier_reads | earlier_writes
    for key in reads | writes:
        entry = touched.setdefault(key, (set(), set()))
        entry[1 if key in writes else 0].add(i)
    stateful.append(i)
    return needs


def _early_order(graph: Graph, after: list[set[int]]) -> list[int]:
    """Positions in the new order: every update right after the last other node it depends
    on, the small nodes it needs just before it (where they were, if that is earlier), every
    other node where it was."""
    nodes = graph.nodes
    moving = _moving(graph, after)
    gate: dict[int, int] = {}  # moving position -> the staying position it may follow (-1: any)
    natural, last_staying = {}, -1
    for i in range(len(nodes)):
        if i not in moving:
            last_staying = i
            continue
        natural[i] = last_staying
        gate[i] = max((gate[d] if d in moving else d for d in after[i]), default=-1)
    slot: dict[int, int] = {}  # moving position -> the staying position it follows
    for i in sorted(moving, reverse=True):
        if nodes[i].written_variables:
            slot[i] = gate[i]
        for d in after[i]:
            if d in moving and not nodes[d].written_variables:
                slot[d] = min(slot.get(d, natural[d]), slot[i])
    lead = -1  # the graph's inputs stay first
    while lead + 1 < len(nodes) and nodes[lead + 1].op == PLACEHOLDER:
        lead += 1
    following: dict[int, list[int]] = {}
    for i in sorted(moving):
        following.setdefault(max(lead, slot.get(i, natural[i])), []).append(i)
    order: list[int] = _updates_first(following.get(-1, []), nodes, after)
    for i in range(len(nodes)):
        if i not in moving:
            order.append(i)
            order.extend(_updates_first(following.get(i, []), nodes, after))
    return order


def _updates_first(group: list[int], nodes: list[Node], after: list[set[int]]) -> list[int]:
    """The nodes placed at one spot: each update as soon as what it needs of them is done,
    the others after, in their order."""
    members, done, order = set(group), set(), []
    for w in group:
        if not nodes[w].written_variables or w in done:
            continue
        needed, stack = {w}, [w]
        while stack:
            for d in after[stack.pop()]:
                if d in members and d not in done and d not in needed:
                    needed.add(d)
                    stack.append(d)
        order.extend(sorted(needed))  # the traced order is an order of dependencies
        done |= needed
    return order + [i for i in group if i not in done]


def _moving(graph: Graph, after: list[set[int]]) -> set[int]:
    """The nodes that move: the updates, and the nodes an update needs that are small, or
    elementwise with only moving readers (a gradient's scaling: ``w.assign_sub(lr * g)``)."""
    nodes = graph.nodes
    returned = {id(v) for v in graph.outputs}
    dependents: list[list[int]] = [[] for _ in nodes]
    for i, needs in enumerate(after):
        for d in needs:
            dependents[d].append(i)
    moving: set[int] = set()
    for i in reversed(range(len(nodes))):
        node = nodes[i]
        if node.written_variables:
            moving.add(i)
            continue
        if node.op == PLACEHOLDER or any(id(v) in returned for v in node.outputs):
            continue
        if not any(j in moving for j in dependents[i]):
            continue
        readers = [j for j in dependents[i] if _reads(nodes[j], node)]
        if _small(node) or (node.op in ELEMENTWISE and all(j in moving for j in readers)):
            moving.add(i)
    return moving


def _reads(node: Node, producer: Node) -> bool:
    return any(v is not None and v.node is producer for v in node.inputs)


def _small(node: Node) -> bool:
    """A node allocating (almost) nothing: a constant, a variable read, or tiny outputs."""
    if node.op in (CONSTANT, "read_variable"):
        return True
    return sum(nbytes(v) for v in node.outputs) <= SMALL
