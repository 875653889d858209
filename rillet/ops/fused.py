"""``fused_elementwise``: one op that evaluates a small program of elementwise ops.

The graph pass ``fuse_elementwise`` replaces a tree of elementwise nodes by one node of this
op, so the program runs as one kernel call. The program is data, not code: a tuple of
instructions ``(op_name, args, attrs)`` in SSA order, where ``args`` are register numbers
(registers ``0 .. n-1`` are the op's inputs, register ``n + k`` is instruction ``k``'s
result, ``None`` an absent optional input) and ``attrs`` is a tuple of ``(name, value)``
pairs. The last instruction's result is the output. Being tuples of names and numbers, a
program is hashable and survives a graph's JSON round trip.

>>> import rillet as rl
>>> from rillet.ops.fused import fused_elementwise
>>> relu_affine = (("multiply", (0, 1), ()), ("add", (3, 2), ()), ("relu", (4,), ()))
>>> x, w, b = rl.asarray([[1.0, -2.0]]), rl.asarray([[3.0, 1.0]]), rl.asarray([0.5, 0.5])
>>> fused_elementwise([x, w, b], program=relu_affine).numpy().tolist()
[[3.5, 0.0]]

Each instruction runs its registered op's own kernel, rule and gradient rule: the op is
still defined once. The kernel is generated NumPy code, one straight-line Python function
per program and input signature that calls the instructions' kernels and writes results
over dying intermediates, or into the caller's ``out=``, instead of allocating. NumPy, not
numexpr or Numba, by measurement (benchmarks/RESULTS.md, "Elementwise fusion").
"""

from __future__ import annotations

import math
import operator
import sys

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, RilletError
from ._registry import REGISTRY, Spec, defop

__all__: list[str] = []

# The ops a program may use: pointwise ops with broadcasting rules whose kernels write
# ``out`` only in their final step, so that ``out`` may be one of their inputs.
ELEMENTWISE = frozenset(
    {
        # arithmetic
        "add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power",
        "negative", "abs", "sign", "square", "reciprocal", "maximum", "minimum", "clip",
        "floor", "ceil", "round",
        # math functions
        "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "erf",
        # activations
        "sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus",
        "softsign",
        # selection, tests, comparisons and logic
        "where", "stop_gradient", "isnan", "isinf", "isfinite", "equal", "not_equal", "less",
        "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_xor",
        "logical_not",
    }
)  # fmt: skip


# --- the program --------------------------------------------------------------------------


def check_program(program, n_inputs: int) -> None:
    """Raise ArgumentError unless ``program`` is a well-formed program over ``n_inputs``."""
    if not isinstance(program, (tuple, list)) or not program:
        raise ArgumentError(f"program must be a non-empty tuple of instructions, got {program!r}")
    for k, instruction in enumerate(program):
        if not (isinstance(instruction, (tuple, list)) and len(instruction) == 3):
            raise ArgumentError(
                f"instruction {k} must be (op_name, args, attrs), got {instruction!r}"
            )
        name, args, attrs = instruction
        if not isinstance(name, str) or name not in ELEMENTWISE:
            raise ArgumentError(f"instruction {k}: {name!r} is not a fusable elementwise op")
        if not isinstance(args, (tuple, list)) or not isinstance(attrs, (tuple, list)):
            raise ArgumentError(f"instruction {k} ({name}): args and attrs must be tuples")
        for ref in args:
            if ref is not None and not (type(ref) is int and 0 <= ref < n_inputs + k):
                raise ArgumentError(
                    f"instruction {k} ({name}) reads register {ref!r}; registers 0.."
                    f"{n_inputs + k - 1} are defined there"
                )
        if not all(isinstance(a, (tuple, list)) and len(a) == 2 for a in attrs):
            raise ArgumentError(f"instruction {k} ({name}): attrs must be (name, value) pairs")
        unknown = [a for a, _ in attrs if a not in REGISTRY[name].attr_names]
        if unknown:
            raise ArgumentError(
                f"instruction {k} ({name}): unknown attribute {unknown[0]!r}; {name} takes "
                f"{', '.join(REGISTRY[name].attr_names) or 'none'}"
            )


def _fused_rule(*inputs, program):
    """Run each instruction's own rule on the specs: broadcasting and dtypes as unfused."""
    check_program(program, len(inputs))
    specs = list(inputs)
    for name, args, attrs in program:
        try:
            op = REGISTRY[name]
            spec = op.rule(*[None if a is None else specs[a] for a in args], **_attrs(op, attrs))
        except RilletError as error:
            error.message = f"{name}: {error.message}"
            raise
        specs.append(spec)
    return Spec(tuple(specs[-1].shape), specs[-1].dtype)


@defop(rule=_fused_rule, variadic=True)
def fused_elementwise(xp, *inputs, program, out=None):
    """The result of ``program`` (see the module docstring) on ``inputs``.

    Called as ``fused_elementwise([x, y, ...], program=...)``. Float16 and bfloat16 inputs
    are computed in float32 throughout and rounded once, at the end.
    """
    return _plan(program, inputs).run(xp, *inputs, out)


@fused_elementwise.defvjp
def _fused_elementwise_vjp(g, y, *inputs, program):
    # Replay the program with the registered ops (so outer tapes and tracers see them),
    # then walk it backwards through each op's own VJP, accumulating per register.
    from ..autodiff.engine import fit_gradient  # sum broadcast gradients back, as the engine

    values = replay(inputs, program[:-1]) + [y]
    grads: list = [None] * len(values)
    grads[-1] = g
    for k in reversed(range(len(program))):
        name, args, attrs = program[k]
        g_k, op = grads[len(inputs) + k], REGISTRY[name]
        if g_k is None or not op.differentiable:
            continue
        arg_values = [None if a is None else values[a] for a in args]
        contributions = op.vjp(g_k, values[len(inputs) + k], *arg_values, **_attrs(op, attrs))
        for ref, c in zip(args, contributions):
            if ref is not None and c is not None and _dtypes.is_floating(values[ref].dtype):
                c = fit_gradient(c, values[ref])
                grads[ref] = c if grads[ref] is None else grads[ref] + c
    return tuple(grads[: len(inputs)])


def replay(inputs, program) -> list:
    """The registers of ``program`` run op by op on tensors ``inputs`` (in any context)."""
    values = list(inputs)
    for name, args, attrs in program:
        op_inputs = [None if a is None else values[a] for a in args]
        values.append(_call(REGISTRY[name], op_inputs, attrs))
    return values


def _call(op, inputs: list, attrs):
    from .._context import bind  # the one door, as for any op call

    return bind(op, inputs, _attrs(op, attrs))


def _attrs(op, attrs) -> dict:
    """An instruction's attributes, with the op's defaults for those it leaves out."""
    return {**op.attr_defaults, **dict(attrs)}


# --- the kernel ---------------------------------------------------------------------------

# A result at least this large is written over a dying intermediate of its shape and dtype
# (``out=``) when nothing else holds that array; kernels allocate every other result.
MIN_IN_PLACE_ELEMENTS = 1024


class _Plan:
    """One program compiled for inputs of given shapes and dtypes: straight-line Python
    calling each instruction's registered kernel (see :func:`_generate`).

    The generated source holds only generated names (kernels, attributes and dtypes are
    bound in its namespace), so a program read from a file cannot inject code.
    """

    def __init__(self, program, shapes: tuple, dtypes: tuple):
        n = len(shapes)
        check_program(program, n)  # a loaded graph's kernel may run before any rule
        specs = _register_specs(program, shapes, dtypes)
        self.source, namespace = _generate(program, specs, n)
        exec(compile(self.source, f"<fused program {id(self):x}>", "exec"), namespace)
        self.run = namespace["run"]


def _register_specs(program, shapes: tuple, dtypes: tuple) -> list[Spec]:
    """The spec of every register: the inputs', then each instruction's, by its rule."""
    specs = [Spec(s, d) for s, d in zip(shapes, dtypes)]
    for name, args, attrs in program:
        op = REGISTRY[name]
        specs.append(op.rule(*[None if a is None else specs[a] for a in args], **_attrs(op, attrs)))
    return specs


def _generate(program, specs: list, n: int) -> tuple[str, dict]:
    """The source of ``run(xp, r0, .., out, free=None)`` and the namespace it runs in.

    Each value is deleted after its last reader. A large result is written over a dying
    intermediate argument of its shape and dtype when that array is ours alone at run time
    (a fresh array, not a view, that no other name refers to); the values that lead, each
    written over by the next, to the output are computed in the caller's ``out`` itself when
    it shares no memory with the inputs (``free``); kernels allocate every other result,
    as when unfused (after any temporaries of their own).
    """
    last_use = _last_uses(program, n)
    chain = _out_chain(program, specs, last_use, n)
    inputs = "".join(f"r{i}, " for i in range(n))
    namespace: dict = {"getrefcount": sys.getrefcount, "overlaps": _overlaps}
    body = []
    if chain:  # is the caller's out= free to hold intermediates? (once, for large outputs)
        body.append(
            f"if free is None: free = out is not None and not overlaps(xp, out, ({inputs}))"
        )
    for k, (name, args, attrs) in enumerate(program):
        op, r = REGISTRY[name], f"r{n + k}"
        attrs = _attrs(op, attrs)
        namespace[f"kernel{k}"], namespace[f"dtype{k}"] = op.kernel, specs[n + k].dtype
        namespace.update((f"attr{k}_{i}", v) for i, v in enumerate(attrs.values()))
        keywords = "".join(f"{a}=attr{k}_{i}, " for i, a in enumerate(attrs))
        call = ", ".join("None" if a is None else f"r{a}" for a in args)
        target = _target(k, _in_place_arg(k, args, specs, last_use, n), len(program), chain)
        body.append(f"{r} = kernel{k}(xp, {call}, {keywords}out={target})")
        body.append(f"if {r}.dtype is not dtype{k}: {r} = {r}.astype(dtype{k})")
        dead = sorted({a for a in args if a is not None and a >= n and last_use[a] == k})
        body += ["del " + ", ".join(f"r{a}" for a in dead)] if dead else []
    result = f"r{n + len(program) - 1}"
    body += [f"if out is not None and {result} is not out:"]
    body += [
        f"    xp.copyto(out, {result}, casting='unsafe')",
        "    return out",
        f"return {result}",
    ]
    source = f"def run(xp, {inputs}out, free=None):\n" + "".join(f"    {x}\n" for x in body)
    return source, namespace


def _in_place_arg(k: int, args, specs: list, last_use: dict, n: int) -> int | None:
    """A large intermediate argument of instruction ``k`` that dies there and has the
    shape and dtype of ``k``'s result, or None."""
    spec = specs[n + k]
    if math.prod(spec.shape) < MIN_IN_PLACE_ELEMENTS:
        return None
    for a in args:
        if a is not None and a >= n and last_use[a] == k and specs[a].dtype == spec.dtype:
            if tuple(specs[a].shape) == tuple(spec.shape):
                return a
    return None


def _out_chain(program, specs: list, last_use: dict, n: int) -> set[int]:
    """The instructions before the last whose values lead to the output, each written over
    by the next: they may all run in the caller's ``out``."""
    chain: set[int] = set()
    k = len(program) - 1
    while (a := _in_place_arg(k, program[k][1], specs, last_use, n)) is not None:
        k = a - n
        chain.add(k)
    return chain


def _target(k: int, arg: int | None, length: int, chain: set[int]) -> str:
    """The ``out=`` expression of instruction ``k`` (``arg``: its in-place argument)."""
    mine = "None"
    if arg is not None:
        mine = f"(r{arg} if r{arg}.base is None and getrefcount(r{arg}) == {_EXCLUSIVE} else None)"
    if k == length - 1:
        return "out" if arg is None else f"out if out is not None else {mine}"
    return f"out if free else {mine}" if k in chain else mine


def _overlaps(xp, out, inputs) -> bool:
    """Whether ``out`` may share memory with one of ``inputs``."""
    return any(xp.may_share_memory(out, x) for x in inputs)


def _exclusive_refcount() -> int:
    """What ``getrefcount`` says, in generated code, of an array that only a local holds."""
    namespace = {"getrefcount": sys.getrefcount, "np": np}
    exec("def probe():\n    r = np.empty(2)\n    return getrefcount(r)\n", namespace)
    return namespace["probe"]()


_EXCLUSIVE = _exclusive_refcount()


def _last_uses(program, n_inputs: int) -> dict[int, int]:
    """For each intermediate register, the last instruction that reads it."""
    last: dict[int, int] = {}
    for k, (_, args, _) in enumerate(program):
        for a in args:
            if a is not None and a >= n_inputs:
                last[a] = k
    return last


_SIGNATURE = operator.attrgetter("shape", "dtype")
_PLANS: dict[int, tuple] = {}  # id(program) -> (program, {signature: plan})
MAX_PROGRAMS = 1024


def specialize(program, shapes: tuple, dtypes: tuple):
    """The generated function ``run(xp, *inputs, out)`` that the kernel calls for inputs of
    these shapes and dtypes (after a lookup of about a microsecond per call): an executor
    that knows a node's static signature may call it directly."""
    signature = tuple((tuple(s), d) for s, d in zip(shapes, dtypes))
    return _plan_for(_plans_of(program), program, signature).run


def _plan(program, inputs) -> _Plan:
    """The plan of ``program`` for these inputs' shapes and dtypes, made once."""
    return _plan_for(_plans_of(program), program, tuple(map(_SIGNATURE, inputs)))


def _plans_of(program) -> dict:
    """The plans made for ``program`` so far. Programs are looked up by identity (a graph
    node keeps its program object), so no program is hashed per call."""
    entry = _PLANS.get(id(program))
    if entry is None or entry[0] is not program:
        if len(_PLANS) >= MAX_PROGRAMS:
            _PLANS.clear()
        entry = _PLANS[id(program)] = (program, {})
    return entry[1]


def _plan_for(plans: dict, program, signature: tuple) -> _Plan:
    plan = plans.get(signature)
    if plan is None:
        shapes, dtypes = tuple(s for s, _ in signature), tuple(d for _, d in signature)
        plan = plans[signature] = _Plan(program, shapes, dtypes)
    return plan
