"""The compiled executor: a graph lowered to one generated Python function.

Each node becomes one line that calls its registered kernel directly (or the NumPy function
that is all the kernel does), with its attributes written into the call (or bound as globals
of the generated code), so that running a graph costs one Python call per op and nothing
else: no shape rules, no per-op dictionaries, values in local variables, and a ``del`` after
each value's last use (a variable's buffer then has no stale reader, and its update runs in
place). Constants are globals of the generated code.

>>> import rillet as rl
>>> f = rl.function(lambda x: rl.exp(rl.tanh(x)) * x, optimize=False)
>>> print(f.get_concrete_function(rl.ones((3,))).executor.source, end="")
def _lambda_(placeholder_0):
    # graph <lambda>: 2 values planned in an arena of 12 bytes
    tanh_1 = tanh(np, placeholder_0, out=arena_0_float32_3)  # float32(3,) planned
    exp_2 = exp(np, tanh_1, out=arena_0_float32_3)  # float32(3,) in place of tanh_1
    del tanh_1
    multiply_3 = np.multiply(exp_2, placeholder_0)  # float32(3,)
    del placeholder_0, exp_2
    return [multiply_3]

Memory comes from :func:`~rillet.graph.passes.memory_plan.plan_memory`: a value whose kernel
was measured to honour ``out=`` is written into a buffer allocated once (shared over time by
values that are never alive together, or taken over in place from a dying input), or, when
a graph output may share its memory, into a new array at each call, so that what a call
returns is never overwritten by the next one. Any other kernel allocates its result, which
is used as returned. Kernels whose results need converting, low-precision floats computed
in float32 and stateful ops run through ``_context.compute`` as in eager execution.

With ``rl.debugging.enable_check_numerics()`` (or rule checks in tests) a second variant of
the program runs, checking each op's outputs as it goes. Calls made while another thread is
running the program use a third variant without shared buffers.
"""

from __future__ import annotations

import itertools
import linecache
import os
import threading
import weakref

import numpy as np

from ... import _context
from ...errors import ArgumentError, RilletError, ShapeError, attach_context
from ...tensor import Tensor
from ..ir import Graph, Node
from ..passes.memory_plan import ALIGNMENT, MemoryPlan, plan_memory
from .interpreter import _feed
from .lowering import Lowering

# Errors a kernel raises on inputs it cannot take, reported as ShapeError as in eager mode.
_KERNEL_ERRORS = (ValueError, TypeError, IndexError, np.exceptions.AxisError)
_HERE = os.path.dirname(os.path.abspath(__file__))
_PROGRAMS = itertools.count()


class CompiledExecutor:
    """Runs ``graph`` as a generated straight-line program; calling it with the inputs
    returns the flat list of output tensors. ``source`` is the generated code."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.plan: MemoryPlan = plan_memory(graph)
        self._arena = _aligned_bytes(self.plan.arena_bytes)
        self._programs: dict[tuple[bool, bool], _Program] = {}
        self._lock = threading.Lock()
        self._fast = self._program(pooled=True, checked=False)

    @property
    def source(self) -> str:
        """The generated code of the program that normally runs."""
        return self._fast.source

    def __call__(self, *inputs) -> list[Tensor]:
        graph_inputs = self.graph.inputs
        if len(inputs) != len(graph_inputs):
            raise ArgumentError(
                f"graph {self.graph.name} takes {len(graph_inputs)} inputs, got {len(inputs)}"
            )
        feeds = [_feed(x, v) for x, v in zip(inputs, graph_inputs)]
        return [Tensor._wrap(a) for a in self.run_arrays(feeds)]

    def run_arrays(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """Run the program on input arrays (of the placeholders' dtypes and shapes)."""
        flags = _context.FLAGS
        checked = flags.check_numerics or flags.check_rules
        if not self._lock.acquire(blocking=False):  # another thread holds the buffers
            return self._program(pooled=False, checked=checked).run(feeds)
        try:
            program = self._program(pooled=True, checked=True) if checked else self._fast
            return program.run(feeds)
        finally:
            self._lock.release()

    def array_runner(self):
        """``run_arrays`` as a function of the input arrays (``run(*arrays)``), with its
        common case (no checks on, the buffers free) in one frame: what ``rl.function``
        calls for tensors of the traced shapes."""
        program, lock, flags, slow = self._fast, self._lock, _context.FLAGS, self.run_arrays
        fn = program.fn

        def run(*feeds):
            if flags.check_numerics or flags.check_rules or not lock.acquire(blocking=False):
                return slow(list(feeds))
            quiet = _quiet()
            try:
                return fn(*feeds)
            except Exception as exc:
                program.reraise(exc)
            finally:
                _loud(quiet)
                lock.release()

        return run

    def _program(self, pooled: bool, checked: bool) -> _Program:
        program = self._programs.get((pooled, checked))
        if program is None:
            arena = self._arena if pooled else None
            program = _Program(Lowering(self.graph, self.plan, arena, checked))
            self._programs[(pooled, checked)] = program
        return program


class _Program:
    """A compiled program: its source, function, and which line runs which node."""

    def __init__(self, lowering: Lowering):
        self.source = lowering.source()
        self.line_nodes = lowering.line_nodes
        self.filename = os.path.join(_HERE, f"<compiled {lowering.graph.name} {next(_PROGRAMS)}>")
        code = compile(self.source, self.filename, "exec")
        namespace = dict(lowering.namespace)
        exec(code, namespace)  # noqa: S102  (our own generated code)
        self.fn = namespace[lowering.fn_name]
        self._code = self.fn.__code__
        # Tracebacks and debuggers show the generated lines.
        lines = self.source.splitlines(keepends=True)
        _forget_stale_sources()
        linecache.cache[self.filename] = (len(self.source), None, lines, self.filename)
        weakref.finalize(self, _STALE_SOURCES.append, self.filename)

    def run(self, feeds: list) -> list:
        quiet = _quiet()  # NaN and Inf are IEEE results, not warnings
        try:
            return self.fn(*feeds)
        except Exception as exc:
            self.reraise(exc)
        finally:
            _loud(quiet)

    def reraise(self, exc: Exception) -> None:
        """Raise ``exc``, which the program raised, naming the node whose line failed."""
        if isinstance(exc, RilletError):
            node = self._failed_node(exc.__traceback__)[0]
            attach_context(exc, None if node is None else node.op)
            raise exc
        if isinstance(exc, _KERNEL_ERRORS):
            node, shapes = self._failed_node(exc.__traceback__)
            if node is not None:
                raise ShapeError(
                    f"graph node {node.name} cannot compute on inputs of shapes {shapes}: {exc}",
                    op=node.op,
                ) from exc
        raise exc

    def _failed_node(self, tb) -> tuple[Node | None, str]:
        """The node whose line raised, and the shapes of its inputs at that moment."""
        while tb is not None and tb.tb_frame.f_code is not self._code:
            tb = tb.tb_next
        if tb is None or tb.tb_lineno not in self.line_nodes:
            return None, ""
        node, names = self.line_nodes[tb.tb_lineno]
        local = tb.tb_frame.f_locals
        shapes = ", ".join(str(getattr(local.get(n), "shape", None)) for n in names)
        return node, shapes


try:  # NumPy 2's error state is a context variable: set it directly (0.15 us, errstate 0.8)
    from numpy._core.umath import _extobj_contextvar, _make_extobj

    _IGNORE_ALL = _make_extobj(all="ignore")

    def _quiet():
        """Ignore floating-point errors until ``_loud(token)``."""
        return _extobj_contextvar.set(_IGNORE_ALL)

    def _loud(token) -> None:
        _extobj_contextvar.reset(token)

except ImportError:  # another NumPy: its public context manager

    def _quiet():
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def _loud(state) -> None:
        state.__exit__(None, None, None)


# Sources of collected programs, dropped from linecache when the next program is made: a
# finalizer may run in the middle of linecache.checkcache's loop over the cache (a garbage
# collection there), which then fails on the entry that vanished.
_STALE_SOURCES: list[str] = []


def _forget_stale_sources() -> None:
    while _STALE_SOURCES:
        linecache.cache.pop(_STALE_SOURCES.pop(), None)


def _aligned_bytes(size: int) -> np.ndarray:
    """``size`` bytes starting on an ``ALIGNMENT`` boundary (views of it are aligned too)."""
    raw = np.empty(size + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + size]
