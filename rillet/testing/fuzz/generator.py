"""Generating random valid programs, and replaying them with the same validity checks.

A :class:`Builder` grows a program one step at a time and runs each step eagerly on the
program's data as it is added. Running the step calls the public op, so its shape rule
accepts or rejects the attributes the catalog proposed (proposals satisfy the rules by
construction most of the time; a rejected one is simply dropped). Running it also gives
concrete values, which keep programs in a well-conditioned domain: every value stays finite
and moderate, and an op with a kink or a tie (``relu``, ``max``, ``where``) is added only
where its input is clearly away from it, so that rounding differences between modes cannot
flip a branch. :func:`replay` runs the same checks on an edited program (the shrinker's
candidates).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

import rillet as rl

from ...errors import RilletError
from .catalog import CATALOG, MARGIN, broadcast_partner, choose_op, random_shape
from .program import CONST, INPUT, LEAVES, VARIABLE, Program, Step, input_data

VALUE_LIMIT = 1e3  # largest magnitude a value may reach: keeps rounding errors comparable
MIN_OPS, MAX_OPS = 5, 30


class InvalidProgram(Exception):
    """A program fails a validity check when replayed (an edit broke a rule or a domain)."""


class Builder:
    """A program under construction with the eager value of every step."""

    def __init__(self, seed: int, precision: str, rng: np.random.Generator | None = None):
        self.program = Program([], (), seed, precision)
        self.rng = rng
        self.margin = MARGIN[precision]
        self.values: list = []  # a Tensor per step; the Variable itself for variable steps
        self.unexpected: list[str] = []  # non-rillet exceptions raised by eager ops

    @property
    def dtype(self) -> str:
        """The dtype of new inputs and constants."""
        return "float32" if self.program.precision == "float32" else "float64"

    # -- reading values -------------------------------------------------------------------

    def array(self, i: int) -> np.ndarray:
        return np.asarray(self.values[i].numpy())

    def shape(self, i: int) -> tuple:
        return tuple(self.values[i].shape)

    def dtype_of(self, i: int) -> str:
        return np.dtype(self.values[i].dtype).name

    def is_variable(self, i: int) -> bool:
        return self.program.steps[i].op == VARIABLE

    def pick(self, accept=None) -> int | None:
        """A value ``accept(i)`` likes, usually one of the most recent (deep programs)."""
        found = [i for i in range(len(self.values)) if accept is None or accept(i)]
        if not found:
            return None
        if self.rng.random() < 0.6:
            found = found[-3:]
        return int(found[self.rng.integers(len(found))])

    # -- adding steps ---------------------------------------------------------------------

    def input(self, shape: tuple, positive: bool = False, dtype: str | None = None) -> int:
        attrs = {"shape": tuple(int(s) for s in shape), "dtype": dtype or self.dtype}
        if positive:
            attrs["positive"] = True
        return self._append_leaf(Step(INPUT, (), attrs))

    def const(self, shape: tuple) -> int:
        return self._append_leaf(Step(CONST, (), self._literal(shape)))

    def variable(self, shape: tuple) -> int:
        return self._append_leaf(Step(VARIABLE, (), self._literal(shape)))

    def _literal(self, shape: tuple) -> dict:
        """Random values in eighths: exact in every float dtype and short to print."""
        value = np.round(self.rng.standard_normal(shape) * 8) / 8
        return {"value": value.tolist(), "dtype": self.dtype}

    def _append_leaf(self, step: Step) -> int:
        self.program.steps.append(step)
        index = len(self.program.steps) - 1
        self.values.append(_leaf_value(self.program, index))
        return index

    def add(self, step: Step) -> bool:
        """Run ``step`` eagerly; keep it if it is valid (rule, domain, finite and moderate)."""
        if step.op in LEAVES:
            self._append_leaf(step)
            return True
        op = CATALOG[step.op]
        arrays = [self.array(a) for a in step.args]
        if op.guard is not None and not op.guard(self.margin, step.attrs, *arrays):
            return False
        value = self._run(step)
        if value is None or not _moderate(value):
            return False
        self.program.steps.append(step)
        self.values.append(value)
        return True

    def _run(self, step: Step):
        names = [f"a{k}" for k in range(len(step.args))]
        scope = {"rl": rl, "np": np, **{n: self.values[a] for n, a in zip(names, step.args)}}
        try:
            with warnings.catch_warnings(record=True) as caught:
                value = eval(CATALOG[step.op].source(names, step.attrs), scope)
        except RilletError:
            return None
        except Exception as error:  # an eager op failed in a way rillet did not name
            self.unexpected.append(f"{step.op}: {type(error).__name__}: {error}")
            return None
        if caught:  # a valid step runs silently (tests make warnings errors)
            self.unexpected.append(f"{step.op}: warned {caught[0].message}")
            return None
        if not isinstance(value, rl.Tensor) or not rl.dtypes.is_floating(value.dtype):
            return None
        if type(value._value) is not np.ndarray:  # an eager bug: report it, do not build on it
            self.unexpected.append(f"{step.op}: made a {type(value._value).__name__}")
            return None
        return value

    def checkpoint(self) -> int:
        return len(self.program.steps)

    def rollback(self, checkpoint: int) -> None:
        del self.program.steps[checkpoint:]
        del self.values[checkpoint:]


def _leaf_value(program: Program, index: int):
    step = program.steps[index]
    if step.op == INPUT:
        return rl.asarray(input_data(program, index))
    value = np.asarray(step.attrs["value"], dtype=step.attrs["dtype"])
    return rl.Variable(value) if step.op == VARIABLE else rl.asarray(value)


def _moderate(value) -> bool:
    """Finite, not too large, and not empty (proposals and guards assume some elements)."""
    array = np.asarray(value.numpy(), dtype=np.float64)
    return bool(array.size and np.isfinite(array).all() and np.abs(array).max() <= VALUE_LIMIT)


# -- generation ---------------------------------------------------------------------------


def generate(seed: int, n_ops: int | None = None, control_flow: bool | None = None) -> Program:
    """A random valid program of ``n_ops`` op steps (5 to 30 when not given), from ``seed``.

    >>> program = generate(seed=1)
    >>> MIN_OPS <= program.n_ops <= MAX_OPS and program.outputs != ()
    True
    """
    rng = np.random.default_rng(seed)
    precision = str(rng.choice(["float64", "float32", "mixed"], p=[0.6, 0.25, 0.15]))
    builder = Builder(seed, precision, rng)
    target = int(n_ops if n_ops is not None else rng.integers(MIN_OPS, MAX_OPS + 1))
    _add_leaves(builder)
    allowed = _allowed_ops(precision, control_flow)
    attempts = 0
    while builder.program.n_ops < target and attempts < 20 * target:
        attempts += 1
        _try_one(builder, choose_op(rng, allowed))
    return _with_outputs(builder)


def _allowed_ops(precision: str, control_flow: bool | None) -> list[str]:
    if control_flow is None:
        control_flow = hasattr(rl, "cond")
    return [
        name
        for name, op in CATALOG.items()
        if (control_flow or op.family != "control") and (precision == "mixed" or name != "cast")
    ]


def _add_leaves(builder: Builder) -> None:
    """One to three inputs of mutually broadcastable shapes, and sometimes variables."""
    rng = builder.rng
    base = random_shape(rng)
    for _ in range(int(rng.integers(1, 4))):
        builder.input(broadcast_partner(rng, base))
    if rng.random() < 0.25:
        for _ in range(int(rng.integers(1, 3))):
            builder.variable(builder.shape(int(rng.integers(len(builder.values)))))


def _try_one(builder: Builder, name: str) -> bool:
    """Propose one step of op ``name`` (maybe with new leaves) and keep it if valid."""
    checkpoint = builder.checkpoint()
    proposal = CATALOG[name].propose(builder)
    if proposal is not None:
        args, attrs = proposal
        if builder.add(Step(name, tuple(args), attrs)):
            return True
    builder.rollback(checkpoint)
    return False


def _with_outputs(builder: Builder) -> Program:
    """Return the last value and up to two other values nothing reads (so that little of
    the program is dead); rarely also any value, an input or a repeat of an output."""
    program, rng = builder.program, builder.rng
    read = {a for step in program.steps for a in step.args}
    candidates = [i for i, s in enumerate(program.steps) if s.op != VARIABLE]
    sinks = [i for i in candidates[:-1] if i not in read and program.steps[i].op not in LEAVES]
    outputs = [candidates[-1]]
    for i in rng.permutation(sinks)[: int(rng.integers(0, 3))]:
        outputs.append(int(i))
    if rng.random() < 0.1:
        outputs.append(int(rng.choice(candidates)))
    notes = tuple(dict.fromkeys(builder.unexpected))
    return dataclasses.replace(program, outputs=tuple(outputs), notes=notes)


def replay(program: Program) -> Builder:
    """Run ``program`` step by step with the generator's checks; raise InvalidProgram if a
    step breaks a rule, leaves its domain or makes an immoderate value."""
    builder = Builder(program.seed, program.precision)
    for i, step in enumerate(program.steps):
        if any(a >= i for a in step.args) or not builder.add(step):
            raise InvalidProgram(f"step {i} ({step.op}) is not valid here")
    if not program.outputs or any(program.steps[o].op == VARIABLE for o in program.outputs):
        raise InvalidProgram("a program returns at least one tensor and no variable")
    return builder


__all__ = ["Builder", "InvalidProgram", "generate", "replay"]
