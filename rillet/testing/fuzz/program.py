"""Programs as data: a list of steps that can be printed as Python, replayed and shrunk.

A :class:`Program` is a list of :class:`Step` s. Step ``i`` makes value ``i``; a step's
``args`` are the indices of the values it reads, so a program is a small SSA dataflow graph
written in the order it runs. Three kinds of step make no op call:

* ``input``: an argument of the program (``attrs``: ``shape``, ``dtype``, ``positive``);
  its data is drawn from the program's ``seed``;
* ``const``: a literal tensor written into the program's source (``value``, ``dtype``);
* ``variable``: an ``rl.Variable`` argument (``value``, ``dtype``), read and assigned by
  later steps.

Every other step names an entry of the op catalog (:mod:`.catalog`) whose template turns
it into one line of Python. The printed source is the only definition of what a program
computes: the fuzzer executes that source in every mode, and a shrunk reproducer is the
same source pasted into a test.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import rillet as rl

from .catalog import CATALOG

INPUT, CONST, VARIABLE = "input", "const", "variable"
LEAVES = (INPUT, CONST, VARIABLE)


@dataclasses.dataclass
class Step:
    """One step: an op name of the catalog (or a leaf kind), its argument values, attrs."""

    op: str
    args: tuple[int, ...] = ()
    attrs: dict = dataclasses.field(default_factory=dict)

    def renumbered(self, mapping: dict[int, int]) -> Step:
        return Step(self.op, tuple(mapping[a] for a in self.args), dict(self.attrs))


@dataclasses.dataclass
class Program:
    """Steps, the indices of the values returned, the data seed and the precision
    (``"float64"``, ``"float32"`` or ``"mixed"``: float64 with float32 casts).

    >>> program = Program([Step("input", (), {"shape": (2,), "dtype": "float64"}),
    ...                    Step("tanh", (0,))], outputs=(1,))
    >>> print(program, end="")
    def program(x0):
        v1 = rl.tanh(x0)
        return (v1,)
    """

    steps: list[Step]
    outputs: tuple[int, ...]
    seed: int = 0
    precision: str = "float64"
    # Eager anomalies met while generating (a non-rillet exception, a warning): not part
    # of the program, but worth reporting.
    notes: tuple = dataclasses.field(default=(), compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def n_ops(self) -> int:
        """The number of op steps (leaves not counted)."""
        return sum(step.op not in LEAVES for step in self.steps)

    def indices(self, kind: str) -> list[int]:
        return [i for i, step in enumerate(self.steps) if step.op == kind]

    def name(self, i: int) -> str:
        """The Python name of value ``i`` in the printed source."""
        kind = self.steps[i].op
        return {INPUT: "x", VARIABLE: "var", CONST: "c"}.get(kind, "v") + str(i)

    def __str__(self) -> str:
        return to_source(self)


def input_data(program: Program, index: int, seed: int | None = None) -> np.ndarray:
    """The data of input step ``index``: standard normal values (or ``0.5 + |normal|`` for
    inputs marked positive, which feed ops such as ``log``), drawn from the seed."""
    attrs = program.steps[index].attrs
    rng = np.random.default_rng([program.seed if seed is None else seed, index])
    data = rng.standard_normal(attrs["shape"])
    if attrs.get("positive"):
        data = 0.5 + np.abs(data)
    return np.asarray(data, dtype=attrs["dtype"])


def leaf_arrays(program: Program, kind: str) -> list[np.ndarray]:
    """The arrays of every ``input`` (from the seed) or ``variable`` (its initial value)."""
    if kind == INPUT:
        return [input_data(program, i) for i in program.indices(INPUT)]
    return [
        np.asarray(program.steps[i].attrs["value"], program.steps[i].attrs["dtype"])
        for i in program.indices(kind)
    ]


# -- printing -----------------------------------------------------------------------------


def literal(array: np.ndarray) -> str:
    """``array`` as Python source that rebuilds it exactly (Python floats round-trip)."""
    return f"np.array({array.tolist()!r}, dtype=np.{array.dtype.name})"


def step_source(program: Program, i: int) -> str:
    """The expression computing value ``i``."""
    step = program.steps[i]
    if step.op == CONST:
        return f"rl.asarray({literal(np.asarray(step.attrs['value'], step.attrs['dtype']))})"
    names = [program.name(a) for a in step.args]
    return CATALOG[step.op].source(names, step.attrs)


def to_source(program: Program, name: str = "program") -> str:
    """The program as a Python function of its inputs, then its variables."""
    params = [program.name(i) for i in program.indices(INPUT) + program.indices(VARIABLE)]
    lines = [f"def {name}({', '.join(params)}):"]
    for i, step in enumerate(program.steps):
        if step.op not in (INPUT, VARIABLE):
            lines.append(f"    {program.name(i)} = {step_source(program, i)}")
    outputs = "".join(f"{program.name(i)}, " for i in program.outputs)
    lines.append(f"    return ({outputs.rstrip()})")
    return "\n".join(lines) + "\n"


def build(program: Program, name: str = "program"):
    """The Python function that the program's source defines."""
    namespace = {"rl": rl, "np": np}
    exec(
        compile(to_source(program, name), f"<fuzz program seed={program.seed}>", "exec"), namespace
    )
    return namespace[name]


# -- editing (for the shrinker) -----------------------------------------------------------


def remove_step(program: Program, index: int, replacement: int | None) -> Program:
    """``program`` without step ``index``; its readers (and outputs) read ``replacement``."""
    mapping = {}
    for i in range(len(program.steps)):
        target = replacement if i == index else i
        if target is not None:
            mapping[i] = target - (target > index)
    steps = [s.renumbered(mapping) for i, s in enumerate(program.steps) if i != index]
    outputs = tuple(mapping[o] for o in program.outputs)
    return dataclasses.replace(program, steps=steps, outputs=outputs)


def replace_step(program: Program, index: int, step: Step) -> Program:
    steps = list(program.steps)
    steps[index] = step
    return dataclasses.replace(program, steps=steps)


def readers(program: Program, index: int) -> list[int]:
    """The steps that read value ``index``."""
    return [i for i, step in enumerate(program.steps) if index in step.args]


def live_steps(program: Program) -> set[int]:
    """Steps the outputs depend on, plus every step that assigns a variable (and what it
    reads): state updates are effects, kept even when nothing reads their result."""
    roots = [i for i, s in enumerate(program.steps) if s.op not in LEAVES and CATALOG[s.op].effect]
    live, stack = set(), list(program.outputs) + roots
    while stack:
        i = stack.pop()
        if i not in live:
            live.add(i)
            stack.extend(program.steps[i].args)
    return live
