"""Catalog entries: state (variable updates and reads) and control flow."""

from __future__ import annotations

import numpy as np

from .catalog import broadcasts, entry, pick_ranked

# -- state --------------------------------------------------------------------------------


def _assign_propose(builder):
    v = builder.pick(builder.is_variable)
    if v is None:
        return None

    def fits(j):
        return (
            not builder.is_variable(j)
            and builder.shape(j) == builder.shape(v)
            and builder.dtype_of(j) == builder.dtype_of(v)
        )

    value = builder.pick(fits)
    if value is None:
        value = builder.input(builder.shape(v), dtype=builder.dtype_of(v))
    return [v, value], {"method": str(builder.rng.choice(["assign", "assign_add", "assign_sub"]))}


entry(
    "assign", "{0}.{method}({1}).value()", _assign_propose, weight=0.6, family="state", effect=True
)


def _read_propose(builder):
    v = builder.pick(builder.is_variable)
    return None if v is None else ([v], {})


entry("read", "{0}.value()", _read_propose, weight=0.2, family="state")


# -- control flow -------------------------------------------------------------------------
# Bodies are small smooth snippets of one tensor ``{z}`` (and maybe a captured tensor
# ``{b}`` that broadcasts to ``{z}``'s shape), so every branch and iteration keeps shapes.

BODIES = {
    "tanh": "rl.tanh({z})",
    "sin": "rl.sin({z})",
    "softplus": "rl.softplus({z})",
    "affine": "rl.add(rl.multiply({z}, 0.5), 0.25)",
    "negative": "rl.negative({z})",
    "add_b": "rl.add({z}, {b})",
    "mul_b": "rl.tanh(rl.multiply({z}, {b}))",
}


def _body(name: str, z: str, b: str | None) -> str:
    return BODIES[name].format(z=z, b=b)


def _bodies(builder, captured: bool, count: int) -> list[str]:
    names = [n for n in BODIES if captured or not n.endswith("_b")]
    return [str(builder.rng.choice(names)) for _ in range(count)]


def _captured(builder, a: int) -> list[int]:
    """Sometimes a tensor the bodies capture from outside: it broadcasts into ``a``'s shape
    and has its dtype (so that every branch and iteration keeps both)."""
    if builder.rng.random() < 0.5:
        return []
    shape, dtype = builder.shape(a), builder.dtype_of(a)

    def fits(j):
        other = builder.shape(j)
        same = builder.dtype_of(j) == dtype
        return same and broadcasts(shape, other) and np.broadcast_shapes(shape, other) == shape

    j = builder.pick(fits)
    if j is None:
        rng = builder.rng
        suffix = shape[int(rng.integers(0, len(shape) + 1)) :]
        j = builder.input(tuple(1 if rng.random() < 0.3 else s for s in suffix), dtype=dtype)
    return [j]


def _cond_propose(builder):
    p, a = builder.pick(), builder.pick()
    args = [p, a, *_captured(builder, a)]
    true, false = _bodies(builder, len(args) == 3, 2)
    return args, {"true": true, "false": false}


def _cond_source(names, attrs):
    a, b = names[1], names[2] if len(names) == 3 else None
    return (
        f"rl.cond(rl.greater(rl.sum({names[0]}), 0.0), lambda: {_body(attrs['true'], a, b)}, "
        f"lambda: {_body(attrs['false'], a, b)})"
    )


def _cond_guard(margin, attrs, p, *rest):
    return bool(abs(float(np.sum(p))) > margin * (1.0 + float(np.abs(p).sum())))


def _while_propose(builder):
    a = builder.pick()
    args = [a, *_captured(builder, a)]
    rng = builder.rng
    count = int(rng.integers(0, 4))
    limit = count if rng.random() < 0.6 else int(rng.integers(1, 4))
    return args, {
        "body": _bodies(builder, len(args) == 2, 1)[0],
        "count": count,
        "maximum_iterations": limit,
    }


def _while_source(names, attrs):
    b = names[1] if len(names) == 2 else None
    return (
        f"rl.while_loop(lambda i, v: rl.less(i, {attrs['count']}), lambda i, v: "
        f"(rl.add(i, 1), {_body(attrs['body'], 'v', b)}), (rl.asarray(0), {names[0]}), "
        f"maximum_iterations={attrs['maximum_iterations']})[1]"
    )


SCAN_BODIES = {
    "sum": "rl.add(acc, x)",
    "damped": "rl.tanh(rl.add(rl.multiply(acc, 0.5), x))",
    "gated": "rl.multiply(acc, rl.sigmoid(x))",
    "sin": "rl.add(rl.sin(acc), x)",
}


def _scan_propose(builder):
    a = pick_ranked(builder)
    if a is None:
        return None
    args, row = [a], builder.shape(a)[1:]
    if builder.rng.random() < 0.5:
        init = builder.pick(lambda j: builder.shape(j) == row and not builder.is_variable(j))
        args.append(init if init is not None else builder.input(row))
    return args, {
        "body": str(builder.rng.choice(list(SCAN_BODIES))),
        "reverse": bool(builder.rng.random() < 0.3),
    }


def _scan_source(names, attrs):
    init = f", initializer={names[1]}" if len(names) == 2 else ""
    return (
        f"rl.scan(lambda acc, x: {SCAN_BODIES[attrs['body']]}, {names[0]}{init}, "
        f"reverse={attrs['reverse']!r})"
    )


MAP_BODIES = {
    **{k: v for k, v in BODIES.items() if not k.endswith("_b")},
    "sum": "rl.sum({z})",
    "softmax": "rl.softmax({z}, axis=-1)",
}


def _map_propose(builder):
    a = pick_ranked(builder, 1 if builder.rng.random() < 0.5 else 2)
    if a is None:
        return None
    names = [n for n in MAP_BODIES if n != "softmax" or len(builder.shape(a)) >= 2]
    return [a], {"body": str(builder.rng.choice(names))}


entry("cond", _cond_source, _cond_propose, _cond_guard, 0.4, family="control")
entry("while_loop", _while_source, _while_propose, weight=0.3, family="control")
entry("scan", _scan_source, _scan_propose, weight=0.3, family="control")
entry(
    "map_fn",
    lambda n, a: f"rl.map_fn(lambda r: {MAP_BODIES[a['body']].format(z='r')}, {n[0]})",
    _map_propose,
    weight=0.2,
    family="control",
)
