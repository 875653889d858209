"""The interpreter: runs a graph's nodes in order through the registry's kernels.

Values are kept in numbered slots and dropped after their last use, so memory is freed as
early as possible and a variable's buffer has no stale readers when an update comes (the
update then runs in place).
"""

from __future__ import annotations

import numpy as np

from ... import _context
from ...errors import ArgumentError, NumericsError, ShapeError
from ...ops._registry import REGISTRY, Spec
from ...ops._rules import fmt
from ...tensor import Tensor
from ..ir import CONSTANT, PLACEHOLDER, Graph


class _Step:
    __slots__ = ("op", "kind", "inputs", "attrs", "spec", "outputs", "free")


class Interpreter:
    """Runs ``graph``; calling it with the inputs returns the flat list of output tensors."""

    def __init__(self, graph: Graph):
        self.graph = graph
        slots: dict[int, int] = {}
        for node in graph.nodes:
            for value in node.outputs:
                slots[id(value)] = len(slots)
        self.n_slots = len(slots)
        self.input_slots = [slots[id(v)] for v in graph.inputs]
        self.output_slots = [slots[id(v)] for v in graph.outputs]
        self.steps = [self._step(node, slots) for node in graph.nodes]
        self._plan_frees()

    def _step(self, node, slots) -> _Step:
        step = _Step()
        step.kind = node.op if node.op in (PLACEHOLDER, CONSTANT) else "op"
        step.op = None if step.kind != "op" else REGISTRY[node.op]
        step.inputs = [None if v is None else slots[id(v)] for v in node.inputs]
        step.attrs = node.attrs
        specs = [Spec(v.shape, v.dtype) for v in node.outputs]
        step.spec = specs[0] if len(specs) == 1 and step.kind != "op" else specs
        if step.kind == "op":
            rule_spec = step.op.rule(*[v for v in node.inputs], **node.attrs)
            step.spec = rule_spec  # same structure (single Spec or list) as in eager
        step.outputs = [slots[id(v)] for v in node.outputs]
        step.free = []
        return step

    def _plan_frees(self) -> None:
        """After each step, free the slots it read for the last time."""
        last_use: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            for slot in step.inputs:
                if slot is not None:
                    last_use[slot] = i
        keep = set(self.output_slots)
        for slot, i in last_use.items():
            if slot not in keep:
                self.steps[i].free.append(slot)

    def __call__(self, *inputs) -> list[Tensor]:
        return [Tensor._wrap(a) for a in self.run_arrays(self._feeds(inputs))]

    def _feeds(self, inputs) -> list[np.ndarray]:
        if len(inputs) != len(self.input_slots):
            raise ArgumentError(
                f"graph {self.graph.name} takes {len(self.input_slots)} inputs, got {len(inputs)}"
            )
        return [_feed(x, v) for x, v in zip(inputs, self.graph.inputs)]

    def run_arrays(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        env: list = [None] * self.n_slots
        for slot, array in zip(self.input_slots, feeds):
            env[slot] = array
        check = _context.FLAGS.check_numerics
        for step in self.steps:
            if step.kind == "op":
                args = [None if s is None else env[s] for s in step.inputs]
                result = _context.compute(step.op, args, step.attrs, step.spec)
                results = [result] if type(step.spec) is Spec else result
                for slot, array in zip(step.outputs, results):
                    env[slot] = array
                if check:
                    _check_numerics(step, args, results)
            elif step.kind == CONSTANT:
                env[step.outputs[0]] = step.attrs["value"]
            for slot in step.free:
                env[slot] = None
        return [env[s] for s in self.output_slots]


def _feed(x, value) -> np.ndarray:
    """An input as an array of the placeholder's dtype, or an error naming the mismatch."""
    array = x._value if isinstance(x, Tensor) else np.asarray(x)
    if array.dtype != value.dtype:
        array = array.astype(value.dtype)
    shape = value.shape
    if array.shape == shape:
        return array
    if len(array.shape) != len(shape) or any(
        s is not None and s != a for s, a in zip(shape, array.shape)
    ):
        raise ShapeError(f"input {value.name} expects shape {fmt(shape)}, got {fmt(array.shape)}")
    return array


def _check_numerics(step, args, results) -> None:
    for array in results:
        if array.dtype.kind in "fV" and not np.isfinite(array.astype(np.float32)).all():
            finite_in = all(
                a is None or a.dtype.kind not in "fV" or np.isfinite(a.astype(np.float32)).all()
                for a in args
            )
            if finite_in:
                raise NumericsError(
                    f"produced NaN or Inf in an output of shape {array.shape}", op=step.op.name
                )
