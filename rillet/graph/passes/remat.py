"""Rematerialization: recompute activations late instead of keeping them alive.

A training step's graph computes activations in the forward pass and reads them again in
the backward pass, so they are all alive at once at the turn. ``rematerialize`` lowers the
planned peak (:func:`~rillet.graph.passes.memory_plan.planned_peak_bytes`) below a budget:
at the step of the peak it picks a value alive there but not read there, duplicates the
node that computes it (and, where their inputs died too, the nodes before it) right before
its first later reader, and points the later readers at the copy. The value then dies
after its early readers. Choices go greedily by bytes saved at the peak per unit of
recompute cost, and each is kept only if it lowers the bytes over budget summed over all
steps, so the search always ends.

Never duplicated: placeholders, constants, stateful nodes (variable reads and writes) and
random draws. A copy reads a variable's value only where no assignment to that variable
lies between the read and the copy, so it sees what the original saw.

>>> import rillet as rl
>>> from rillet.graph.passes.memory_plan import planned_peak_bytes
>>> def f(x):
...     a = rl.exp(x)                      # alive until the last line
...     b = rl.sum(rl.tanh(x) * 2.0)
...     return rl.sum(a) + b * rl.sum(rl.sin(x)), a * 3.0
>>> graph = rl.function(f, optimize=False).get_graph(rl.ones(1000))
>>> planned_peak_bytes(graph), planned_peak_bytes(rematerialize(graph, 12_100))
(16008, 12012)
"""

from __future__ import annotations

import bisect
import math

from ...errors import ArgumentError, MemoryBudgetError
from ..ir import SPECIAL, Graph, Node, Value
from .cse import is_pure
from .memory_plan import liveness, nbytes, planned_peak_bytes

# Ops whose cost grows with the product of their inputs' sizes (contractions), not the sum.
_CONTRACTIONS = ("matmul", "einsum", "tensordot", "conv")
MAX_CHAIN = 8  # nodes duplicated for one rematerialized value, at most
_STEPS_TRIED = 4  # over-budget steps searched for a move, worst first
_MOVES_TRIED = 64  # moves tried at one step, best score first


def rematerialize(graph: Graph, budget_bytes: int) -> Graph:
    """A copy of ``graph`` whose planned peak is at most ``budget_bytes``, recomputing
    values late where needed; or a :class:`MemoryBudgetError` naming the budget, the best
    peak reached and the smallest peak possible."""
    budget = _check_budget(budget_bytes)
    graph = graph.copy()
    first = planned_peak_bytes(graph)
    if first <= budget:
        return graph
    floor = minimum_peak_bytes(graph)
    while planned_peak_bytes(graph) > budget and _improve(graph, budget):
        pass
    best = planned_peak_bytes(graph)
    if best > budget:
        raise MemoryBudgetError(_message(graph, budget, first, best, floor))
    return graph


def minimum_peak_bytes(graph: Graph) -> int:
    """A lower bound on the peak of any rematerialized plan: at each step, the node's own
    inputs and outputs, the values that cannot be recomputed while they are alive, and the
    graph outputs made so far."""
    spans = liveness(graph)
    fixed = [v for n in graph.nodes if not _recomputable(n) for v in n.outputs]
    fixed += graph.outputs
    peak = 0
    for i, node in enumerate(graph.nodes):
        needed = {id(v): v for v in node.outputs}
        needed.update((id(v), v) for v in node.inputs if v is not None)
        needed.update((id(v), v) for v in fixed if spans[id(v)][0] <= i <= spans[id(v)][1])
        peak = max(peak, sum(nbytes(v) for v in needed.values()))
    return peak


def _check_budget(budget_bytes) -> int:
    if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, (int, float)):
        raise ArgumentError(f"memory_budget must be a number of bytes, got {budget_bytes!r}")
    if not budget_bytes > 0 or math.isinf(budget_bytes):
        raise ArgumentError(f"memory_budget must be a positive number of bytes, got {budget_bytes}")
    return int(budget_bytes)


def _message(graph: Graph, budget: int, first: int, best: int, floor: int) -> str:
    return (
        f"memory_budget={budget:,} bytes cannot be met by graph {graph.name}: its planned peak "
        f"is {first:,} bytes, the best rematerialization reached {best:,} bytes, and no plan "
        f"can go below {floor:,} bytes (the values that cannot be recomputed and the largest "
        "step's own inputs and outputs)"
    )


def _recomputable(node: Node) -> bool:
    """Pure op nodes, except control flow (it holds sub-graphs: never duplicated)."""
    return (
        node.op not in SPECIAL
        and is_pure(node)
        and not any(isinstance(a, Graph) for a in node.attrs.values())
    )


# --- one step of the search ---------------------------------------------------------------


def _improve(graph: Graph, budget: int) -> bool:
    """Apply one move that lowers the bytes over budget; False when none does."""
    state = _State(graph)
    excess = state.excess(budget)
    for step in state.worst_steps(budget)[:_STEPS_TRIED]:
        for move in sorted(state.moves_at(step), key=lambda m: -m.score)[:_MOVES_TRIED]:
            undo = move.apply(graph)
            if _State(graph).excess(budget) < excess:
                return True
            undo()
    return False


class _State:
    """Positions, lifetimes, readers and live bytes of a graph's values, for one step."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.position = {id(n): i for i, n in enumerate(graph.nodes)}
        self.spans = liveness(graph)
        self.outputs = {id(v) for v in graph.outputs}
        self.readers: dict[int, list[int]] = {}
        self.assignments: dict[int, list[int]] = {}
        for i, node in enumerate(graph.nodes):
            for v in {id(v) for v in node.inputs if v is not None}:
                self.readers.setdefault(v, []).append(i)
            for variable in node.written_variables:
                self.assignments.setdefault(id(variable), []).append(i)
        self.live = self._profile()

    def _profile(self) -> list[int]:
        delta = [0] * (len(self.graph.nodes) + 2)
        for node in self.graph.nodes:
            for v in node.outputs:
                start, stop = self.spans[id(v)]
                delta[start] += nbytes(v)
                delta[stop + 1] -= nbytes(v)
        live, total = [], 0
        for change in delta[: len(self.graph.nodes) + 1]:
            total += change
            live.append(total)
        return live

    def excess(self, budget: int) -> int:
        return sum(b - budget for b in self.live if b > budget)

    def worst_steps(self, budget: int) -> list[int]:
        over = [t for t, b in enumerate(self.live) if b > budget]
        return sorted(over, key=lambda t: -self.live[t])

    def moves_at(self, t: int) -> list[_Move]:
        """Ways to free a value alive at step ``t`` but not read there."""
        moves = []
        for node in self.graph.nodes[:t]:
            if not _recomputable(node):
                continue
            for value in node.outputs:
                move = self._move(value, t)
                if move is not None:
                    moves.append(move)
        return moves

    def _move(self, value: Value, t: int) -> _Move | None:
        start, stop = self.spans[id(value)]
        readers = self.readers.get(id(value), [])
        if stop <= t or id(value) in self.outputs or t in readers:
            return None
        late = readers[bisect.bisect_right(readers, t)]
        chain = _Chain(self, late, t)
        if not chain.need(value):
            return None
        saved = nbytes(value) - sum(nbytes(w) for w in chain.extended if self.spans[id(w)][1] < t)
        if saved <= 0:
            return None
        return _Move(value, late, chain.clones, saved / max(1, chain.cost))

    def read_is_stable(self, value: Value, until: int) -> bool:
        """Whether ``value`` may stay alive until step ``until``: a value of a stateful node
        only while no assignment to its variable comes in between."""
        node = value.node
        if not node.stateful:
            return True
        variable = node.attrs.get("variable")
        if variable is None:
            return False
        here = self.position[id(node)]
        return not any(here < a < until for a in self.assignments.get(id(variable), ()))


class _Chain:
    """The nodes to duplicate before step ``at`` so a value can be recomputed there: its
    producer, and the producers of inputs that are dead by then (recursively), while the
    inputs alive past ``t`` (or not recomputable) are kept alive instead."""

    def __init__(self, state: _State, at: int, t: int):
        self.state, self.at, self.t = state, at, t
        self.clones: list[Node] = []
        self.made: set[int] = set()
        self.extended: list[Value] = []
        self.cost = 0

    def need(self, value: Value, first: bool = True) -> bool:
        """Make ``value`` available at ``self.at``; False if that is not allowed."""
        if id(value) in self.made:
            return True
        stop = self.state.spans[id(value)][1]
        if not first and stop >= self.at:
            return True  # alive there anyway
        node = value.node
        if first or (stop < self.t and _recomputable(node) and len(self.clones) < MAX_CHAIN):
            return self._duplicate(node)
        if not self.state.read_is_stable(value, self.at):
            return False
        self.extended.append(value)
        return True

    def _duplicate(self, node: Node) -> bool:
        for value in node.inputs:
            if value is not None and not self.need(value, first=False):
                return False
        self.clones.append(node)
        self.made.update(id(v) for v in node.outputs)
        self.cost += _cost(node)
        return True


class _Move:
    """Recompute ``value`` before step ``at`` by duplicating ``clones`` (in order)."""

    def __init__(self, value: Value, at: int, clones: list[Node], score: float):
        self.value, self.at, self.clones, self.score = value, at, clones, score

    def apply(self, graph: Graph):
        """Insert the copies, point the late readers at them; returns an undo function."""
        nodes, copies = list(graph.nodes), {}
        names = {n.name for n in nodes}
        inserted = []
        for node in self.clones:
            inputs = [None if v is None else copies.get(id(v), v) for v in node.inputs]
            copy = graph.add_node(node.op, inputs, node.attrs, [v.spec for v in node.outputs])
            copy.name = _unique(f"{node.name}_remat", names)
            copies.update((id(old), new) for old, new in zip(node.outputs, copy.outputs))
            inserted.append(copy)
        replacement = copies[id(self.value)]
        changed = [
            (n, n.inputs) for n in nodes[self.at :] if any(v is self.value for v in n.inputs)
        ]
        for node, inputs in changed:
            node.inputs = [replacement if v is self.value else v for v in inputs]
        graph.nodes = nodes[: self.at] + inserted + nodes[self.at :]

        def undo():
            graph.nodes = nodes
            for node, inputs in changed:
                node.inputs = inputs

        return undo


def _unique(name: str, names: set) -> str:
    candidate, k = name, 1
    while candidate in names:
        k += 1
        candidate = f"{name}{k}"
    names.add(candidate)
    return candidate


def _size(value: Value | None) -> int:
    return 0 if value is None else math.prod(1 if s is None else s for s in value.shape)


def _cost(node: Node) -> float:
    """Rough work of running ``node`` again: elements touched, or multiply-adds for the
    contractions (about sqrt(|a| |b| |out|) for a matmul's M N K)."""
    sizes = [_size(v) for v in node.inputs if v is not None]
    out = sum(_size(v) for v in node.outputs)
    if node.op.startswith(_CONTRACTIONS) and len(sizes) >= 2:
        return 2.0 * math.sqrt(float(sizes[0]) * sizes[1] * max(out, 1))
    return float(sum(sizes) + out)
