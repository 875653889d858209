"""Sub-graphs: the bodies of control flow (``rl.cond``, ``rl.while_loop``, ``rl.scan``).

A control-flow op holds its branch or loop body as a :class:`~rillet.graph.ir.Graph` in its
attributes. :func:`trace_subgraph` records such a graph by calling the Python function on
placeholders under a :class:`SubTracer`. Tensors of the enclosing trace that the function
uses (weights, other inputs) are *captured*: each becomes an extra placeholder of the
sub-graph and an extra input of the control-flow node, so the node's inputs are everything
its body reads, and gradients flow to captured tensors as to any other input. Variables read
in a body are read once in the enclosing program and captured the same way.

The same machinery serves the gradients: :func:`call_graph` replays a sub-graph's nodes
through ``bind`` (computing in eager code, adding nodes while tracing), and
:func:`graph_vjp` differentiates such a replay with a ``GradientTape``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Sequence

import numpy as np

from .. import _context
from .. import dtypes as _dtypes
from ..autodiff import tape as _tape
from ..autodiff.tape import GradientTape, UnconnectedGradients
from ..errors import ArgumentError
from ..ops._registry import REGISTRY, Spec
from ..tensor import Tensor, _to_array
from .ir import CONSTANT, PLACEHOLDER, Graph, Value
from .trace import TracedTensor, Tracer, TracingError, tracing

# -- nested structures of tensors ------------------------------------------------------------


def tree_flatten(obj) -> tuple[list, tuple]:
    """The leaves of a nested list/tuple/namedtuple/dict structure, and its description.

    >>> tree_flatten(([1, 2], {"a": 3}))[0]
    [1, 2, 3]
    """
    leaves: list = []
    return leaves, _flatten_into(obj, leaves)


def _flatten_into(obj, leaves: list) -> tuple:
    if obj is None:  # no tensors (a branch run for nothing but its checks)
        return ("0",)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return ("N", type(obj), tuple(_flatten_into(v, leaves) for v in obj))
    if isinstance(obj, (tuple, list)):
        return ("L" if isinstance(obj, list) else "U", tuple(_flatten_into(v, leaves) for v in obj))
    if isinstance(obj, dict):
        keys = sorted(obj, key=repr)
        return ("D", tuple(keys), tuple(_flatten_into(obj[k], leaves) for k in keys))
    leaves.append(obj)
    return ("T",)


def tree_unflatten(structure: tuple, leaves: Sequence):
    """The inverse of :func:`tree_flatten`."""
    return _rebuild(structure, iter(leaves))


def _rebuild(structure: tuple, leaves):
    kind = structure[0]
    if kind == "T":
        return next(leaves)
    if kind == "0":
        return None
    if kind == "N":
        return structure[1](*(_rebuild(s, leaves) for s in structure[2]))
    if kind == "D":
        return {k: _rebuild(s, leaves) for k, s in zip(structure[1], structure[2])}
    items = [_rebuild(s, leaves) for s in structure[1]]
    return items if kind == "L" else tuple(items)


def same_structure(a: tuple, b: tuple) -> bool:
    """Equal nesting, counting lists and tuples as the same kind of sequence."""
    kind_a, kind_b = ("L" if a[0] == "U" else a[0]), ("L" if b[0] == "U" else b[0])
    if kind_a != kind_b:
        return False
    if kind_a in "T0":
        return True
    if kind_a in "ND" and a[1] != b[1]:
        return False
    children_a, children_b = a[-1], b[-1]
    return len(children_a) == len(children_b) and all(
        same_structure(x, y) for x, y in zip(children_a, children_b)
    )


def describe_structure(structure: tuple) -> str:
    """A structure as text: ``T`` for a tensor, ``(T, [T])`` for nested sequences."""
    kind = structure[0]
    if kind in "T0":
        return {"T": "T", "0": "None"}[kind]
    inner = ", ".join(describe_structure(s) for s in structure[-1])
    return {"L": f"[{inner}]", "D": f"{{{inner}}}"}.get(kind, f"({inner})")


def as_tensor(value, like=None) -> Tensor:
    """A tensor from a leaf of a control-flow structure. A Python number takes the dtype of
    ``like`` (the value it stands for) where it fits: a loop body may return ``0`` for an
    int64 or ``0.5`` for a float64 loop variable."""
    if isinstance(value, Tensor):
        return value
    if hasattr(value, "_rillet_read"):
        return _context.read_variable(value)
    if like is not None and _number_fits(value, np.dtype(like.dtype)):
        return Tensor._wrap(np.asarray(value, dtype=like.dtype))
    return Tensor._wrap(_to_array(value))


def _number_fits(value, dtype: np.dtype) -> bool:
    return (
        type(value) is bool
        or (type(value) is int and dtype != _dtypes.bool_)
        or (type(value) is float and _dtypes.is_floating(dtype))
    )


def leaves_like(result, structure: tuple, like: Sequence, op: str, fn_name: str, what: str):
    """The tensors of ``result``, a body's return value, which must have ``structure`` (a
    bare tensor fits a one-element list); Python numbers take the dtypes of ``like``."""
    if structure[0] in "LU" and len(structure[1]) == 1 and not isinstance(result, (list, tuple)):
        result = [result]
    leaves, found = tree_flatten(result)
    if not same_structure(found, structure):
        raise ArgumentError(
            f"{fn_name} must return {what} with the structure {describe_structure(structure)}, "
            f"got {describe_structure(found)}",
            op=op,
        )
    return [as_tensor(leaf, other) for leaf, other in zip(leaves, like)]


# -- tracing sub-graphs ------------------------------------------------------------------------


class SubTracer(Tracer):
    """Traces a control-flow body into its own graph, capturing values of the enclosing
    context (``parent``: the tracer that was active, or ``None`` in eager code)."""

    def __init__(self, graph: Graph, parent: Tracer | None, parent_tapes: list):
        super().__init__(graph)
        self.parent = parent
        self._parent_tapes = parent_tapes
        # The tapes of every enclosing context, innermost first.
        self._outer_tapes = parent_tapes + getattr(parent, "_outer_tapes", [])
        self.captured: dict[int, tuple[Tensor, Value]] = {}  # key -> (outer tensor, placeholder)

    def capture(self, tensor: TracedTensor) -> Value:
        """A placeholder for ``tensor`` of an enclosing trace (captured once)."""
        if self.parent is None:
            raise TracingError(f"{tensor} belongs to a traced function that has finished")
        if tensor._tracer is not self.parent:  # from further out: capture it into the parent
            tensor = self.parent.traced(self.parent.value_of(tensor))
        return self.capture_outer(tensor)

    def capture_outer(self, tensor: Tensor) -> Value:
        """A placeholder for ``tensor``, a tensor of the parent context."""
        key = id(tensor._graph_value) if isinstance(tensor, TracedTensor) else id(tensor)
        entry = self.captured.get(key)
        if entry is None:
            placeholder = self.graph.add_placeholder(tensor.shape, tensor.dtype)
            entry = self.captured[key] = (tensor, placeholder)
        return entry[1]

    def value_of(self, tensor) -> Value | None:
        """As a tracer does, except that a concrete tensor watched by a tape of an
        enclosing context is captured as an input (not baked in as a constant), so that
        the tape sees the body depend on it."""
        if type(tensor) is Tensor and any(id(tensor) in t._watched for t in self._outer_tapes):
            return self.capture_outer(tensor)
        return super().value_of(tensor)

    def read_variable(self, variable) -> TracedTensor:
        """Read the variable in the enclosing program (once) and capture that value, so the
        body stays pure and gradients reach the variable through the node's inputs."""
        with self.in_parent():
            outer = _context.read_variable(variable)
        return self.traced(self.capture_outer(outer))

    def apply(self, op, inputs, attrs: dict):
        if op.stateful:
            raise TracingError(
                f"{op.name} inside the body of rl.cond, rl.while_loop, rl.scan or rl.map_fn "
                "is not supported in graph mode: return the new value from the body and "
                "assign it to the variable after the control flow. Random draws (rl.random.*, "
                "rl.dropout) advance a state variable too: draw the numbers before the control "
                "flow and pass them in (scan over them), or use rl.random.stateless_*"
            )
        return super().apply(op, inputs, attrs)

    @contextlib.contextmanager
    def in_parent(self):
        """Run code in the enclosing context (its tracer and gradient tapes)."""
        saved = (_context.STATE.tracer, _tape.STATE.tapes)
        _context.STATE.tracer, _tape.STATE.tapes = self.parent, self._parent_tapes
        try:
            yield
        finally:
            _context.STATE.tracer, _tape.STATE.tapes = saved


class Traced:
    """A traced sub-graph, the outer tensors it captured, and its output structure."""

    def __init__(self, graph: Graph, captured: dict, structure: tuple, n_explicit: int):
        self.graph, self.captured, self.structure = graph, captured, structure
        self.n_explicit = n_explicit


def trace_subgraph(fn: Callable, specs: Sequence[Spec], name: str) -> Traced:
    """Trace ``fn(*placeholders)`` (one placeholder per spec) into a new graph.

    The returned graph's inputs are the placeholders, then one per captured outer tensor;
    its outputs are ``fn``'s flattened result (Python numbers become constants).
    """
    graph = Graph(name)
    tracer = SubTracer(graph, _context.STATE.tracer, _tape.STATE.tapes)
    args = [tracer.traced(graph.add_placeholder(s.shape, s.dtype)) for s in specs]
    with tracing(tracer):
        leaves, structure = tree_flatten(fn(*args))
        graph.outputs = [tracer.value_of(as_tensor(leaf)) for leaf in leaves]
    graph.inputs = list(graph.inputs[: len(specs)])
    return Traced(graph, tracer.captured, structure, len(specs))


def join_captures(traced: Sequence[Traced]) -> list[Tensor]:
    """The outer tensors captured by any of ``traced``, in first-capture order; each graph's
    inputs become its explicit placeholders followed by one placeholder per such tensor."""
    union: dict[int, Tensor] = {}
    for t in traced:
        for key, (tensor, _) in t.captured.items():
            union.setdefault(key, tensor)
    for t in traced:
        extra = []
        for key, tensor in union.items():
            entry = t.captured.get(key)
            extra.append(entry[1] if entry else t.graph.add_placeholder(tensor.shape, tensor.dtype))
        _set_inputs(t.graph, t.graph.inputs[: t.n_explicit] + extra)
    return list(union.values())


def _set_inputs(graph: Graph, inputs: list[Value]) -> None:
    """Make ``inputs`` the graph's inputs: their placeholders first, in that order."""
    placeholders = [v.node for v in inputs]
    for i, node in enumerate(placeholders):
        node.attrs["index"] = i
    rest = [n for n in graph.nodes if n.op != PLACEHOLDER]
    graph.nodes = placeholders + rest
    graph.inputs = list(inputs)


def tracing_active() -> bool:
    """Whether a trace is recording (control flow is staged) rather than eager execution
    (control flow runs as Python)."""
    return _context.STATE.tracer is not None


def is_symbolic(value) -> bool:
    """Whether ``value`` is a tensor of a trace (its value is not known yet)."""
    return isinstance(value, TracedTensor)


def spec_of(tensor) -> Spec:
    return Spec(tuple(tensor.shape), np.dtype(tensor.dtype))


# -- running and replaying sub-graphs ----------------------------------------------------------

_RUNNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def run_graph(graph: Graph, arrays: list) -> list[np.ndarray]:
    """Run ``graph`` on arrays with the interpreter (built once per graph)."""
    runner = _RUNNERS.get(graph)
    if runner is None:
        from .executors.interpreter import Interpreter

        runner = _RUNNERS[graph] = Interpreter(graph)
    return runner.run_arrays(list(arrays))


def call_graph(graph: Graph, inputs: Sequence) -> list:
    """Replay ``graph``'s nodes on ``inputs`` through ``bind``: in eager code this computes
    (and active tapes record it); while tracing it adds the same nodes to the traced graph.
    """
    env: dict[int, object] = {id(v): x for v, x in zip(graph.inputs, inputs)}
    for node in graph.nodes:
        if node.op == PLACEHOLDER:
            continue
        results = _replay(node, [None if v is None else env[id(v)] for v in node.inputs])
        for value, result in zip(node.outputs, results):
            env[id(value)] = result
    return [env[id(v)] for v in graph.outputs]


def _replay(node, args: list) -> list:
    if node.op == CONSTANT:
        return [Tensor._wrap(node.attrs["value"])]
    if node.op == "read_variable":
        return [_context.read_variable(node.attrs["variable"])]
    if node.op == "assign_variable":
        variable = node.attrs["variable"]
        _context.update_variable(variable, args[0], node.attrs.get("mode", "assign"))
        return [_context.read_variable(variable)]
    result = _context.bind(REGISTRY[node.op], args, node.attrs)
    return list(result) if isinstance(result, (tuple, list)) else [result]


def is_differentiable(x) -> bool:
    return _dtypes.is_floating(x.dtype)


def graph_vjp(graph: Graph, inputs: Sequence, cotangents: Sequence) -> list:
    """Gradients of ``graph``'s outputs, weighted by ``cotangents`` (``None``: no gradient
    flows into that output), with respect to each input: zeros where unconnected, ``None``
    for inputs that are not floating."""
    sources = [x for x in inputs if is_differentiable(x)]
    with GradientTape() as tape:
        tape.watch(sources)
        outputs = call_graph(graph, inputs)
    pairs = [(y, g) for y, g in zip(outputs, cotangents) if g is not None]
    grads = tape.gradient(
        [y for y, _ in pairs],
        sources,
        output_gradients=[g for _, g in pairs],
        unconnected_gradients=UnconnectedGradients.ZERO,
    )
    found = iter(grads)
    return [next(found) if is_differentiable(x) else None for x in inputs]
