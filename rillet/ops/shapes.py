"""Shape ops: reshape, broadcast, cast, expand/squeeze, concatenation, stacking, splitting.

Apart from ``cast``'s rounding these ops only move data, so float16/bfloat16 run natively
(``low_precision="native"``), and every gradient is written with ops from this module: the
adjoint of a data movement is another data movement (concat <-> split, stack <-> unstack).
Tile, repeat, pad, flip, roll and axis moves are in ``rearrange.py``.
"""

from __future__ import annotations

import builtins
import itertools
import math

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, AxisError, ShapeError
from . import _rules as rules
from ._registry import Spec, defop

__all__ = [
    "reshape", "broadcast_to", "cast", "expand_dims", "squeeze", "ravel",
    "concat", "concatenate", "stack", "unstack", "split",
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
