"""Catalog entries: reductions, scans, shape ops and linear algebra."""

from __future__ import annotations

import numpy as np

from .catalog import broadcast_partner, distinct, entry, pick_ranked, random_axis

# -- reductions and scans -----------------------------------------------------------------


def _reduction(extra=None):
    def propose(builder):
        i = builder.pick()
        attrs = {
            "axis": random_axis(builder.rng, len(builder.shape(i))),
            "keepdims": bool(builder.rng.random() < 0.4),
        }
        attrs.update(extra(builder.rng) if extra else {})
        return [i], attrs

    return propose


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))


def _spread_guard(margin, attrs, x):
    """var/std/norm: every group reduced is clearly away from 0 (std's VJP divides by it)."""
    if x.size == 0:
        return False
    axes = _axes(attrs["axis"], x.ndim)
    spread = np.var(x, axis=axes) if "correction" in attrs else np.sum(x * x, axis=axes)
    return bool(np.min(spread) > 1e-3)


REDUCE = "rl.{op}({{0}}, axis={{axis!r}}, keepdims={{keepdims!r}}{extra})"
for _name in ["sum", "mean", "logsumexp", "prod"]:
    entry(_name, REDUCE.format(op=_name, extra=""), _reduction(), weight=0.5, family="reduction")
for _name in ["max", "min"]:
    entry(
        _name,
        REDUCE.format(op=_name, extra=""),
        _reduction(),
        lambda m, a, x: distinct(m, x),
        0.4,
        family="reduction",
    )
for _name in ["var", "std"]:
    entry(
        _name,
        REDUCE.format(op=_name, extra=", correction={correction!r}"),
        _reduction(lambda rng: {"correction": int(rng.integers(2))}),
        _spread_guard if _name == "std" else None,
        0.3,
        family="reduction",
    )
entry(
    "norm",
    REDUCE.format(op="norm", extra=""),
    _reduction(),
    lambda m, a, x: bool(x.size) and bool(np.min(np.sum(x * x, _axes(a["axis"], x.ndim))) > 1e-3),
    0.3,
    family="reduction",
)


def _scan_attrs(builder):
    i = builder.pick()
    rank = len(builder.shape(i))
    axis = None if rank == 0 or builder.rng.random() < 0.2 else int(builder.rng.integers(rank))
    rng = builder.rng
    return [i], {
        "axis": axis,
        "exclusive": bool(rng.random() < 0.3),
        "reverse": bool(rng.random() < 0.3),
    }


SCAN = "rl.{op}({{0}}, axis={{axis!r}}, exclusive={{exclusive!r}}, reverse={{reverse!r}})"
entry("cumsum", SCAN.format(op="cumsum"), _scan_attrs, weight=0.3, family="reduction")
entry("cumprod", SCAN.format(op="cumprod"), _scan_attrs, weight=0.2, family="reduction")


# -- shapes -------------------------------------------------------------------------------


def _prime_factors(n: int) -> list[int]:
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


def _factor(rng, size: int) -> tuple:
    """A random shape of ``size`` elements, rank 0 to 4 (at least 1 unless size is 1)."""
    rank = int(rng.integers(0 if size == 1 else 1, 5))
    dims = [1] * max(rank, 1)
    for f in _prime_factors(size):
        dims[int(rng.integers(len(dims)))] *= f
    return tuple(dims) if rank else ()


def _reshape_propose(builder):
    i = builder.pick()
    step = builder.program.steps[i]
    if step.op in ("reshape", "transpose") and builder.rng.random() < 0.5:
        return [i], {"shape": builder.shape(step.args[0])}  # a reshape chain back
    shape = _factor(builder.rng, int(np.prod(builder.shape(i), dtype=int)))
    if shape and builder.rng.random() < 0.2:
        shape = (*shape[:-1], -1)
    return [i], {"shape": shape}


def _transpose_propose(builder):
    i = pick_ranked(builder, 2)
    if i is None:
        return None
    step, rank = builder.program.steps[i], len(builder.shape(i))
    if step.op == "transpose" and step.attrs["axes"] and builder.rng.random() < 0.5:
        return [i], {"axes": tuple(int(a) for a in np.argsort(step.attrs["axes"]))}
    if builder.rng.random() < 0.2:
        return [i], {"axes": None}
    return [i], {"axes": tuple(int(a) for a in builder.rng.permutation(rank))}


entry("reshape", "rl.reshape({0}, shape={shape!r})", _reshape_propose, weight=0.7, family="shape")
entry(
    "transpose", "rl.transpose({0}, axes={axes!r})", _transpose_propose, weight=0.7, family="shape"
)


def _expand_propose(builder):
    i = pick_ranked(builder, 0, 4)
    if i is None:
        return None
    rank = len(builder.shape(i))
    return [i], {"axis": int(builder.rng.integers(-rank - 1, rank + 1))}


def _squeeze_propose(builder):
    i = builder.pick(lambda j: 1 in builder.shape(j))
    if i is None:
        return None
    ones = [k for k, s in enumerate(builder.shape(i)) if s == 1]
    return [i], {"axis": None if builder.rng.random() < 0.3 else int(builder.rng.choice(ones))}


def _two_axes(builder, names):
    i = pick_ranked(builder, 2)
    if i is None:
        return None
    a, b = builder.rng.choice(len(builder.shape(i)), size=2, replace=False)
    return [i], dict(zip(names, (int(a), int(b))))


def _flip_propose(builder):
    i = builder.pick()
    return [i], {"axis": random_axis(builder.rng, len(builder.shape(i)))}


def _roll_propose(builder):
    i = pick_ranked(builder)
    if i is None:
        return None
    axis = random_axis(builder.rng, len(builder.shape(i)))
    count = len(axis) if isinstance(axis, tuple) else 1
    shift = [int(s) for s in builder.rng.integers(-3, 4, size=count)]
    return [i], {"shift": tuple(shift) if isinstance(axis, tuple) else shift[0], "axis": axis}


entry(
    "expand_dims", "rl.expand_dims({0}, axis={axis!r})", _expand_propose, weight=0.4, family="shape"
)
entry("squeeze", "rl.squeeze({0}, axis={axis!r})", _squeeze_propose, weight=0.4, family="shape")
entry(
    "swapaxes",
    "rl.swapaxes({0}, axis1={axis1!r}, axis2={axis2!r})",
    lambda b: _two_axes(b, ("axis1", "axis2")),
    weight=0.3,
    family="shape",
)
entry(
    "moveaxis",
    "rl.moveaxis({0}, source={source!r}, destination={destination!r})",
    lambda b: _two_axes(b, ("source", "destination")),
    weight=0.3,
    family="shape",
)
entry("flip", "rl.flip({0}, axis={axis!r})", _flip_propose, weight=0.3, family="shape")
entry(
    "roll",
    "rl.roll({0}, shift={shift!r}, axis={axis!r})",
    _roll_propose,
    weight=0.3,
    family="shape",
)


def _tile_propose(builder):
    i = builder.pick(lambda j: int(np.prod(builder.shape(j), dtype=int)) <= 32)
    if i is None:
        return None
    rank = len(builder.shape(i)) + int(builder.rng.integers(0, 2))
    return [i], {"reps": tuple(int(r) for r in builder.rng.integers(1, 3, size=max(rank, 1)))}


def _pad_propose(builder):
    i = pick_ranked(builder)
    if i is None:
        return None
    shape, rng = builder.shape(i), builder.rng
    mode = str(rng.choice(["constant", "reflect", "symmetric"]))
    limit = {"constant": 2, "reflect": None, "symmetric": None}[mode]
    pads = []
    for size in shape:
        most = limit if limit is not None else min(2, size - 1 if mode == "reflect" else size)
        pads.append(tuple(int(p) for p in rng.integers(0, most + 1, size=2)))
    attrs = {"pad_width": tuple(pads), "mode": mode}
    attrs["constant_values"] = float(rng.choice([0.0, 1.5])) if mode == "constant" else 0
    return [i], attrs


def _broadcast_propose(builder):
    i = builder.pick(lambda j: len(builder.shape(j)) < 4)
    if i is None:
        return None
    shape = [int(builder.rng.integers(2, 4)) if s == 1 else s for s in builder.shape(i)]
    if builder.rng.random() < 0.4:
        shape.insert(0, int(builder.rng.integers(1, 3)))
    return [i], {"shape": tuple(shape)}


def _repeat_propose(builder):
    i = builder.pick(lambda j: int(np.prod(builder.shape(j), dtype=int)) <= 32)
    if i is None:
        return None
    rank = len(builder.shape(i))
    axis = None if rank == 0 or builder.rng.random() < 0.3 else int(builder.rng.integers(rank))
    return [i], {"repeats": int(builder.rng.integers(1, 3)), "axis": axis}


entry("tile", "rl.tile({0}, reps={reps!r})", _tile_propose, weight=0.3, family="shape")
entry(
    "pad",
    "rl.pad({0}, pad_width={pad_width!r}, mode={mode!r}, constant_values={constant_values!r})",
    _pad_propose,
    weight=0.3,
    family="shape",
)
entry(
    "broadcast_to",
    "rl.broadcast_to({0}, shape={shape!r})",
    _broadcast_propose,
    weight=0.3,
    family="shape",
)
entry(
    "repeat",
    "rl.repeat({0}, repeats={repeats!r}, axis={axis!r})",
    _repeat_propose,
    weight=0.2,
    family="shape",
)


def _list_source(op, attr):
    def source(names, attrs):
        return f"rl.{op}([{', '.join(names)}], {attr}={attrs[attr]!r})"

    return source


def _joinable(builder, i, axis, same):
    """Values (or a new input) to join with ``i``: equal shapes except, for concat, along
    ``axis``; a value may appear twice (the same tensor concatenated with itself)."""
    shape = builder.shape(i)

    def fits(j):
        other = builder.shape(j)
        if len(other) != len(shape) or builder.dtype_of(j) != builder.dtype_of(i):
            return False
        return all(a == b or (not same and k == axis) for k, (a, b) in enumerate(zip(shape, other)))

    partners = [i]
    for _ in range(int(builder.rng.integers(1, 3))):
        j = builder.pick(fits) if builder.rng.random() < 0.6 else None
        if j is None:
            grown = list(shape)
            if not same:
                grown[axis] = int(builder.rng.integers(1, 4))
            j = builder.input(tuple(grown), dtype=builder.dtype_of(i))
        partners.append(j)
    builder.rng.shuffle(partners)
    return partners


def _concat_propose(builder):
    i = pick_ranked(builder)
    if i is None:
        return None
    axis = int(builder.rng.integers(len(builder.shape(i))))
    return _joinable(builder, i, axis, same=False), {"axis": axis}


def _stack_propose(builder):
    i = pick_ranked(builder, 0, 4)
    if i is None:
        return None
    axis = int(builder.rng.integers(len(builder.shape(i)) + 1))
    return _joinable(builder, i, None, same=True), {"axis": axis}


def _split_propose(builder):
    i = builder.pick(lambda j: any(s > 1 for s in builder.shape(j)))
    if i is None:
        return None
    shape = builder.shape(i)
    axis = int(builder.rng.choice([k for k, s in enumerate(shape) if s > 1]))
    size = shape[axis]
    if builder.rng.random() < 0.5 and size % 2 == 0:
        splits = 2
    else:
        first = int(builder.rng.integers(1, size))
        splits = (first, size - first)
    pieces = splits if isinstance(splits, int) else len(splits)
    return [i], {"splits": splits, "axis": axis, "index": int(builder.rng.integers(pieces))}


def _slice(rng, size: int):
    """A random non-empty slice or index of an axis of ``size``."""
    roll = rng.random()
    if roll < 0.25:
        return int(rng.integers(-size, size))
    if roll < 0.35:
        return slice(None, None, -1)
    start = int(rng.integers(0, size))
    stop = int(rng.integers(start + 1, size + 1))
    step = int(rng.choice([1, 1, 2]))
    return slice(start, stop, step)


def _getitem_propose(builder):
    i = pick_ranked(builder)
    if i is None:
        return None
    shape, rng = builder.shape(i), builder.rng
    count = int(rng.integers(1, len(shape) + 1))
    if count < len(shape) and rng.random() < 0.15:  # x[..., a, b] indexes the last axes
        key = [Ellipsis, *(_slice(rng, s) for s in shape[len(shape) - count :])]
    else:
        key = [_slice(rng, s) for s in shape[:count]]
    if rng.random() < 0.15:
        key.insert(int(rng.integers(len(key) + 1)), None)
    return [i], {"key": tuple(key)}


entry("concat", _list_source("concat", "axis"), _concat_propose, weight=0.4, family="shape")
entry("stack", _list_source("stack", "axis"), _stack_propose, weight=0.3, family="shape")
entry(
    "split",
    "rl.split({0}, num_or_size_splits={splits!r}, axis={axis!r})[{index}]",
    _split_propose,
    weight=0.3,
    family="shape",
)
entry("getitem", "{0}[{key!r}]", _getitem_propose, weight=0.6, family="shape")


# -- linear algebra -----------------------------------------------------------------------


def _matmul_propose(builder):
    a = pick_ranked(builder, 1)
    if a is None:
        return None
    shape, rng = builder.shape(a), builder.rng
    k = shape[-1]
    if len(shape) == 1 or rng.random() < 0.15:
        wanted = (k,) if rng.random() < 0.5 else (k, int(rng.integers(1, 4)))
    else:
        batch = broadcast_partner(rng, shape[:-2]) if rng.random() < 0.5 else shape[:-2]
        wanted = (*batch, k, int(rng.integers(1, 4)))

    def fits(j):
        other = builder.shape(j)
        return len(other) >= 1 and other[-2 if len(other) > 1 else -1] == k

    b = builder.pick(fits) if rng.random() < 0.4 else None
    if b is None:
        b = builder.const(wanted) if rng.random() < 0.3 else builder.input(wanted)
    return [a, b], {}


def _einsum_propose(builder):
    a = builder.pick(lambda j: len(builder.shape(j)) in (2, 3))
    if a is None:
        return None
    shape, rng = builder.shape(a), builder.rng
    if len(shape) == 3:
        b = builder.input((shape[0], shape[2], int(rng.integers(1, 4))))
        return [a, b], {"subscripts": "bij,bjk->bik"}
    patterns = {
        "ij->ji": None,
        "ij,jk->ik": (shape[1], 2),
        "ij,ij->i": shape,
        "ij,kj->ikj": (2, shape[1]),
    }
    subscripts = str(rng.choice(list(patterns)))
    if patterns[subscripts] is None:
        return [a], {"subscripts": subscripts}
    return [a, builder.input(patterns[subscripts])], {"subscripts": subscripts}


entry("matmul", "rl.matmul({0}, {1})", _matmul_propose, weight=0.8, family="linalg")
entry(
    "einsum",
    lambda n, a: f"rl.einsum({a['subscripts']!r}, {', '.join(n)})",
    _einsum_propose,
    weight=0.3,
    family="linalg",
)
