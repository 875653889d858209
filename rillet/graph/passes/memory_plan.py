"""Memory planning: liveness of every value, buffer reuse, in-place updates and peak bytes.

A value is live from the step that makes it until the last step that reads it (graph
outputs stay live to the end; placeholders and constants are live from the start, as they
are held by the caller).

:func:`plan_memory` places the values that a kernel can write into a given ``out=`` array
in one arena, where values never busy at the same time share bytes and an elementwise op
may write over its dying input, so that a compiled graph allocates nothing for them:

>>> import rillet as rl
>>> f = rl.function(lambda x: rl.tanh(rl.exp(x) * 2.0) + 1.0, optimize=False)
>>> plan = plan_memory(f.get_graph(rl.ones((256,))))
>>> plan.arena_bytes, len(plan.in_place)  # exp(x) * 2.0 and the tanh run in exp's block
(1024, 2)

Which kernels honour ``out=`` (and which may safely write over their own input) is not
declared anywhere: it is measured, once per op and signature, by running the kernel on
throwaway arrays (:func:`kernel_traits`, :func:`runs_in_place`). A value may share memory
with the values made from it by an op that ignores ``out=`` (a reshape returns a view), so
a buffer stays busy until the last of those aliases dies, and no buffer is ever reachable
from a graph output (the next call would overwrite what the caller holds).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from ... import _allocator, _context
from ...ops.fused import ELEMENTWISE
from ..ir import CONSTANT, PLACEHOLDER, SPECIAL, Graph, Node, Value


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
    return _peak(spans, sizes, len(graph.nodes))


def _peak(spans: dict, sizes: dict, n_steps: int) -> int:
    """The largest total of ``sizes`` over the values live at one step."""
    delta = [0] * (n_steps + 2)
    for key, (start, stop) in spans.items():
        delta[start] += sizes[key]
        delta[stop + 1] -= sizes[key]
    peak = live = 0
    for change in delta:
        live += change
        peak = max(peak, live)
    return peak


# -- what kernels do with out= (measured) ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KernelTraits:
    """What a node's kernel was seen to do on arrays of the node's input shapes and dtypes.

    ``exact``: it returns arrays of exactly the output shapes and dtypes (so the executor
    may use them without conversion). ``writes_out``: given ``out=`` (one output only), it
    writes the result there and returns that same array (then exact, whatever it returns
    without ``out=``: NumPy reductions to a scalar return a NumPy scalar, for instance).
    ``views``: the positions of the inputs whose memory its results (without ``out=``)
    share, as a reshape's does; None when not measured (any input, to be safe).
    """

    exact: bool = False
    writes_out: bool = False
    views: frozenset[int] | None = None


_UNKNOWN = KernelTraits()
_TRAITS: dict = {}  # probe key -> KernelTraits
_IN_PLACE: dict = {}  # (probe key, position) -> bool
_CACHE_LIMIT = 4096  # probes remembered (then forgotten all at once: probing is cheap)


def kernel_traits(node: Node) -> KernelTraits:
    """Run ``node``'s kernel on zeros (once per op, shapes, dtypes and attributes) to see
    whether it returns exact arrays, honours ``out=`` and returns views of its inputs.

    Nodes that cannot be probed get ``KernelTraits()`` (nothing known): placeholders,
    constants, stateful ops, unknown sizes, low-precision floats (computed in float32), and
    ops that run sub-graphs (control flow: which branch runs, and so what the result
    shares memory with, depends on the values)."""
    if not _probeable(node):
        return _UNKNOWN
    key = _probe_key(node)
    traits = _TRAITS.get(key) if key is not None else None
    if traits is None:
        traits = _probe(node)
        _remember(_TRAITS, key, traits)
    return traits


def runs_in_place(node: Node, position: int) -> bool:
    """True when ``node`` is an elementwise op whose kernel, given its input ``position``
    as ``out=``, computes the same bits as into a fresh array (checked on random data)."""
    value = node.inputs[position]
    result = node.outputs[0]
    if not (is_elementwise(node) and len(node.outputs) == 1 and value is not None):
        return False
    if value.shape != result.shape or value.dtype != result.dtype:
        return False
    if math.prod(result.shape) == 1:
        return False  # NumPy takes a slow path for a one-element ufunc whose out is an input
    if not kernel_traits(node).writes_out:
        return False
    key = _probe_key(node)
    found = _IN_PLACE.get((key, position)) if key is not None else None
    if found is None:
        found = _probe_in_place(node, position)
        _remember(_IN_PLACE, None if key is None else (key, position), found)
    return found


def _remember(cache: dict, key, value) -> None:
    if key is not None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = value


def is_elementwise(node: Node) -> bool:
    """A pointwise op (output element ``i`` reads only element ``i`` of each input, or a
    broadcast one): the ops that elementwise fusion may fuse, and their fusions."""
    return node.op in ELEMENTWISE or node.op == "fused_elementwise"


def _probeable(node: Node) -> bool:
    if node.op in SPECIAL or node.stateful:
        return False
    if any(isinstance(a, Graph) for a in node.attrs.values()):
        return False
    values = [v for v in node.inputs if v is not None] + node.outputs
    if any(s is None for v in values for s in v.shape):
        return False
    op = node.opdef
    return not (op.widen_low_precision and _context._has_low_precision(node.inputs, node.outputs))


def _probe_key(node: Node):
    """A hashable key for the probe's result, or None (attributes that cannot be hashed)."""
    shapes = tuple(
        None if v is None else (v.shape, v.dtype, _first_use(node, v)) for v in node.inputs
    )
    outputs = tuple((v.shape, v.dtype) for v in node.outputs)
    try:
        attrs = tuple(sorted((k, _hashable(a)) for k, a in node.attrs.items()))
        key = (node.op, shapes, outputs, attrs)
        hash(key)
    except TypeError:
        return None
    return key


def _first_use(node: Node, value: Value) -> int:
    """Where ``value`` first appears among the inputs (``x * x`` differs from ``x * y``)."""
    return next(i for i, v in enumerate(node.inputs) if v is value)


def _hashable(attr):
    """Attributes as hashable values, keeping types apart (``1`` vs ``1.0`` vs ``True``)."""
    if isinstance(attr, list):
        return ("list", tuple(_hashable(a) for a in attr))
    if isinstance(attr, tuple):
        return ("tuple", tuple(_hashable(a) for a in attr))
    return (type(attr), attr)


def _call_quietly(node: Node, arrays: list, **out):
    """The kernel's result, with floating-point warnings off (zeros make NaN and Inf)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return node.opdef.kernel(np, *arrays, **node.attrs, **out)


def _probe(node: Node) -> KernelTraits:
    # Its large arrays are mapped (zeros never written cost no memory) and unmapped when
    # dropped: a probe on a big graph's sizes leaves no holes in the heap behind it.
    with _allocator.mapped():
        arrays = _arrays(node, lambda v: np.zeros(v.shape, v.dtype))
        try:
            result = _call_quietly(node, arrays)
            exact, views = _is_exact(result, node), _views(result, arrays)
            del result
            if len(node.outputs) != 1:
                return KernelTraits(exact, False, views)
            out = np.empty(node.outputs[0].shape, node.outputs[0].dtype)
            return KernelTraits(exact, _call_quietly(node, arrays, out=out) is out, views)
        except Exception:  # a kernel may reject zeros (a singular matrix): no fast path then
            return _UNKNOWN


def _views(result, arrays: list) -> frozenset[int]:
    """The positions of ``arrays`` whose memory some array of ``result`` shares."""
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    return frozenset(
        i
        for i, a in enumerate(arrays)
        if a is not None and any(np.may_share_memory(r, a) for r in results)
    )


def _probe_in_place(node: Node, position: int) -> bool:
    with _allocator.mapped():  # as in _probe
        rng = np.random.default_rng(0)
        try:
            expected = _call_quietly(node, _arrays(node, lambda v: _random(rng, v)))
            rng = np.random.default_rng(0)
            arrays = _arrays(node, lambda v: _random(rng, v))
            target = arrays[position]
            got = _call_quietly(node, arrays, out=target)
        except Exception:
            return False
        return got is target and got.tobytes() == expected.tobytes()


def _arrays(node: Node, make) -> list:
    """One array per distinct input value (a value read twice is the same array twice)."""
    made: dict[int, np.ndarray] = {}
    for value in node.inputs:
        if value is not None and id(value) not in made:
            made[id(value)] = make(value)
    return [None if v is None else made[id(v)] for v in node.inputs]


def _random(rng: np.random.Generator, value: Value) -> np.ndarray:
    if value.dtype.kind == "b":
        return rng.random(value.shape) < 0.5
    if value.dtype.kind in "iu":
        return rng.integers(1, 5, value.shape).astype(value.dtype)
    if value.dtype in (np.float32, np.float64):  # drawn in the dtype: no float64 copy
        return rng.standard_normal(value.shape, dtype=value.dtype)
    return rng.standard_normal(value.shape).astype(value.dtype)


def _is_exact(result, node: Node) -> bool:
    results = [result] if len(node.outputs) == 1 else result
    if not isinstance(results, (tuple, list)) or len(results) != len(node.outputs):
        return False
    return all(
        type(r) is np.ndarray and r.shape == v.shape and r.dtype == v.dtype
        for r, v in zip(results, node.outputs)
    )


# -- the plan ----------------------------------------------------------------------------------

ALIGNMENT = 64  # bytes: every planned value starts on a cache line (and a SIMD boundary)


@dataclasses.dataclass
class MemoryPlan:
    """Where each planned value of a graph lives, and what the plan saves.

    The planned values (those whose kernels write into a given ``out=`` array) live at
    ``offsets`` (value ``id`` -> byte offset) in one arena of ``arena_bytes``, allocated
    once; values that are never busy at the same time share bytes. ``in_place``: value
    ``id`` -> position of the input whose memory (dying at that node) the value takes over.
    ``fresh``: ids of the values whose kernels honour ``out=`` but which a graph output may
    share memory with: they are written into a new array at each call. Every other value is
    allocated by its kernel.

    ``peak_bytes``: the largest total of bytes in use at one step under this plan (planned
    values sharing memory as assigned, other values live from their step to their last
    use, views of other values free); ``unplanned_peak_bytes``: the same with every value
    in its own buffer (:func:`planned_peak_bytes`). ``resident_bytes``: what a program
    keeping the arena for its lifetime holds at most (the arena plus the peak of the
    values outside it).
    """

    offsets: dict[int, int]
    arena_bytes: int
    in_place: dict[int, int]
    fresh: set[int]
    peak_bytes: int
    unplanned_peak_bytes: int
    resident_bytes: int

    def offset_of(self, value: Value) -> int | None:
        """The byte offset of ``value`` in the arena, or None when it is not planned."""
        return self.offsets.get(id(value))


def plan_memory(graph: Graph, traits=kernel_traits, in_place=runs_in_place) -> MemoryPlan:
    """Plan memory for ``graph``: values that die at an elementwise op hand their memory to
    its output (in place), and the planned values get offsets in one arena, largest first,
    each at the lowest offset free while it is busy (the "greedy by size" of TFLite's
    planner). ``traits`` and ``in_place`` (defaults: measured) say what each node's kernel
    can do; the graph itself is not changed."""
    spans = liveness(graph)
    candidates = {id(n.outputs[0]) for n in graph.nodes if _poolable(n, traits)}
    planned, busy_until = _alias_extents(graph, spans, candidates, traits)
    groups = _Sharing(graph, candidates, planned, busy_until, traits, in_place)
    groups.run()
    offsets, arena = _place(groups.intervals())
    sizes = {id(v): nbytes(v) for n in graph.nodes for v in n.outputs}
    loose = {k: span for k, span in spans.items() if k not in planned}
    own = {**sizes, **_view_sizes(graph, traits), **groups.sizes}
    n_steps = len(graph.nodes)
    return MemoryPlan(
        offsets={key: offsets[groups.group[key]] for key in planned},
        arena_bytes=arena,
        in_place=groups.in_place,
        fresh=candidates - planned,
        peak_bytes=_peak({**loose, **groups.spans()}, own, n_steps),
        unplanned_peak_bytes=_peak(spans, sizes, n_steps),
        resident_bytes=arena + _peak(loose, own, n_steps),
    )


def _view_sizes(graph: Graph, traits) -> dict[int, int]:
    """Zero bytes for each output measured to be a view of an input (a reshape's): its
    memory is counted with the value it views, which stays busy while the view lives."""
    return {
        id(n.outputs[0]): 0
        for n in graph.nodes
        if len(n.outputs) == 1 and n.op not in SPECIAL and not n.stateful and traits(n).views
    }


def _poolable(node: Node, traits) -> bool:
    """A node whose single output can live in planned memory."""
    if node.op in SPECIAL or node.stateful or len(node.outputs) != 1:
        return False
    value = node.outputs[0]
    if any(s is None for s in value.shape) or nbytes(value) == 0:
        return False
    return traits(node).writes_out


def _alias_extents(graph: Graph, spans: dict, candidates: set, traits) -> tuple[set, dict]:
    """Which candidates are planned, and until which step each value's memory is busy.

    A candidate always gets an ``out=`` array, so its memory is its own. Walking backwards,
    an op whose results may view an input (see :func:`view_sources`) keeps that input's
    memory busy while its outputs live, and reachable from a graph output if they are.
    Candidates reachable from an output get a fresh array at each call instead.
    """
    busy_until = {key: stop for key, (_, stop) in spans.items()}
    reaches_output = {id(v) for v in graph.outputs}
    planned: set[int] = set()
    for node in reversed(graph.nodes):
        sources = view_sources(node, traits, candidates)
        for value in node.outputs:
            key = id(value)
            if key in candidates and key not in reaches_output:
                planned.add(key)
            for source in sources:
                busy_until[id(source)] = max(busy_until[id(source)], busy_until[key])
                if key in reaches_output:
                    reaches_output.add(id(source))
    return planned, busy_until


def _returns_state(node: Node) -> bool:
    """Variable reads and updates return the variable's own buffer, no input's memory."""
    return node.op == "read_variable" or bool(node.opdef.writes)


def view_sources(node: Node, traits=kernel_traits, candidates=None) -> list[Value]:
    """The inputs of ``node`` whose memory its outputs may share: none for a node writing
    into an ``out=`` array (``candidates``: ids of such outputs), for placeholders,
    constants and variable reads and writes; the measured views of a probed kernel; else
    every input."""
    if node.op in SPECIAL or _returns_state(node):
        return []
    if candidates is not None and len(node.outputs) == 1 and id(node.outputs[0]) in candidates:
        return []
    views = None if node.stateful else traits(node).views
    inputs = [(i, v) for i, v in enumerate(node.inputs) if v is not None]
    return [v for i, v in inputs if views is None or i in views]


class _Sharing:
    """Walks the graph forwards, grouping each planned value with the dying input whose
    memory it takes over in place; a group is then one block of the arena."""

    def __init__(self, graph, candidates: set, planned: set, busy_until: dict, traits, in_place):
        self.graph, self.candidates, self.planned = graph, candidates, planned
        self.busy_until, self.traits, self.can_run_in_place = busy_until, traits, in_place
        self.group: dict[int, int] = {}  # planned value -> group
        self.sizes: dict[int, int] = {}  # group -> bytes
        self.starts: dict[int, int] = {}  # group -> first step
        self.in_place: dict[int, int] = {}
        self.roots: dict[int, frozenset] = {}  # value -> planned values it may share memory with

    def run(self) -> None:
        for i, node in enumerate(self.graph.nodes):
            self._note_roots(node)
            value = node.outputs[0] if node.outputs else None
            if value is None or id(value) not in self.planned:
                continue
            position = self._in_place_input(i, node)
            if position is None:
                group = self.group[id(value)] = id(value)
                self.sizes[group], self.starts[group] = nbytes(value), i
            else:
                self.group[id(value)] = self.group[id(node.inputs[position])]
                self.in_place[id(value)] = position

    def intervals(self) -> list[tuple[int, int, int, int]]:
        """(group, bytes, first step, last busy step) of every group."""
        ends: dict[int, int] = {}
        for key, group in self.group.items():
            ends[group] = max(ends.get(group, 0), self.busy_until[key])
        return [(g, self.sizes[g], self.starts[g], ends[g]) for g in self.sizes]

    def spans(self) -> dict[int, tuple[int, int]]:
        return {group: (start, stop) for group, _, start, stop in self.intervals()}

    def _note_roots(self, node: Node) -> None:
        sources = view_sources(node, self.traits, self.candidates)
        shared = frozenset().union(*(self.roots[id(v)] for v in sources))
        for value in node.outputs:
            self.roots[id(value)] = frozenset({id(value)}) if id(value) in self.planned else shared

    def _in_place_input(self, i: int, node: Node) -> int | None:
        """An input whose memory (and every alias of it) dies here, read by nothing else."""
        for position, source in enumerate(node.inputs):
            key = None if source is None else id(source)
            if key not in self.planned or self.busy_until[key] != i:
                continue
            others = [v for v in node.inputs if v is not None and v is not source]
            if any(key in self.roots[id(v)] for v in others):
                continue
            if self.can_run_in_place(node, position):
                return position
        return None


def _place(intervals: list) -> tuple[dict[int, int], int]:
    """Offsets for blocks busy over step intervals: largest first, each at the lowest
    aligned offset that no block busy at an overlapping time occupies."""
    offsets: dict[int, int] = {}
    placed: list[tuple[int, int, int, int]] = []  # (offset, end offset, first, last step)
    arena = 0
    for group, size, start, stop in sorted(intervals, key=lambda g: (-g[1], g[2])):
        offset = 0
        for low, high, first, last in sorted(placed):
            if first <= stop and start <= last and offset < high and offset + size > low:
                offset = max(offset, _aligned(high))
        offsets[group] = offset
        placed.append((offset, offset + size, start, stop))
        arena = max(arena, offset + size)
    return offsets, arena


def _aligned(offset: int) -> int:
    return -(-offset // ALIGNMENT) * ALIGNMENT
