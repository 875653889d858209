"""Rearranging ops: tile, repeat, pad, flip, roll, swapaxes, moveaxis.

Like the shape ops (``shapes.py``) they only move data, so float16/bfloat16 run natively
(``low_precision="native"``), and each gradient is another data movement: repeat <->
repeat_sum, pad <-> slice_region, flip and roll undo themselves, swapaxes and moveaxis are
their own kind of inverse.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from ..errors import ArgumentError, ShapeError
from . import _rules as rules
from . import reduction as _reduction
from ._registry import Spec, defop
from .shapes import _axis_list, _ints, _is_int, _with_axis, reshape

__all__ = ["tile", "repeat", "pad", "flip", "roll", "swapaxes", "moveaxis"]

fmt = rules.fmt


# ---------------------------------------------------------------- tile, repeat


def _tile_reps(reps, multiples) -> tuple[int, ...]:
    if (reps is None) == (multiples is None):
        raise ArgumentError("pass exactly one of reps (NumPy) and multiples (TF)")
    value, name = (reps, "reps") if multiples is None else (multiples, "multiples")
    counts = _ints(value, name)
    if builtins.any(r < 0 for r in counts):
        raise ArgumentError(f"{name}={list(counts)} has a negative entry")
    return counts


def _tile_plan(shape: tuple, reps, multiples) -> tuple[tuple, tuple]:
    """``x``'s shape and the repetitions, both padded with leading 1s to the output rank."""
    counts = _tile_reps(reps, multiples)
    ndim = builtins.max(len(shape), len(counts))
    return (1,) * (ndim - len(shape)) + shape, (1,) * (ndim - len(counts)) + counts


def _tile_rule(x, *, reps=None, multiples=None):
    shape, counts = _tile_plan(tuple(x.shape), reps, multiples)
    return Spec(tuple(None if s is None else s * r for s, r in zip(shape, counts)), x.dtype)


@defop(rule=_tile_rule, low_precision="native")
def tile(xp, x, *, reps=None, multiples=None, out=None):
    """``x`` repeated ``reps`` times along each axis (NumPy ``reps``, or TF ``multiples``).

    >>> import rillet as rl
    >>> rl.tile(rl.asarray([1, 2]), 2).tolist()
    [1, 2, 1, 2]
    """
    return xp.tile(x, _tile_reps(reps, multiples))


@tile.defvjp
def _tile_vjp(g, y, x, *, reps, multiples):
    shape, counts = _tile_plan(x.shape, reps, multiples)
    # Output axis i of size r*s splits into (r, s): copy k of x sits at [k, :]. Sum the copies.
    split_shape, copy_axes = [], []
    for s, r in zip(shape, counts):
        if r != 1:
            copy_axes.append(len(split_shape))
            split_shape.append(r)
        split_shape.append(s)
    if copy_axes:
        g = _reduction.sum(reshape(g, shape=tuple(split_shape)), axis=tuple(copy_axes))
    return (reshape(g, shape=x.shape),)


def _repeat_plan(shape: tuple, repeats, axis) -> tuple[tuple, int, int | tuple]:
    """(shape repeated along, axis, repeats): ``axis=None`` repeats the flattened tensor;
    repeats is one int for every element, or a tuple with one count per element."""
    if axis is None:
        base, a = (None if None in shape else math.prod(shape),), 0
    else:
        base, a = shape, rules.normalize_axis(axis, len(shape))
    counts = _ints(repeats, "repeats")
    if builtins.any(c < 0 for c in counts):
        raise ArgumentError(f"repeats={list(counts)} has a negative entry")
    if len(counts) == 1:
        return base, a, counts[0]
    if base[a] is not None and len(counts) != base[a]:
        raise ShapeError(
            f"repeats has {len(counts)} entries but x{fmt(shape)} has {base[a]} elements "
            f"{'in all' if axis is None else f'along axis {a}'}"
        )
    return base, a, counts


def _repeat_rule(x, *, repeats, axis=None):
    base, a, counts = _repeat_plan(tuple(x.shape), repeats, axis)
    n = base[a]
    size = (
        builtins.sum(counts) if isinstance(counts, tuple) else (None if n is None else n * counts)
    )
    return Spec(_with_axis(base, a, size), x.dtype)


@defop(rule=_repeat_rule, low_precision="native")
def repeat(xp, x, *, repeats, axis=None, out=None):
    """Repeat each element of ``x`` along ``axis`` (the flattened ``x`` when None).

    ``repeats`` is one count for every element or a list with one count per element.

    >>> import rillet as rl
    >>> rl.repeat(rl.asarray([1, 2]), [1, 3]).tolist()
    [1, 2, 2, 2]
    """
    counts = _repeat_plan(x.shape, repeats, axis)[2]
    return xp.repeat(x, counts, axis=axis)


@repeat.defvjp
def _repeat_vjp(g, y, x, *, repeats, axis):
    base, a, counts = _repeat_plan(x.shape, repeats, axis)
    if isinstance(counts, tuple):
        g = repeat_sum(g, repeats=counts, axis=a)
    else:  # uniform: the r copies of element i are [i, :] after splitting the axis into (n, r)
        g = _reduction.sum(
            reshape(g, shape=base[:a] + (base[a], counts) + base[a + 1 :]), axis=a + 1
        )
    return (g if g.shape == x.shape else reshape(g, shape=x.shape),)


def _repeat_sum_rule(g, *, repeats, axis):
    shape = tuple(g.shape)
    a = rules.normalize_axis(axis, len(shape))
    counts = _ints(repeats, "repeats")
    if shape[a] is not None and shape[a] != builtins.sum(counts):
        raise ShapeError(
            f"repeats add up to {builtins.sum(counts)} but axis {a} of g{fmt(shape)} "
            f"has size {shape[a]}"
        )
    return Spec(_with_axis(shape, a, len(counts)), g.dtype)


@defop(rule=_repeat_sum_rule)
def repeat_sum(xp, g, *, repeats, axis, out=None):
    """The adjoint of ``repeat``: along ``axis``, sum each run of ``repeats[i]`` slices."""
    a = axis % g.ndim
    counts = xp.asarray(_ints(repeats, "repeats"), dtype=xp.int64)
    result = xp.zeros(_with_axis(g.shape, a, counts.size), g.dtype)
    nonempty = xp.flatnonzero(counts)
    if nonempty.size:
        # reduceat sums g from each start to the next; empty runs hold no slices, so the
        # non-empty runs alone tile the axis and their starts are strictly increasing.
        starts = (xp.cumsum(counts) - counts)[nonempty]
        result[(slice(None),) * a + (nonempty,)] = xp.add.reduceat(g, starts, axis=a)
    return result


@repeat_sum.defvjp
def _repeat_sum_vjp(g, y, x, *, repeats, axis):
    return (repeat(g, repeats=repeats, axis=axis),)


# ---------------------------------------------------------------- pad, slice_region


_PAD_MODES = ("constant", "reflect", "symmetric")


def _pad_mode(mode) -> str:
    name = mode.lower() if isinstance(mode, str) else mode
    if name not in _PAD_MODES:
        raise ArgumentError(
            f"mode={mode!r} is not supported; expected one of {', '.join(_PAD_MODES)}"
        )
    return name


def _pad_pairs(pad_width, shape: tuple) -> tuple[tuple[int, int], ...]:
    """NumPy's pad_width forms (int, (n,), (before, after), per-axis pairs) as per-axis pairs."""
    try:
        widths = np.asarray(pad_width)
    except (TypeError, ValueError):
        widths = None
    if widths is None or (widths.size and widths.dtype.kind not in "iu"):
        raise ArgumentError(f"pad_width must be ints, got {pad_width!r}")
    try:
        pairs = np.broadcast_to(widths.astype(np.int64), (len(shape), 2))
    except ValueError:
        raise ShapeError(
            f"pad_width of shape {fmt(widths.shape)} does not fit x{fmt(shape)}: "
            f"expected one (before, after) pair per axis, shape ({len(shape)}, 2)"
        ) from None
    if (pairs < 0).any():
        raise ArgumentError(f"pad_width={widths.tolist()} has a negative entry")
    return tuple((int(b), int(e)) for b, e in pairs)


def _check_mirror(pairs, shape: tuple, mode: str) -> None:
    """Reflection copies at most n - 1 elements (the edge is not repeated), symmetry n."""
    edge = 1 if mode == "reflect" else 0
    for axis, (pair, n) in enumerate(zip(pairs, shape)):
        limit = None if n is None else builtins.max(n - edge, 0)
        if limit is not None and builtins.max(pair) > limit:
            raise ShapeError(
                f"{mode} padding {pair} on axis {axis} of x{fmt(shape)} is wider than the "
                f"{limit} elements it can mirror"
            )


def _pad_rule(x, *, pad_width, mode="constant", constant_values=0):
    shape = tuple(x.shape)
    pairs, mode = _pad_pairs(pad_width, shape), _pad_mode(mode)
    if mode != "constant":
        _check_mirror(pairs, shape, mode)
    elif np.ndim(constant_values) != 0:
        raise ArgumentError(f"constant_values must be a scalar, got {constant_values!r}")
    return Spec(tuple(None if n is None else n + b + e for n, (b, e) in zip(shape, pairs)), x.dtype)


@defop(rule=_pad_rule, low_precision="native")
def pad(xp, x, *, pad_width, mode="constant", constant_values=0, out=None):
    """``x`` padded by ``pad_width``: an int, ``(before, after)``, or one pair per axis
    (TF's ``paddings`` list ``[[before, after], ...]``). ``mode`` is ``"constant"`` (with
    ``constant_values``), ``"reflect"`` (mirror without the edge) or ``"symmetric"``.

    >>> import rillet as rl
    >>> rl.pad(rl.asarray([1, 2, 3]), (2, 1), mode="reflect").tolist()
    [3, 2, 1, 2, 3, 2]
    """
    pairs, mode = _pad_pairs(pad_width, x.shape) or 0, _pad_mode(mode)  # 0: a 0-d x
    if mode == "constant":
        return xp.pad(x, pairs, mode="constant", constant_values=constant_values)
    return xp.pad(x, pairs, mode=mode)


@pad.defvjp
def _pad_vjp(g, y, x, *, pad_width, mode, constant_values):
    pairs, mode = _pad_pairs(pad_width, x.shape), _pad_mode(mode)
    if mode == "constant":
        return (slice_region(g, begin=tuple(b for b, _ in pairs), size=x.shape),)
    for axis, ((before, after), n) in enumerate(zip(pairs, x.shape)):
        if before or after:
            g = _fold_mirrors(g, axis, before, after, n, edge=int(mode == "reflect"))
    return (g,)


def _fold_mirrors(g, axis: int, before: int, after: int, n: int, edge: int):
    """Gradient of mirror padding along one axis: the centre of ``g`` plus each mirrored
    strip flipped back onto the elements it copied (``edge=1``: reflect skips the edge)."""
    total = _slice_axis(g, axis, before, n)
    if before:  # out[k] = x[before - 1 + edge - k]: x[edge : edge + before], reversed
        strip = flip(_slice_axis(g, axis, 0, before), axis=axis)
        total = total + _pad_axis(strip, axis, edge, n - edge - before)
    if after:  # out[before + n + k] = x[n - 1 - edge - k]
        strip = flip(_slice_axis(g, axis, before + n, after), axis=axis)
        total = total + _pad_axis(strip, axis, n - edge - after, edge)
    return total


def _slice_axis(x, axis: int, start: int, size: int):
    begin = [0] * x.ndim
    sizes = [-1] * x.ndim
    begin[axis], sizes[axis] = start, size
    return slice_region(x, begin=tuple(begin), size=tuple(sizes))


def _pad_axis(x, axis: int, before: int, after: int):
    pairs = [(0, 0)] * x.ndim
    pairs[axis] = (before, after)
    return pad(x, pad_width=tuple(pairs))


def _slice_plan(shape: tuple, begin, size) -> tuple[tuple, tuple]:
    """Starts and sizes per axis (TF ``slice``: a size of -1 takes the rest of the axis)."""
    begin, size = _ints(begin, "begin"), _ints(size, "size")
    if len(begin) != len(shape) or len(size) != len(shape):
        raise ShapeError(
            f"begin={list(begin)} and size={list(size)} need one entry per axis of x{fmt(shape)}"
        )
    sizes = []
    for axis, (b, s, n) in enumerate(zip(begin, size, shape)):
        if b < 0 or s < -1 or (n is not None and b + builtins.max(s, 0) > n):
            raise ShapeError(f"region [{b}, {b}+{s}) is outside axis {axis} of x{fmt(shape)}")
        sizes.append((None if n is None else n - b) if s == -1 else s)
    return begin, tuple(sizes)


def _slice_region_rule(x, *, begin, size):
    return Spec(_slice_plan(tuple(x.shape), begin, size)[1], x.dtype)


@defop(rule=_slice_region_rule, low_precision="native")
def slice_region(xp, x, *, begin, size, out=None):
    """The box of ``x`` starting at ``begin`` with ``size`` (-1: to the end) per axis."""
    begin, sizes = _slice_plan(x.shape, begin, size)
    return x[tuple(slice(b, b + s) for b, s in zip(begin, sizes))]


@slice_region.defvjp
def _slice_region_vjp(g, y, x, *, begin, size):
    begin, sizes = _slice_plan(x.shape, begin, size)
    return (pad(g, pad_width=tuple((b, n - b - s) for b, s, n in zip(begin, sizes, x.shape))),)


# ---------------------------------------------------------------- flip, roll, swapaxes, moveaxis


def _flip_rule(x, *, axis=None):
    rules.normalize_axes(axis, len(x.shape))
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_flip_rule, low_precision="native")
def flip(xp, x, *, axis=None, out=None):
    """``x`` with the order of elements reversed along ``axis`` (every axis when None)."""
    return xp.flip(x, axis=rules.normalize_axes(axis, x.ndim))


@flip.defvjp
def _flip_vjp(g, y, x, *, axis):
    return (flip(g, axis=axis),)


def _roll_plan(shift, axis, ndim: int):
    """(shifts, axes) for NumPy's roll; ``axis=None`` rolls the flattened tensor."""
    shifts = _ints(shift, "shift")
    if axis is None:
        if not _is_int(shift):
            raise ArgumentError(f"shift={shift!r} must be an int when axis is None")
        return shifts[0], None
    axes = tuple(rules.normalize_axis(a, ndim) for a in _ints(axis, "axis"))
    if len(shifts) != len(axes) and 1 not in (len(shifts), len(axes)):
        raise ArgumentError(f"shift={shift!r} and axis={axis!r} have different lengths")
    return shifts, axes


def _roll_rule(x, *, shift, axis=None):
    _roll_plan(shift, axis, len(x.shape))
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_roll_rule, low_precision="native")
def roll(xp, x, *, shift, axis=None, out=None):
    """Shift elements of ``x`` cyclically by ``shift`` along ``axis`` (flattened when None)."""
    return xp.roll(x, *_roll_plan(shift, axis, x.ndim))


@roll.defvjp
def _roll_vjp(g, y, x, *, shift, axis):
    back = -shift if _is_int(shift) else tuple(-s for s in _ints(shift, "shift"))
    return (roll(g, shift=back, axis=axis),)


def _swapaxes_rule(x, *, axis1, axis2):
    shape = list(x.shape)
    a = rules.normalize_axis(axis1, len(shape), "axis1")
    b = rules.normalize_axis(axis2, len(shape), "axis2")
    shape[a], shape[b] = shape[b], shape[a]
    return Spec(tuple(shape), x.dtype)


@defop(rule=_swapaxes_rule, low_precision="native")
def swapaxes(xp, x, *, axis1, axis2, out=None):
    """``x`` with axes ``axis1`` and ``axis2`` interchanged."""
    return xp.swapaxes(x, axis1, axis2)


@swapaxes.defvjp
def _swapaxes_vjp(g, y, x, *, axis1, axis2):
    return (swapaxes(g, axis1=axis1, axis2=axis2),)


def _moveaxis_order(ndim: int, source, destination) -> tuple[int, ...]:
    """The permutation that moves ``source`` axes to ``destination`` positions."""
    src = _axis_list(source, ndim, "source")
    dst = _axis_list(destination, ndim, "destination")
    if len(src) != len(dst):
        raise ArgumentError(
            f"source={source!r} and destination={destination!r} name different numbers of axes"
        )
    order = [i for i in range(ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return tuple(order)


def _moveaxis_rule(x, *, source, destination):
    order = _moveaxis_order(len(x.shape), source, destination)
    return Spec(tuple(x.shape[i] for i in order), x.dtype)


@defop(rule=_moveaxis_rule, low_precision="native")
def moveaxis(xp, x, *, source, destination, out=None):
    """``x`` with axes ``source`` moved to positions ``destination`` (ints or sequences).

    >>> import rillet as rl
    >>> rl.moveaxis(rl.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    return xp.transpose(x, _moveaxis_order(x.ndim, source, destination))


@moveaxis.defvjp
def _moveaxis_vjp(g, y, x, *, source, destination):
    return (moveaxis(g, source=destination, destination=source),)
