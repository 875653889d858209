"""Tracing: running a Python function on symbolic tensors records a graph of the same ops.

While a :class:`Tracer` is installed in ``_context.STATE``, every op call (through ``bind``)
adds a node to the graph instead of computing, reading a variable adds a ``read_variable``
node, and assigning one adds an ``assign_variable`` node. Gradient tapes opened inside the
traced function record the symbolic calls as they record eager ones, so ``tape.gradient``
adds the gradient nodes to the same graph.
"""

from __future__ import annotations

import numpy as np

from .. import _context
from ..autodiff import tape as _tape
from ..errors import RilletError
from ..ops._registry import REGISTRY, Spec
from ..ops._rules import fmt
from ..tensor import Tensor
from .ir import Graph, Value


class TracingError(RilletError, TypeError):
    """A traced (symbolic) tensor was used where a concrete value is needed."""


def _no_value(self):
    raise TracingError(
        f"a symbolic tensor {self} has no value while rl.function traces; compute with rillet "
        "ops inside the function, or return the tensor and read it after the call"
    )


class TracedTensor(Tensor):
    """A symbolic tensor: a value of the graph being traced, with a static shape/dtype."""

    __slots__ = ("_graph_value", "_tracer")

    _value = property(_no_value)

    def __init__(self, value: Value, tracer: Tracer):
        self._graph_value = value
        self._tracer = tracer

    @property
    def shape(self) -> tuple:
        return self._graph_value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._graph_value.dtype

    @property
    def ndim(self) -> int:
        return len(self._graph_value.shape)

    @property
    def size(self):
        sizes = self._graph_value.shape
        return None if None in sizes else int(np.prod(sizes, dtype=np.int64))

    numpy = _no_value
    item = _no_value
    tolist = _no_value
    __float__ = _no_value
    __int__ = _no_value
    __index__ = _no_value

    def __array__(self, dtype=None, copy=None):
        _no_value(self)

    def __bool__(self) -> bool:
        raise TracingError(
            f"the truth value of the symbolic tensor {self} is not known while rl.function "
            "traces: a Python `if`/`while` on a tensor cannot be traced; use rl.cond or "
            "rl.while_loop (Python control flow over Python values is fine)"
        )

    def __len__(self) -> int:
        first = self._graph_value.shape[0] if self._graph_value.shape else None
        if first is None:
            raise TracingError(f"len() of {self}: its first size is not known while tracing")
        return first

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        value = self._graph_value
        return f"<TracedTensor {value.name} shape={fmt(value.shape)} dtype={value.dtype.name}>"

    __str__ = __repr__


class Tracer:
    """Records op calls into ``graph``; installed as ``_context.STATE.tracer``."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self._constants: dict[int, tuple[Tensor, Value]] = {}
        self._reads: dict[int, TracedTensor] = {}

    def apply(self, op, inputs, attrs: dict):
        values = [self.value_of(t) for t in inputs]
        spec = op.rule(*values, **attrs)
        specs = [spec] if type(spec) is Spec else list(spec)
        node = self.graph.add_node(op.name, values, attrs, specs)
        for name in op.writes:  # later reads see the updated variables
            self.forget_variable(attrs[name])
        wrapped = [TracedTensor(v, self) for v in node.outputs]
        outputs = wrapped[0] if type(spec) is Spec else type(spec)(wrapped)
        if _tape.STATE.tapes:
            _tape.record(op, inputs, attrs, outputs)
        return outputs

    def value_of(self, tensor) -> Value | None:
        """The graph value of an op input: traced tensors as they are, others as constants."""
        if tensor is None:
            return None
        if isinstance(tensor, TracedTensor):
            if tensor._tracer is not self:
                return self.capture(tensor)
            return tensor._graph_value
        entry = self._constants.get(id(tensor))
        if entry is None:
            entry = (tensor, self.graph.add_constant(tensor._value))
            self._constants[id(tensor)] = entry
        return entry[1]

    def capture(self, tensor: TracedTensor) -> Value:
        """The value standing for ``tensor`` of another tracer. A top-level trace has none
        (the tensor escaped from another function); the sub-graph tracer of control flow
        (``rillet.graph.subgraph``) overrides this to capture values of the enclosing trace
        as extra sub-graph inputs."""
        raise TracingError(f"{tensor} belongs to another traced function (or escaped from one)")

    def read_variable(self, variable) -> TracedTensor:
        """A read of ``variable``, shared until the traced program assigns to it."""
        tensor = self._reads.get(id(variable))
        if tensor is None:
            tensor = self.apply(REGISTRY["read_variable"], [], {"variable": variable})
            self._reads[id(variable)] = tensor
        if _tape.STATE.tapes:
            _tape.variable_read(variable, tensor)
        return tensor

    def forget_variable(self, variable) -> None:
        """After an assignment, later reads see the new value: a new read node."""
        self._reads.pop(id(variable), None)

    def traced(self, value: Value) -> TracedTensor:
        return TracedTensor(value, self)


class tracing:
    """Context manager installing ``tracer`` (tapes opened outside are set aside meanwhile)."""

    def __init__(self, tracer: Tracer):
        self.tracer = tracer

    def __enter__(self) -> Tracer:
        self._previous = (_context.STATE.tracer, _tape.STATE.tapes)
        _context.STATE.tracer = self.tracer
        _tape.STATE.tapes = []
        return self.tracer

    def __exit__(self, *exc) -> None:
        _context.STATE.tracer, _tape.STATE.tapes = self._previous


class init_scope:
    """Run eagerly even while tracing: for creating variables and their initial values
    (a layer built for the first time inside ``rl.function``)."""

    def __enter__(self):
        self._previous = (_context.STATE.tracer, _tape.STATE.tapes)
        _context.STATE.tracer = None
        _tape.STATE.tapes = []

    def __exit__(self, *exc) -> None:
        _context.STATE.tracer, _tape.STATE.tapes = self._previous
