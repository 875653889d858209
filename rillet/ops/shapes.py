"""Shape ops: reshape, broadcast, cast, concatenation, splitting, padding and friends.

Apart from ``cast``'s rounding these ops only move data, so float16/bfloat16 run natively
(``low_precision="native"``), and every gradient is written with ops from this module: the
adjoint of a data movement is another data movement (concat <-> split, stack <-> unstack,
pad <-> slice_region, repeat <-> repeat_sum, flip and roll undo themselves).
"""

from __future__ import annotations

import builtins
import itertools
import math

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, AxisError, ShapeError
from . import _rules as rules
from . import reduction as _reduction
from ._registry import Spec, defop

__all__ = [
    "reshape", "broadcast_to", "cast", "expand_dims", "squeeze", "ravel",
    "concat", "concatenate", "stack", "unstack", "split",
    "tile", "repeat", "pad", "flip", "roll", "swapaxes", "moveaxis",
]  # fmt: skip

fmt = rules.fmt


# ---------------------------------------------------------------- attribute helpers


def _is_int(value) -> bool:
    """A Python/NumPy integer or a 0-d integer tensor (bools are not counts)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (int, np.integer)) or (
        getattr(value, "shape", None) == () and getattr(value, "dtype", None) in _dtypes.INTEGER
    )


def _ints(value, name: str) -> tuple[int, ...]:
    """An int, or a sequence (list, tuple, 1-D integer tensor) of ints, as a tuple."""
    if _is_int(value):
        return (int(value),)
    try:
        items = [v for v in np.asarray(value).reshape(-1)] if np.ndim(value) <= 1 else None
    except (TypeError, ValueError):
        items = None
    if items is None or not builtins.all(_is_int(v) for v in items):
        raise ArgumentError(f"{name} must be an int or a sequence of ints, got {value!r}")
    return tuple(int(v) for v in items)


def _axis_list(axis, ndim: int, name: str = "axis") -> tuple[int, ...]:
    """``axis`` (an int or a sequence) as non-negative axes, in the given order, no repeats."""
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(rules.normalize_axis(a, ndim, name) for a in items)
    if len(set(axes)) != len(axes):
        raise AxisError(f"{name}={axis} repeats an axis")
    return axes


def _with_axis(shape: tuple, axis: int, size) -> tuple:
    return shape[:axis] + (size,) + shape[axis + 1 :]


def _total(sizes) -> int | None:
    return None if None in sizes else builtins.sum(sizes)


# ---------------------------------------------------------------- reshape, broadcast, cast


def _reshape_rule(x, *, shape):
    shape = _as_shape(shape)
    if builtins.sum(1 for s in shape if s == -1) > 1:
        raise ArgumentError(f"shape={shape} has more than one -1")
    known = [s for s in shape if s != -1]
    if any(s is None or s < -1 for s in shape):
        raise ArgumentError(f"shape={shape} has a negative size")
    if any(s is None for s in x.shape):
        return Spec(tuple(None if s == -1 else s for s in shape), x.dtype)
    size, rest = math.prod(x.shape), math.prod(known)
    if -1 in shape:
        if rest == 0 or size % rest:
            raise ShapeError(f"cannot reshape x{fmt(x.shape)} to {shape}")
        shape = tuple(size // rest if s == -1 else s for s in shape)
    elif size != rest:
        raise ShapeError(
            f"cannot reshape x{fmt(x.shape)} ({size} elements) to {shape} ({rest} elements)"
        )
    return Spec(shape, x.dtype)


def _as_shape(shape) -> tuple:
    if isinstance(shape, int):
        return (shape,)
    try:
        return tuple(None if s is None else int(s) for s in shape)
    except (TypeError, ValueError):
        raise ArgumentError(f"shape must be a sequence of ints, got {shape!r}") from None


@defop(rule=_reshape_rule, low_precision="native")
def reshape(xp, x, *, shape, out=None):
    """``x`` with a new shape holding the same elements (one size may be -1)."""
    return xp.reshape(x, _as_shape(shape))


@reshape.defvjp
def _reshape_vjp(g, y, x, *, shape):
    return (reshape(g, shape=x.shape),)


def _broadcast_to_rule(x, *, shape):
    shape = _as_shape(shape)
    if len(shape) < len(x.shape):
        raise ShapeError(f"cannot broadcast x{fmt(x.shape)} to fewer dimensions {shape}")
    result = rules.broadcast_shapes(tuple(x.shape), shape, names=("x", "shape"))
    if result != shape:
        raise ShapeError(f"cannot broadcast x{fmt(x.shape)} to {shape}")
    return Spec(shape, x.dtype)


@defop(rule=_broadcast_to_rule, low_precision="native")
def broadcast_to(xp, x, *, shape, out=None):
    """``x`` repeated along axes of size 1 (and new leading axes) to ``shape``."""
    return xp.broadcast_to(x, _as_shape(shape))


@broadcast_to.defvjp
def _broadcast_to_vjp(g, y, x, *, shape):
    return (g,)  # the engine sums g back to x's shape


def _like_rule(x, like):
    return Spec(tuple(like.shape), x.dtype)


@defop(rule=_like_rule, low_precision="native")
def broadcast_like(xp, x, like, *, out=None):
    """``x`` broadcast to ``like``'s shape, read at run time (for gradients of graphs whose
    sizes are unknown while tracing)."""
    return xp.broadcast_to(x, like.shape)


@broadcast_like.defvjp
def _broadcast_like_vjp(g, y, x, like):
    return (g, None)  # the engine sums g back to x's shape


def _reshape_like_rule(x, like):
    if None not in tuple(x.shape) + tuple(like.shape):
        if math.prod(x.shape) != math.prod(like.shape):
            raise ShapeError(f"cannot reshape x{rules.fmt(x.shape)} like {rules.fmt(like.shape)}")
    return Spec(tuple(like.shape), x.dtype)


@defop(rule=_reshape_like_rule, low_precision="native")
def reshape_like(xp, x, like, *, out=None):
    """``x`` reshaped to ``like``'s shape, read at run time."""
    return xp.reshape(x, like.shape)


@reshape_like.defvjp
def _reshape_like_vjp(g, y, x, like):
    return (reshape_like(g, x), None)


def _cast_rule(x, *, dtype):
    return Spec(tuple(x.shape), _dtypes.as_dtype(dtype))


@defop(rule=_cast_rule, low_precision="native")
def cast(xp, x, *, dtype, out=None):
    """``x`` converted to ``dtype`` (floats to ints truncate toward zero)."""
    return x.astype(_dtypes.as_dtype(dtype))


@cast.defvjp
def _cast_vjp(g, y, x, *, dtype):
    return (g,)  # the engine casts g back to x's dtype; integer inputs get no gradient


# ---------------------------------------------------------------- expand_dims, squeeze


def _expanded_shape(shape: tuple, axis) -> tuple:
    ndim = len(shape) + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    axes = _axis_list(axis, ndim)
    rest = iter(shape)
    return tuple(1 if i in axes else next(rest) for i in range(ndim))


def _expand_dims_rule(x, *, axis):
    return Spec(_expanded_shape(tuple(x.shape), axis), x.dtype)


@defop(rule=_expand_dims_rule, low_precision="native")
def expand_dims(xp, x, *, axis, out=None):
    """``x`` with new axes of size 1 at ``axis`` (an int or a tuple, in the output's axes).

    >>> import rillet as rl
    >>> rl.expand_dims(rl.zeros((2, 3)), axis=(0, -1)).shape
    (1, 2, 3, 1)
    """
    return xp.reshape(x, _expanded_shape(x.shape, axis))


@expand_dims.defvjp
def _expand_dims_vjp(g, y, x, *, axis):
    return (reshape(g, shape=x.shape),)


def _squeezed_shape(shape: tuple, axis) -> tuple:
    if axis is None:
        return tuple(s for s in shape if s != 1)  # unknown sizes are kept
    axes = _axis_list(axis, len(shape))
    for a in axes:
        if shape[a] not in (1, None):
            raise ShapeError(
                f"cannot squeeze axis {a} of x{fmt(shape)}: its size is {shape[a]}, not 1"
            )
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _squeeze_rule(x, *, axis=None):
    if axis is None and None in tuple(x.shape):
        raise ShapeError(
            f"squeeze of x{rules.fmt(x.shape)} with unknown sizes needs an explicit axis"
        )
    return Spec(_squeezed_shape(tuple(x.shape), axis), x.dtype)


@defop(rule=_squeeze_rule, low_precision="native")
def squeeze(xp, x, *, axis=None, out=None):
    """``x`` without its axes of size 1 (only ``axis``, which must have size 1, when given)."""
    return xp.reshape(x, _squeezed_shape(x.shape, axis))


@squeeze.defvjp
def _squeeze_vjp(g, y, x, *, axis):
    return (reshape(g, shape=x.shape),)


def ravel(x):
    """``x`` as a 1-D tensor (row-major order)."""
    return reshape(x, shape=(-1,))


# ---------------------------------------------------------------- concat, stack, split, unstack


def _mismatch(known: list, shape: tuple, skip: int | None) -> str | None:
    """Why ``shape`` cannot sit beside the sizes ``known`` so far (axis ``skip`` may differ)."""
    if len(shape) != len(known):
        return f"ranks {len(known)} and {len(shape)} differ"
    for i, (a, b) in enumerate(zip(known, shape)):
        if i != skip and a is not None and b is not None and a != b:
            return f"sizes {a} and {b} differ on axis {i}"
    return None


def _common_shape(xs, skip: int | None, verb: str) -> list:
    """The sizes ``xs`` share (any on axis ``skip``); an unknown size takes a known one."""
    first = tuple(xs[0].shape)
    known = list(first)
    for i, x in enumerate(xs[1:], 1):
        reason = _mismatch(known, tuple(x.shape), skip)
        if reason:
            raise ShapeError(
                f"cannot {verb} tensors[0]{fmt(first)} and tensors[{i}]{fmt(x.shape)}"
                f"{'' if skip is None else f' along axis {skip}'}: {reason}"
            )
        known = [b if a is None else a for a, b in zip(known, x.shape)]
    return known


def _concat_rule(*xs, axis=0):
    if not xs:
        raise ArgumentError("needs at least one tensor, got an empty sequence")
    if not xs[0].shape:
        raise ShapeError("cannot concatenate 0-d tensors; tensors[0] has shape ()")
    a = rules.normalize_axis(axis, len(xs[0].shape))
    shape = _common_shape(xs, a, "concatenate")
    shape[a] = _total([x.shape[a] for x in xs])
    return Spec(tuple(shape), xs[0].dtype)


@defop(rule=_concat_rule, variadic=True, promote=True, low_precision="native")
def concat(xp, *xs, axis=0, out=None):
    """Join a sequence of tensors along an existing axis (mixed dtypes are promoted).

    >>> import rillet as rl
    >>> rl.concat([rl.zeros((2, 3)), rl.ones((1, 3))], axis=0).shape
    (3, 3)
    """
    return xp.concatenate(xs, axis=axis, out=out)


@concat.defvjp
def _concat_vjp(g, y, *xs, axis):
    if len(xs) == 1:
        return (g,)
    sizes = [x.shape[axis] for x in xs]
    if None in sizes:  # sizes known only at run time (a graph traced with unknown sizes)
        return tuple(split_like([g, *xs], axis=axis))
    return tuple(split(g, sizes, axis=axis))


concatenate = concat  # the NumPy name


def _split_like_rule(g, *likes, axis=0):
    return [Spec(tuple(like.shape), g.dtype) for like in likes]


@defop(rule=_split_like_rule, variadic=True, low_precision="native")
def split_like(xp, g, *likes, axis=0, out=None):
    """``g`` split along ``axis`` into pieces as long as each of ``likes`` is there, read at
    run time (the gradient of ``concat`` when sizes are unknown while tracing)."""
    bounds = xp.cumsum([like.shape[axis] for like in likes])[:-1]
    return xp.split(g, bounds, axis=axis)


@split_like.defvjp
def _split_like_vjp(gs, ys, g, *likes, axis):
    return (concat(list(gs), axis=axis), *(None for _ in likes))


def _stack_rule(*xs, axis=0):
    if not xs:
        raise ArgumentError("needs at least one tensor, got an empty sequence")
    a = rules.normalize_axis(axis, len(xs[0].shape) + 1)
    shape = _common_shape(xs, None, "stack")
    return Spec(tuple(shape[:a] + [len(xs)] + shape[a:]), xs[0].dtype)


@defop(rule=_stack_rule, variadic=True, promote=True, low_precision="native")
def stack(xp, *xs, axis=0, out=None):
    """Join a sequence of same-shaped tensors along a new axis (mixed dtypes are promoted)."""
    return xp.stack(xs, axis=axis, out=out)


@stack.defvjp
def _stack_vjp(g, y, *xs, axis):
    return tuple(unstack(g, axis=axis))


def _split_sizes(shape: tuple, axis: int, num_or_size_splits) -> tuple:
    """The sizes of the pieces along ``axis`` (None where unknown), TF's rules."""
    n = shape[axis]
    if _is_int(num_or_size_splits):
        k = int(num_or_size_splits)
        if k < 1:
            raise ArgumentError(f"num_or_size_splits={k} must be at least 1")
        if n is not None and n % k:
            raise ShapeError(
                f"cannot split axis {axis} of x{fmt(shape)} (size {n}) into {k} equal parts"
            )
        return (None if n is None else n // k,) * k
    sizes = _ints(num_or_size_splits, "num_or_size_splits")
    if builtins.any(s < -1 for s in sizes) or sizes.count(-1) > 1:
        raise ArgumentError(
            f"num_or_size_splits={list(sizes)} must be sizes >= 0 and at most one -1"
        )
    known = builtins.sum(s for s in sizes if s != -1)
    if n is not None and (known > n or (-1 not in sizes and known != n)):
        raise ShapeError(
            f"sizes {list(sizes)} do not add up to the size {n} of axis {axis} of x{fmt(shape)}"
        )
    rest = None if n is None else n - known
    return tuple(rest if s == -1 else s for s in sizes)


def _split_rule(x, *, num_or_size_splits, axis=0):
    if not x.shape:
        raise ShapeError("cannot split a 0-d tensor x()")
    shape = tuple(x.shape)
    a = rules.normalize_axis(axis, len(shape))
    return [
        Spec(_with_axis(shape, a, s), x.dtype) for s in _split_sizes(shape, a, num_or_size_splits)
    ]


@defop(rule=_split_rule, low_precision="native")
def split(xp, x, *, num_or_size_splits, axis=0, out=None):
    """Split ``x`` along ``axis`` into a list of tensors (TF semantics).

    An int splits into that many equal pieces (the size must divide evenly); a list gives
    the pieces' sizes, one of which may be -1 for "the rest".

    >>> import rillet as rl
    >>> [t.shape for t in rl.split(rl.zeros((5, 2)), [1, -1])]
    [(1, 2), (4, 2)]
    """
    a = axis % x.ndim
    sizes = _split_sizes(x.shape, a, num_or_size_splits)
    return xp.split(x, list(itertools.accumulate(sizes[:-1])), axis=a)


@split.defvjp
def _split_vjp(g, y, x, *, num_or_size_splits, axis):
    return (concat(list(g), axis=axis),)  # missing pieces arrive as zeros


def _unstack_rule(x, *, axis=0, num=None):
    shape = tuple(x.shape)
    if not shape:
        raise ShapeError("cannot unstack a 0-d tensor x()")
    a = rules.normalize_axis(axis, len(shape))
    n = shape[a] if shape[a] is not None else num
    if n is None:
        raise ShapeError(f"cannot unstack axis {a} of x{fmt(shape)} of unknown size; pass num")
    if num is not None and num != n:
        raise ShapeError(f"num={num} does not match the size {n} of axis {a} of x{fmt(shape)}")
    piece = Spec(shape[:a] + shape[a + 1 :], x.dtype)
    return [piece] * n


@defop(rule=_unstack_rule, low_precision="native")
def unstack(xp, x, *, axis=0, num=None, out=None):
    """The slices of ``x`` along ``axis``, as a list of tensors of one rank less."""
    return list(xp.moveaxis(x, axis, 0))


@unstack.defvjp
def _unstack_vjp(g, y, x, *, axis, num):
    return (stack(list(g), axis=axis),)


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
