"""The oracle: a program must give the same outputs, gradients and variable updates eagerly
and in every graph mode.

:func:`check_function` runs a function of tensors (and variables) eagerly and through
``rl.function`` with the passes off and on, under the interpreter and the compiled executor.
Each mode differentiates the weighted sum of the outputs with a ``GradientTape`` inside the
function (so graph modes build symbolic gradients) with respect to every input and variable.
Each graph function is called twice, the second time on slightly different inputs: both
calls must match eager execution, and the first call's results must not change during the
second (a compiled executor must not hand out buffers it writes again).

Tolerances, relative to each tensor's scale (``max(1, max|expected|)``): the graph may
legitimately compute in another order than eager code (fused kernels, folded constants),
which changes results by a few ulps per op, amplified by at most the modest condition
numbers the generator allows. Measured by multiplying every rounding op's result in the
graph by ``1 + k eps`` (``|k| <= 4``) over 2000 programs, the largest error seen, relative
to the scale, was 6e-14 in float64 programs and 3e-5 in float32 (and mixed) ones (1.4e-6
for ``|k| <= 1``); the tolerances, 1e-9 and 1e-3, leave margins of 10^4 and 30, while a wrong
rewrite (a flipped sign, a lost term, a stale buffer) makes errors of order 1.
``tests/graph/test_fuzz.py`` keeps checking that such noise passes and such bugs do not.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import rillet as rl

from .program import INPUT, VARIABLE, Program, build, leaf_arrays

TOLERANCE = {"float64": 1e-9, "float32": 1e-3, "mixed": 1e-3}

# Each graph mode: the options given to rl.function.
MODES = {
    "interpreter": {"optimize": False, "executor": "interpreter"},
    "compiled": {"optimize": False, "executor": "compiled"},
    "optimized-interpreter": {"optimize": True, "executor": "interpreter"},
    "optimized": {"optimize": True, "executor": "compiled"},
}
SECOND_CALL_CHANGE = 1e-3  # relative change of the inputs for the second call


class Disagreement(AssertionError):
    """A graph mode disagrees with eager execution.

    ``kind``: ``"value"``, ``"gradient"``, ``"variable"``, ``"aliasing"`` (a result changed
    after a later call), ``"shape"`` (shape or dtype differ), ``"verify"`` (the graph that
    ran is malformed), ``"state"`` (its stateful nodes differ from the traced graph's) or
    ``"error:<Type>"`` (the mode raised); ``mode``: a key of :data:`MODES`.
    """

    def __init__(self, kind: str, mode: str, message: str):
        super().__init__(f"{kind} disagreement in mode {mode!r}: {message}")
        self.kind, self.mode, self.message = kind, mode, message


@dataclasses.dataclass
class Results:
    """What one run produced, as arrays."""

    outputs: list
    gradients: list
    variables: list

    def groups(self):
        return (("value", self.outputs), ("gradient", self.gradients), ("variable", self.variables))


def cotangent(shape: tuple, dtype, k: int) -> np.ndarray:
    """The weight of output ``k`` in the differentiated sum: fixed, varied, nonzero values,
    so that a gradient that cancels for a plain sum (softmax, a mean) is still checked."""
    size = int(np.prod(shape, dtype=np.int64))
    values = 0.5 + ((np.arange(size) * 7 + 3 * k) % 11) / 10.0
    return values.reshape(shape).astype(dtype)


def differentiated(fn, n_inputs: int):
    """``fn`` returning its outputs and the gradients of their weighted sum with respect to
    all its arguments (the inputs, then the variables), computed by a GradientTape."""

    def run(*args):
        with rl.GradientTape() as tape:
            for x in args[:n_inputs]:
                tape.watch(x)
            outputs = list(fn(*args))
            terms = [
                rl.sum(rl.multiply(out, cotangent(out.shape, out.dtype, k)))
                for k, out in enumerate(outputs)
            ]
            total = terms[0]
            for term in terms[1:]:
                total = rl.add(total, term)
        return outputs, list(tape.gradient(total, list(args), unconnected_gradients="zero"))

    return run


def perturbed(inputs: list) -> list:
    """The inputs of the second call: every value changed by a small relative amount (signs
    kept, so positive inputs stay in the domains they were drawn for)."""
    out = []
    for x in inputs:
        wave = np.sin(np.arange(x.size, dtype=np.float64) + 1.0).reshape(x.shape)
        out.append((x * (1.0 + SECOND_CALL_CHANGE * wave)).astype(x.dtype))
    return out


def _arrays(tensors) -> list:
    return [np.array(t.numpy(), copy=True) for t in tensors]


def _arguments(inputs, variables) -> list:
    return [*(rl.asarray(x) for x in inputs), *variables]


def _call(fn, inputs, variables) -> tuple:
    return fn(*_arguments(inputs, variables))


def run_eagerly(fn, inputs: list, variable_values: list) -> Results:
    variables = [rl.Variable(np.array(v, copy=True)) for v in variable_values]
    outputs, gradients = _call(differentiated(fn, len(inputs)), inputs, variables)
    return Results(_arrays(outputs), _arrays(gradients), _arrays(variables))


def compare(kind: str, mode: str, got: list, want: list, tolerance: float) -> None:
    """Raise a Disagreement unless ``got`` matches ``want`` array by array."""
    for k, (g, w) in enumerate(zip(got, want)):
        where = f"{kind} {k}"
        if g.shape != w.shape or g.dtype != w.dtype:
            raise Disagreement(
                "shape", mode, f"{where}: got {g.dtype}{g.shape}, eager gives {w.dtype}{w.shape}"
            )
        wide_g, wide_w = g.astype(np.float64), w.astype(np.float64)
        finite = np.isfinite(wide_w)
        scale = max(1.0, float(np.abs(wide_w[finite]).max(initial=0.0)))
        error = np.abs(wide_g - wide_w)
        bad = ~(
            (error <= tolerance * (scale + np.abs(wide_w)))
            | (wide_g == wide_w)
            | (np.isnan(wide_g) & np.isnan(wide_w))
        )
        if bad.any():
            at = tuple(int(a) for a in np.argwhere(bad)[0])
            raise Disagreement(
                kind,
                mode,
                f"{where} differs at {at}: got {float(wide_g[at])!r}, "
                f"eager gives {float(wide_w[at])!r} (tolerance {tolerance:g} x "
                f"scale {scale:g})",
            )


def _compare_results(mode: str, got: Results, want: Results, tolerance: float) -> None:
    if len(got.outputs) != len(want.outputs):
        raise Disagreement(
            "shape", mode, f"{len(got.outputs)} outputs, eager gives {len(want.outputs)}"
        )
    for (kind, g), (_, w) in zip(got.groups(), want.groups()):
        compare(kind, mode, g, w, tolerance)


def check_mode(mode, fn, inputs, variable_values, references, tolerance) -> None:
    """Run ``fn`` in graph ``mode`` twice (inputs, then perturbed inputs) and compare."""
    traced = rl.function(differentiated(fn, len(inputs)), **MODES[mode])
    variables = [rl.Variable(np.array(v, copy=True)) for v in variable_values]
    try:
        first = _call(traced, inputs, variables)
        snapshot = Results(_arrays(first[0]), _arrays(first[1]), _arrays(variables))
        _compare_results(mode, snapshot, references[0], tolerance)
        check_graph(mode, traced.get_concrete_function(*_arguments(inputs, variables)))
        for variable, value in zip(variables, variable_values):
            variable.assign(value)
        second = _call(traced, perturbed(inputs), variables)
    except Disagreement:
        raise
    except Exception as error:
        raise Disagreement(f"error:{type(error).__name__}", mode, str(error)) from error
    for kind, tensors, saved in (
        ("value", first[0], snapshot.outputs),
        ("gradient", first[1], snapshot.gradients),
    ):
        try:
            compare(kind, mode, _arrays(tensors), saved, 0.0)
        except Disagreement as found:
            raise Disagreement(
                "aliasing", mode, f"the first call's {found.message}, after a second call"
            ) from None
    if references[1] is not None:
        got = Results(_arrays(second[0]), _arrays(second[1]), _arrays(variables))
        _compare_results(mode, got, references[1], tolerance)


def effects_by_variable(graph) -> dict[int, list]:
    """Each variable's stateful nodes (by the variable's ``id``) in order: (op, mode);
    stateful nodes of no known variable under ``id(None)``."""
    found: dict[int, list] = {}
    for node in graph.nodes:
        if node.stateful:
            for key in {id(v) for v in node.variables} or {id(None)}:
                found.setdefault(key, []).append((node.op, node.attrs.get("mode")))
    return found


def check_graph(mode: str, concrete) -> None:
    """The graph that ran is well formed, and keeps the traced graph's state updates and
    reads: passes never remove or merge stateful nodes, nor reorder those of one variable
    (an update may move past another variable's: rillet/graph/passes/schedule.py)."""
    try:
        from ...graph.verify import GraphError, verify
    except ModuleNotFoundError:  # (the verifier is optional)
        GraphError, verify = (), None
    if verify is not None:
        try:
            verify(concrete.graph)
        except GraphError as error:
            raise Disagreement("verify", mode, str(error)) from None
    before, after = effects_by_variable(concrete.traced_graph), effects_by_variable(concrete.graph)
    if before != after:
        changed = [k for k in before.keys() | after.keys() if before.get(k) != after.get(k)]
        raise Disagreement(
            "state",
            mode,
            f"a variable's stateful nodes {before.get(changed[0])} became {after.get(changed[0])}",
        )


def check_function(fn, inputs, variables=(), tolerance: float = 1e-9, modes=None) -> None:
    """Check that ``fn`` (returning a tuple of tensors) agrees in every graph mode with
    eager execution on ``inputs`` (arrays) and variables made from ``variables`` (arrays);
    raise :class:`Disagreement` if not.

    >>> import numpy as np, rillet as rl
    >>> def program(x):
    ...     return (rl.tanh(x) * 2.0,)
    >>> check_function(program, [np.linspace(-1.0, 1.0, 4)])
    """
    inputs = [np.asarray(x) for x in inputs]
    variables = [np.asarray(v) for v in variables]
    first = run_eagerly(fn, inputs, variables)
    second = run_eagerly(fn, perturbed(inputs), variables)
    if not all(np.isfinite(a).all() for _, group in second.groups() for a in group):
        second = None  # the perturbed inputs left a domain: compare the first call only
    for mode in modes or MODES:
        check_mode(mode, fn, inputs, variables, (first, second), tolerance)


def check_program(program: Program, modes=None) -> Disagreement | None:
    """The first disagreement of ``program`` between eager and graph modes, or None."""
    try:
        check_function(
            build(program),
            leaf_arrays(program, INPUT),
            leaf_arrays(program, VARIABLE),
            TOLERANCE[program.precision],
            modes,
        )
    except Disagreement as found:
        return found
    return None
