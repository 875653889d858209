"""Catalog entries: elementwise ops (unary, binary with broadcasting, where, clip)."""

from __future__ import annotations

import numpy as np

from .catalog import (
    abs_guard,
    away_from,
    broadcast_partner,
    broadcasts,
    entry,
    kink_guard,
    min_guard,
)

# -- elementwise: unary -------------------------------------------------------------------


def _unary(builder, attrs=None):
    i = builder.pick()
    return ([i], dict(attrs or {})) if i is not None else None


def _domain(low, absolute=False):
    """Propose on a value in the domain ``x > low`` (``|x| > low``), else a positive input."""

    def ok(builder, i):
        x = builder.array(i)
        return x.size > 0 and (np.abs(x).min() if absolute else x.min()) > low

    def propose(builder):
        i = builder.pick(lambda j: ok(builder, j))
        if i is None:
            i = builder.input(builder.shape(builder.pick()), positive=True)
        return [i], {}

    return propose


SMOOTH = (
    "tanh sigmoid sin cos softsign negative square softplus gelu silu selu erf exp expm1 "
    "stop_gradient"
).split()
for _name in SMOOTH:
    entry(_name, f"rl.{_name}({{0}})", _unary, weight=0.6)
entry("tan", "rl.tan({0})", _unary, lambda m, a, x: bool(np.abs(x).max(initial=0) < 1.2), 0.3)
entry(
    "elu",
    "rl.elu({0}, alpha={alpha!r})",
    lambda b: _unary(b, {"alpha": float(b.rng.choice([1.0, 0.5]))}),
    kink_guard(0.0),
    0.4,
)
entry(
    "leaky_relu",
    "rl.leaky_relu({0}, alpha={alpha!r})",
    lambda b: _unary(b, {"alpha": float(b.rng.choice([0.2, 0.01]))}),
    kink_guard(0.0),
    0.4,
)
entry("relu", "rl.relu({0})", _unary, kink_guard(0.0), 0.8)
entry("abs", "rl.abs({0})", _unary, kink_guard(0.0), 0.5)
entry("relu6", "rl.relu6({0})", _unary, kink_guard(0.0, 6.0), 0.3)
entry("sign", "rl.sign({0})", _unary, kink_guard(0.0), 0.2)
entry(
    "floor",
    "rl.floor({0})",
    _unary,
    lambda m, a, x: away_from(m, x - np.round(x), 0.0, 1.0, -1.0),
    0.2,
)
entry("round", "rl.round({0})", _unary, lambda m, a, x: away_from(m, x - np.floor(x), 0.5), 0.2)
entry("log", "rl.log({0})", _domain(0.05), min_guard(0.05), 0.5)
entry("sqrt", "rl.sqrt({0})", _domain(0.05), min_guard(0.05), 0.4)
entry("rsqrt", "rl.rsqrt({0})", _domain(0.1), min_guard(0.1), 0.3)
entry("log1p", "rl.log1p({0})", _domain(-0.9), min_guard(-0.9), 0.3)
entry("reciprocal", "rl.reciprocal({0})", _domain(0.2, absolute=True), abs_guard(0.2), 0.3)


# -- elementwise: binary, where, clip -----------------------------------------------------

SCALARS = [0.0, 1.0, -1.0, 2.0, 0.5, 3.0, -0.25]


def _operand(builder, shape, accept=None):
    """A second operand broadcasting with ``shape``: an existing value, a new input or a
    new constant (index), or None."""
    roll = builder.rng.random()

    def fits(j):
        return broadcasts(shape, builder.shape(j)) and (accept is None or accept(j))

    if roll < 0.7:
        found = builder.pick(fits)
        if found is not None:
            return found
    partner = broadcast_partner(builder.rng, shape)
    index = builder.const(partner) if roll > 0.85 else builder.input(partner)
    return index if accept is None or accept(index) else None


def _binary_source(op):
    def source(names, attrs):
        operands = list(names)
        if "scalar" in attrs:
            at = 0 if attrs.get("scalar_first") else len(operands)
            operands.insert(at, repr(attrs["scalar"]))
        return f"rl.{op}({', '.join(operands)})"

    return source


def _binary(scalars=SCALARS, accept_first=None, accept_second=None):
    def propose(builder):
        i = builder.pick(accept_first)
        if i is None:
            return None
        if builder.rng.random() < 0.3 and scalars:
            attrs = {"scalar": float(builder.rng.choice(scalars))}
            if builder.rng.random() < 0.3:
                attrs["scalar_first"] = True
            return [i], attrs
        j = _operand(builder, builder.shape(i), accept_second)
        return None if j is None else ([i, j], {})

    return propose


def _binary_arrays(attrs, arrays):
    """The two operands as arrays, with the scalar put where the source puts it."""
    if "scalar" not in attrs:
        return arrays
    scalar = np.asarray(attrs["scalar"])
    return (scalar, arrays[0]) if attrs.get("scalar_first") else (arrays[0], scalar)


def _divide_guard(margin, attrs, *arrays):
    _, den = _binary_arrays(attrs, arrays)
    return bool(np.abs(den).min(initial=np.inf) > 0.2)


def _extremum_guard(margin, attrs, *arrays):
    x, y = _binary_arrays(attrs, arrays)
    return away_from(margin, np.asarray(x) - np.asarray(y), 0.0)


def _power_guard(margin, attrs, *arrays):
    base, exponent = _binary_arrays(attrs, arrays)
    return bool(np.min(base, initial=np.inf) > 0.2 and np.abs(exponent).max(initial=0) <= 3)


for _name, _weight in [("add", 1.0), ("subtract", 1.0), ("multiply", 1.0)]:
    entry(_name, _binary_source(_name), _binary(), weight=_weight)
entry("divide", _binary_source("divide"), _binary([2.0, -0.5, 3.0]), _divide_guard, 0.5)
entry("maximum", _binary_source("maximum"), _binary(), _extremum_guard, 0.4)
entry("minimum", _binary_source("minimum"), _binary(), _extremum_guard, 0.4)


def _power_propose(builder):
    def positive(j):
        return builder.array(j).size > 0 and builder.array(j).min() > 0.2

    i = builder.pick(positive)
    if i is None:
        i = builder.input(builder.shape(builder.pick()), positive=True)
    return [i], {"scalar": float(builder.rng.choice([2.0, 3.0, 0.5, -1.0, 1.5, -0.5]))}


entry("power", _binary_source("power"), _power_propose, _power_guard, 0.3)


def _where_source(names, attrs):
    other = names[2] if len(names) == 3 else repr(attrs["scalar"])
    return f"rl.where(rl.greater({names[0]}, 0.0), {names[1]}, {other})"


def _where_propose(builder):
    c = builder.pick()
    if c is None:
        return None
    a = _operand(builder, builder.shape(c))
    if a is None:
        return None
    if builder.rng.random() < 0.4:
        return [c, a], {"scalar": float(builder.rng.choice(SCALARS))}
    shape = np.broadcast_shapes(builder.shape(c), builder.shape(a))
    b = _operand(builder, shape)
    return None if b is None else ([c, a, b], {})


entry("where", _where_source, _where_propose, lambda m, a, c, *rest: away_from(m, c, 0.0), 0.5)


def _clip_propose(builder):
    lo, hi = builder.rng.choice([None, -1.0, -0.5, 0.0]), builder.rng.choice([None, 0.5, 1.0])
    if lo is None and hi is None:
        hi = 1.0
    i = builder.pick()
    return [i], {"lo": None if lo is None else float(lo), "hi": None if hi is None else float(hi)}


entry(
    "clip",
    "rl.clip({0}, {lo!r}, {hi!r})",
    _clip_propose,
    lambda m, a, x: away_from(m, x, *[p for p in (a["lo"], a["hi"]) if p is not None]),
    0.3,
)
