"""Shrinking a failing program to a small one that still fails the same way.

Greedy delta debugging over the program's structure: keep fewer outputs, drop dead steps,
bypass a step (its readers read one of its arguments of the same shape instead), cut the
program at a step (the step becomes a new input of its shape, and what only fed it dies),
and shrink the shapes of inputs, constants and variables. A candidate is kept when it is
still a valid program (:func:`~.generator.replay`) and still disagrees with the same kind
(a value bug stays a value bug). Each kind of edit runs until it finds nothing, and the
whole cycle repeats until no edit helps or the check budget is spent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np

from .generator import InvalidProgram, replay
from .oracle import Disagreement, check_program
from .program import (
    CONST,
    INPUT,
    LEAVES,
    VARIABLE,
    Program,
    Step,
    live_steps,
    readers,
    remove_step,
    replace_step,
)

Predicate = Callable[[Program], bool]


def same_failure(kind: str, modes=None) -> Predicate:
    """A predicate: the program is valid and disagrees with a disagreement of ``kind``."""

    def fails(candidate: Program) -> bool:
        try:
            replay(candidate)
        except InvalidProgram:
            return False
        try:
            found = check_program(candidate, modes)
        except Exception:  # eager execution itself fails: not the same failure
            return False
        return found is not None and found.kind == kind

    return fails


def shrink(program: Program, failure: Disagreement, budget: int = 400, modes=None) -> Program:
    """A small program failing like ``program`` (``failure`` is its disagreement); at most
    ``budget`` candidates are checked."""
    return shrink_with(program, same_failure(failure.kind, modes), budget)


def shrink_with(program: Program, fails: Predicate, budget: int = 400) -> Program:
    """Shrink ``program`` while ``fails`` holds (the predicate is trusted for validity)."""
    checks = [budget]

    def accept(candidate: Program) -> bool:
        if checks[0] <= 0:
            return False
        checks[0] -= 1
        return fails(candidate)

    # Dead steps do not matter to a graph (pruning drops them), but they still run while
    # the function is traced: when a failure needs them, they are removed one at a time.
    pruned = _without_dead(program)
    prune = pruned == program or accept(pruned)
    program = pruned if prune else program
    changed = True
    while changed and checks[0] > 0:
        changed = False
        for edits in (fewer_outputs, bypasses, cuts, smaller_leaves):
            for candidate in edits(program):
                candidate = _without_dead(candidate) if prune else candidate
                if cost(candidate) < cost(program) and accept(candidate):
                    program, changed = candidate, True
                    break
    return program


def cost(program: Program) -> tuple:
    """What shrinking minimizes, in order: op steps, leaf elements, leaves, source length."""
    leaves = [s for s in program.steps if s.op in LEAVES]
    elements = sum(int(np.prod(_leaf_shape(s), dtype=np.int64)) for s in leaves)
    return program.n_ops, elements, len(leaves), len(str(program))


# -- edits --------------------------------------------------------------------------------


def _without_dead(program: Program) -> Program:
    """``program`` without steps that neither reach an output nor change a variable."""
    live = live_steps(program)
    for i in reversed(range(len(program.steps))):
        if i not in live:
            program = remove_step(program, i, None)
    return program


def fewer_outputs(program: Program) -> Iterator[Program]:
    outputs = program.outputs
    if len(outputs) > 1:
        for o in dict.fromkeys(outputs):
            yield dataclasses.replace(program, outputs=(o,))
        for k in range(len(outputs)):
            yield dataclasses.replace(program, outputs=outputs[:k] + outputs[k + 1 :])


def _spec(builder, i: int) -> tuple:
    return builder.shape(i), builder.dtype_of(i)


def bypasses(program: Program) -> Iterator[Program]:
    """Remove an op step; its readers read an argument of the same shape and dtype."""
    builder = _values(program)
    if builder is None:
        return
    for i in reversed(range(len(program.steps))):
        step = program.steps[i]
        if step.op in LEAVES:
            continue
        if not readers(program, i) and i not in program.outputs:
            yield remove_step(program, i, None)  # an unread state update
            continue
        for a in dict.fromkeys(step.args):
            if program.steps[a].op != VARIABLE and _spec(builder, a) == _spec(builder, i):
                yield remove_step(program, i, a)


def cuts(program: Program) -> Iterator[Program]:
    """Replace an op step by a new input (or a constant) of its shape and dtype."""
    builder = _values(program)
    if builder is None:
        return
    for i in reversed(range(len(program.steps))):
        if program.steps[i].op in LEAVES:
            continue
        shape, dtype = _spec(builder, i)
        yield replace_step(program, i, Step(INPUT, (), {"shape": shape, "dtype": dtype}))
        value = builder.array(i)
        yield replace_step(program, i, Step(CONST, (), {"value": value.tolist(), "dtype": dtype}))


def smaller_leaves(program: Program) -> Iterator[Program]:
    """Shrink one axis of the inputs, constants and variables of one shape (all together,
    as an update needs its variable's shape), to 1 or by one."""
    shapes = {}
    for i, step in enumerate(program.steps):
        if step.op in LEAVES:
            shapes.setdefault(_leaf_shape(step), []).append(i)
    for shape, indices in shapes.items():
        for axis, size in enumerate(shape):
            for new in dict.fromkeys((1, size - 1)):
                if 1 <= new < size:
                    groups = [indices] + ([[i] for i in indices] if len(indices) > 1 else [])
                    for group in groups:
                        yield _resized_all(program, group, axis, new)


def _resized_all(program: Program, indices: list[int], axis: int, size: int) -> Program:
    for i in indices:
        program = replace_step(program, i, _resized(program.steps[i], axis, size))
    return program


def _leaf_shape(step: Step) -> tuple:
    if step.op == INPUT:
        return tuple(step.attrs["shape"])
    return tuple(np.shape(step.attrs["value"]))


def _resized(step: Step, axis: int, size: int) -> Step:
    attrs = dict(step.attrs)
    if step.op == INPUT:
        shape = list(attrs["shape"])
        shape[axis] = size
        attrs["shape"] = tuple(shape)
    else:
        value = np.asarray(attrs["value"])
        attrs["value"] = np.take(value, range(size), axis=axis).tolist()
    return Step(step.op, (), attrs)


def _values(program: Program):
    try:
        return replay(program)
    except InvalidProgram:
        return None


__all__ = ["shrink", "shrink_with", "same_failure"]
