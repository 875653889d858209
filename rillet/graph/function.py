"""``rl.function``: trace a Python function into a graph once per input signature, optimize
it, and run the result.

>>> import rillet as rl
>>> @rl.function
... def affine(x, w):
...     return rl.matmul(x, w) + 1.0
>>> affine(rl.ones((2, 3)), rl.ones((3, 1))).numpy().tolist()
[[4.0], [4.0]]

Tensors (and NumPy arrays) passed to the function become graph inputs: a call with a new
shape or dtype traces again. Variables are captured by reference, so assignments inside the
function persist. Other Python values are part of the signature: the function is traced
again for each new value, and Python code (``if``, ``for`` over Python values, ``print``)
runs only while tracing:

>>> @rl.function
... def scale(x, factor):
...     print("tracing with factor", factor)   # a Python side effect: runs at trace time
...     return x * factor
>>> _ = scale(rl.ones(2), 2.0)
tracing with factor 2.0
>>> _ = scale(rl.ones(2), 2.0)   # same signature: the graph runs, nothing is printed
>>> _ = scale(rl.ones(2), 3.0)
tracing with factor 3.0
"""

from __future__ import annotations

import functools
import threading
import warnings

import numpy as np

from .. import _allocator, _context
from .. import config as _config
from .. import dtypes as _dtypes
from ..errors import ArgumentError, DTypeError, ShapeError
from ..ops._rules import fmt
from ..tensor import Tensor
from .executors.interpreter import Interpreter
from .ir import Graph
from .passes import optimize
from .trace import TracedTensor, Tracer, tracing

RETRACE_WARNING_AFTER = 5
_PRIMITIVES = (int, float, bool, str, bytes, type(None), complex)


class RetracingWarning(UserWarning):
    """A ``rl.function`` was traced more than ``RETRACE_WARNING_AFTER`` times."""


class TensorSpec:
    """The shape (``None`` for any size) and dtype of a function input.

    >>> import rillet as rl
    >>> rl.TensorSpec((None, 3), rl.float32)
    TensorSpec(shape=(None, 3), dtype=float32)
    """

    def __init__(self, shape, dtype=_dtypes.float32, name: str | None = None):
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = _dtypes.as_dtype(dtype)
        self.name = name

    def is_compatible_with(self, array) -> bool:
        shape = tuple(array.shape)
        return len(shape) == len(self.shape) and all(
            s is None or s == a for s, a in zip(self.shape, shape)
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, TensorSpec) and (self.shape, self.dtype) == (
            other.shape,
            other.dtype,
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))

    def __repr__(self) -> str:
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype.name})"


# -- structures of arguments and results ------------------------------------------------------


def _is_variable(obj) -> bool:
    return hasattr(obj, "_rillet_read")


def flatten(obj, leaves: list):
    """A hashable description of ``obj``'s structure; tensors go to ``leaves``."""
    if isinstance(obj, (Tensor, np.ndarray)):
        leaves.append(obj)
        return ("T",)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return ("N", type(obj), tuple(flatten(v, leaves) for v in obj))
    if isinstance(obj, (tuple, list)):
        return ("L" if isinstance(obj, list) else "U", tuple(flatten(v, leaves) for v in obj))
    if isinstance(obj, dict):
        keys = sorted(obj, key=repr)
        return ("D", tuple(keys), tuple(flatten(obj[k], leaves) for k in keys))
    if _is_variable(obj):
        return ("V", obj)
    if isinstance(obj, _PRIMITIVES):
        return ("P", obj)
    return ("O", obj)


def rebuild(structure, leaves):
    """The inverse of :func:`flatten`, taking the tensors from the iterator ``leaves``."""
    kind = structure[0]
    if kind == "T":
        return next(leaves)
    if kind == "N":
        return structure[1](*(rebuild(s, leaves) for s in structure[2]))
    if kind in "LU":
        items = [rebuild(s, leaves) for s in structure[1]]
        return items if kind == "L" else tuple(items)
    if kind == "D":
        return {k: rebuild(s, leaves) for k, s in zip(structure[1], structure[2])}
    return structure[1]


def _key_of(structure):
    """A cache key: objects other than Python primitives count by identity."""
    kind = structure[0]
    if kind in "VO":
        return (kind, id(structure[1]))
    if kind == "P":
        return (kind, type(structure[1]), structure[1])
    if kind == "T":
        return structure
    if kind == "N":
        return (kind, structure[1], tuple(_key_of(s) for s in structure[2]))
    if kind == "D":
        return (kind, structure[1], tuple(_key_of(s) for s in structure[2]))
    return (kind, tuple(_key_of(s) for s in structure[1]))


_LEAVES = (Tensor, np.ndarray)


def _tensors_key(args: tuple) -> tuple | None:
    """The shapes and dtypes of ``args`` when each is a plain tensor, else None."""
    key = []
    for a in args:
        if type(a) is not Tensor:
            return None
        value = a._value
        key.append((value.shape, value.dtype))
    return tuple(key)


def _leaf_spec(leaf) -> tuple:
    array = leaf._value if isinstance(leaf, Tensor) else leaf
    dtype = array.dtype
    if isinstance(leaf, np.ndarray) and dtype == np.float64:
        dtype = _dtypes.float64
    return tuple(array.shape), dtype


# -- functions -----------------------------------------------------------------------------


EXECUTORS = ("compiled", "interpreter")


def make_executor(graph: Graph, kind: str):
    """The executor ``kind`` for ``graph``: ``"compiled"`` or ``"interpreter"``."""
    if kind not in EXECUTORS:
        raise ArgumentError(f"executor={kind!r} must be one of {', '.join(EXECUTORS)}")
    if kind == "compiled":
        try:
            from .executors.compiled import CompiledExecutor
        except ModuleNotFoundError:
            return Interpreter(graph)
        return CompiledExecutor(graph)
    return Interpreter(graph)


class ConcreteFunction:
    """One traced and optimized graph of a :class:`Function`, for one input signature."""

    def __init__(
        self,
        fn,
        args,
        kwargs,
        specs: list,
        name: str,
        memory_budget=None,
        optimize_graph: bool = True,
        executor: str = "compiled",
    ):
        self.name = name
        graph = Graph(name)
        tracer = Tracer(graph)
        leaves: list = []
        self.input_structure = flatten((args, kwargs), leaves)
        placeholders = [tracer.traced(graph.add_placeholder(s, d)) for s, d in specs]
        traced_args, traced_kwargs = rebuild(self.input_structure, iter(placeholders))
        with tracing(tracer):
            result = fn(*traced_args, **traced_kwargs)
            graph.output_structure = self._capture_outputs(result, tracer, graph)
        self.traced_graph = graph
        if optimize_graph or memory_budget is not None:
            graph = optimize(
                graph, memory_budget=memory_budget, passes=optimize_graph, executor=executor
            )
        self.graph = graph
        self.executor = make_executor(self.graph, executor)
        _allocator.release()  # what the program and the compiler freed is not held on

    @staticmethod
    def _capture_outputs(result, tracer: Tracer, graph: Graph):
        leaves: list = []
        structure = flatten(result, leaves)
        outputs = []
        for leaf in leaves:
            tensor = leaf if isinstance(leaf, Tensor) else Tensor._wrap(np.asarray(leaf))
            outputs.append(tracer.value_of(tensor))
        graph.outputs = outputs
        return structure

    def __call__(self, leaves: list):
        results = self.executor(*leaves)
        return rebuild(self.graph.output_structure, iter(results))

    def tensor_runner(self):
        """A faster call for plain tensors whose shapes and dtypes are exactly those traced
        (the caller checked): no input conversion, outputs rebuilt without a walk when
        they are one tensor or a flat list or tuple of tensors. None where not compiled."""
        from .executors.compiled import CompiledExecutor

        if not isinstance(self.executor, CompiledExecutor):
            return None
        run = self.executor.array_runner()
        structure = self.graph.output_structure
        wrap = Tensor._wrap
        if structure == ("T",):
            if len(self.graph.inputs) == 1:
                return lambda args: wrap(run(args[0]._value)[0])
            return lambda args: wrap(run(*[a._value for a in args])[0])
        if structure[0] in "LU" and all(s == ("T",) for s in structure[1]):
            kind = list if structure[0] == "L" else tuple
            return lambda args: kind([wrap(r) for r in run(*[a._value for a in args])])
        return lambda args: rebuild(
            structure, iter([wrap(r) for r in run(*[a._value for a in args])])
        )


class Function:
    """A Python function that runs as a traced graph. See the module docstring."""

    def __init__(
        self,
        fn,
        input_signature=None,
        memory_budget: int | None = None,
        name: str | None = None,
        optimize: bool = True,
        executor: str = "compiled",
    ):
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._name = name or getattr(fn, "__name__", "function")
        self._signature = None if input_signature is None else list(input_signature)
        self._memory_budget = memory_budget
        self._optimize = optimize
        self._executor = executor
        self._cache: dict = {}
        self._runners: dict = {}  # (shape, dtype) per tensor argument -> ConcreteFunction call
        self._tracing_count = 0
        self._warned = False
        # Threads calling with one new signature at once: one traces, the others wait for it.
        self._tracing = threading.RLock()

    def __call__(self, *args, **kwargs):
        if _config.functions_run_eagerly() or _context.STATE.tracer is not None:
            return self._fn(*args, **kwargs)  # eager debugging, or inlined into an outer trace
        key = None if kwargs else _tensors_key(args)
        if key is not None:
            runner = self._runners.get(key)
            if runner is not None:
                return runner(args)
        concrete, leaves = self._concrete(args, kwargs)
        if key is not None and self._signature is None:
            runner = concrete.tensor_runner()
            if runner is not None:
                self._runners[key] = runner
        return concrete(leaves)

    def __get__(self, instance, owner=None):
        return self if instance is None else BoundFunction(self, instance)

    def get_concrete_function(self, *args, **kwargs) -> ConcreteFunction:
        """The traced function for these arguments (tracing it if needed)."""
        return self._concrete(args, kwargs)[0]

    def get_graph(self, *args, **kwargs) -> Graph:
        """The optimized graph that runs for these arguments."""
        return self.get_concrete_function(*args, **kwargs).graph

    def experimental_get_tracing_count(self) -> int:
        return self._tracing_count

    def _concrete(self, args, kwargs):
        if not kwargs and self._signature is None and all(type(a) in _LEAVES for a in args):
            # The common call, tensors only: its key needs no walk over a structure.
            key = ("tensors", tuple(_leaf_spec(a) for a in args))
            concrete = self._cache.get(key)
            if concrete is None:  # (traced once: _concrete_of_structure holds the lock)
                concrete = self._cache[key] = self._concrete_of_structure(args, kwargs)[0]
            return concrete, list(args)
        return self._concrete_of_structure(args, kwargs)

    def _concrete_of_structure(self, args, kwargs):
        leaves: list = []
        structure = flatten((args, kwargs), leaves)
        specs = self._specs(leaves)
        key = (_key_of(structure), tuple((s, d) for s, d in specs))
        concrete = self._cache.get(key)
        if concrete is None:
            with self._tracing:
                concrete = self._cache.get(key)
                if concrete is None:
                    concrete = self._cache[key] = self._trace(args, kwargs, specs)
        return concrete, leaves

    def _specs(self, leaves: list) -> list:
        if self._signature is None:
            return [_leaf_spec(leaf) for leaf in leaves]
        if len(leaves) != len(self._signature):
            raise ArgumentError(
                f"{self._name} has an input_signature of {len(self._signature)} tensors, "
                f"got {len(leaves)}",
                op="function",
            )
        for i, (leaf, spec) in enumerate(zip(leaves, self._signature)):
            if not spec.is_compatible_with(leaf):
                raise ShapeError(
                    f"{self._name}: argument {i} has shape {fmt(leaf.shape)}, "
                    f"incompatible with {spec}",
                    op="function",
                )
            if leaf.dtype != spec.dtype:  # no silent cast: eager code would keep the dtype
                raise DTypeError(
                    f"{self._name}: argument {i} has dtype {leaf.dtype}, incompatible with {spec}",
                    op="function",
                )
        return [(spec.shape, spec.dtype) for spec in self._signature]

    def _trace(self, args, kwargs, specs) -> ConcreteFunction:
        self._tracing_count += 1
        if self._tracing_count > RETRACE_WARNING_AFTER and not self._warned:
            self._warned = True
            warnings.warn(
                f"rl.function {self._name} has been traced {self._tracing_count} times: "
                "each new tensor shape/dtype or Python argument value traces again; pass "
                "tensors instead of Python numbers, or give input_signature= with None sizes",
                RetracingWarning,
                stacklevel=5,
            )
        return ConcreteFunction(
            self._fn,
            args,
            kwargs,
            specs,
            self._name,
            memory_budget=self._memory_budget,
            optimize_graph=self._optimize,
            executor=self._executor,
        )


class BoundFunction:
    """A :class:`Function` decorating a method, bound to one instance (``obj.method``).

    The instance is the first argument of every call, so each instance gets its own
    traces (its variables are captured by reference, like any other object's).
    """

    def __init__(self, function: Function, instance):
        self._function, self._instance = function, instance
        functools.update_wrapper(self, function._fn)

    def __call__(self, *args, **kwargs):
        return self._function(self._instance, *args, **kwargs)

    def get_concrete_function(self, *args, **kwargs) -> ConcreteFunction:
        return self._function.get_concrete_function(self._instance, *args, **kwargs)

    def get_graph(self, *args, **kwargs) -> Graph:
        return self._function.get_graph(self._instance, *args, **kwargs)

    def experimental_get_tracing_count(self) -> int:
        return self._function.experimental_get_tracing_count()


def function(
    fn=None,
    *,
    input_signature=None,
    memory_budget: int | None = None,
    name: str | None = None,
    optimize: bool = True,
    executor: str = "compiled",
):
    """Decorator (or wrapper) making ``fn`` run as a traced, optimized graph.

    ``input_signature``: a list of :class:`TensorSpec` fixing the tensor arguments' shapes
    (``None`` for any size) and dtypes. ``memory_budget``: bytes the planned peak memory of
    the graph should fit in (activations are recomputed in the backward pass to fit).
    ``optimize=False`` skips the passes; ``executor`` is ``"compiled"`` (a straight-line
    program) or ``"interpreter"`` (node by node, for debugging).
    """
    options = dict(
        input_signature=input_signature,
        memory_budget=memory_budget,
        name=name,
        optimize=optimize,
        executor=executor,
    )
    if fn is None:
        return functools.partial(function, **options)
    return Function(fn, **options)


__all__ = [
    "function",
    "Function",
    "ConcreteFunction",
    "TensorSpec",
    "TracedTensor",
    "RetracingWarning",
]
