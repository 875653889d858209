"""Gathers by index arrays and their scatter-add adjoints: take, gather, take_along_axis,
segment_sum and one_hot.

Every gather's gradient is a scatter-add op whose gradient is the gather again, so gradients
of any order work: ``take`` <-> ``scatter_add``, ``take_along_axis`` <->
``scatter_add_along_axis``. Out-of-range indices raise :class:`IndexingError` (an
``IndexError``) naming the index, the axis and its size. Gathers accept negative indices
counting from the end, except ``gather``, which follows TensorFlow and takes indices in
``[0, size)``. ``x[key]`` itself is in ``indexing.py``.
"""

from __future__ import annotations

import math
import operator

from .. import dtypes as _dtypes
from ..errors import (
    ArgumentError,
    AxisError,
    DTypeError,
    ShapeError,
)
from . import _rules as rules
from ._registry import Spec, defop
from .creation import arange, zeros, zeros_like
from .indexing import (
    _check_broadcastable,
    _check_integer,
    _check_range,
    _copy_into,
    _is_count,
)
from .linalg import transpose
from .shapes import reshape

__all__ = [
    "take",
    "gather",
    "take_along_axis",
    "scatter_add",
    "scatter_add_along_axis",
    "segment_sum",
    "one_hot",
]


# ------------------------------------------------------------------- take / scatter_add


def _take_rule(x, indices, *, axis=None):
    _check_integer(indices, "indices")
    if axis is None:
        return Spec(tuple(indices.shape), x.dtype)
    a = rules.normalize_axis(axis, len(x.shape))
    return Spec(tuple(x.shape[:a]) + tuple(indices.shape) + tuple(x.shape[a + 1 :]), x.dtype)


@defop(rule=_take_rule, low_precision="native")
def take(xp, x, indices, *, axis=None, out=None):
    """Entries of ``x`` at ``indices`` along ``axis`` (of the flattened ``x`` when None);
    negative indices count from the end.

    >>> import rillet as rl
    >>> rl.take(rl.asarray([[1.0, 2.0], [3.0, 4.0]]), [1, 1, 0], axis=0).tolist()
    [[3.0, 4.0], [3.0, 4.0], [1.0, 2.0]]
    """
    size = x.size if axis is None else x.shape[axis]
    _check_range(indices, size, "None (flattened)" if axis is None else axis % x.ndim)
    return xp.take(x, indices, axis=axis, out=out)


@take.defvjp
def _take_vjp(g, y, x, indices, *, axis):
    if axis is None:
        flat = scatter_add(zeros((x.size,), dtype=g.dtype), indices, g, axis=0)
        return (reshape(flat, shape=x.shape), None)
    return (scatter_add(zeros_like(x), indices, g, axis=axis), None)


def _scatter_add_rule(x, indices, updates, *, axis=0):
    _check_integer(indices, "indices")
    a = rules.normalize_axis(axis, len(x.shape))
    region = tuple(x.shape[:a]) + tuple(indices.shape) + tuple(x.shape[a + 1 :])
    _check_broadcastable(tuple(updates.shape), region, "updates", f"take(x, indices, axis={axis})")
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_scatter_add_rule, promote=(0, 2))
def scatter_add(xp, x, indices, updates, *, axis=0, out=None):
    """``x`` with ``updates`` added at ``indices`` along ``axis``: the adjoint of
    :func:`take`. ``updates`` is shaped like ``take(x, indices, axis)`` (or broadcasts to
    it); repeated indices accumulate.

    >>> import rillet as rl
    >>> rl.scatter_add(rl.zeros((3,)), [0, 2, 0], rl.asarray([1.0, 2.0, 3.0])).tolist()
    [4.0, 0.0, 2.0]
    """
    a = axis % x.ndim
    _check_range(indices, x.shape[a], a)
    result = _copy_into(x, out)
    xp.add.at(result, (slice(None),) * a + (indices,), updates)
    return result


@scatter_add.defvjp
def _scatter_add_vjp(g, y, x, indices, updates, *, axis):
    return (g, None, take(g, indices, axis=axis))


# ------------------------------------------------------------------------------- gather


def _gather_axes(params_shape: tuple, indices_shape: tuple, axis, batch_dims) -> tuple:
    """``(axis, batch_dims)`` normalized and checked as TensorFlow does."""
    rank = len(indices_shape)
    b = operator.index(batch_dims)
    b = b + rank if b < 0 else b
    if not 0 <= b <= rank:
        raise ArgumentError(f"batch_dims={batch_dims} is out of range for indices of rank {rank}")
    a = b if axis is None else rules.normalize_axis(axis, len(params_shape))
    if b > a or a >= len(params_shape):
        raise ArgumentError(
            f"batch_dims={batch_dims} must be <= axis={axis} < rank {len(params_shape)} of params"
        )
    for p, i in zip(params_shape[:b], indices_shape[:b]):
        if p is not None and i is not None and p != i:
            raise ShapeError(
                f"the first {b} (batch) dimensions of params{rules.fmt(params_shape)} and "
                f"indices{rules.fmt(indices_shape)} differ"
            )
    return a, b


def _gather_rule(params, indices, *, axis=None, batch_dims=0):
    _check_integer(indices, "indices")
    p, i = tuple(params.shape), tuple(indices.shape)
    a, b = _gather_axes(p, i, axis, batch_dims)
    return Spec(p[:a] + i[b:] + p[a + 1 :], params.dtype)


@defop(rule=_gather_rule, low_precision="native")
def gather(xp, params, indices, *, axis=None, batch_dims=0, out=None):
    """Slices of ``params`` at ``indices`` along ``axis`` (TensorFlow's ``tf.gather``).

    The first ``batch_dims`` axes of ``params`` and ``indices`` are batch axes, gathered
    pairwise; ``axis`` defaults to ``batch_dims``. Indices must lie in ``[0, size)``.
    The result has shape ``params.shape[:axis] + indices.shape[batch_dims:] +
    params.shape[axis + 1:]``.

    >>> import rillet as rl
    >>> rl.gather(rl.asarray([[1.0, 2.0], [3.0, 4.0]]), [[1], [0]], batch_dims=1).tolist()
    [[2.0], [3.0]]
    """
    a, b = _gather_axes(params.shape, indices.shape, axis, batch_dims)
    _check_range(indices, params.shape[a], a, negative=False)
    if b == 0:
        return xp.take(params, indices, axis=a)
    batch, inner = params.shape[:b], indices.shape[b:]
    nb = math.prod(batch)
    moved = xp.moveaxis(params, a, b)  # batch + (N,) + between + rest
    flat = moved.reshape((nb,) + moved.shape[b:])
    rows = xp.arange(nb).reshape((nb,) + (1,) * len(inner))
    picked = flat[rows, indices.reshape((nb,) + inner)]  # (batch, inner, between, rest)
    picked = picked.reshape(batch + picked.shape[1:])
    return xp.transpose(picked, _swap_blocks(b, len(inner), a - b, picked.ndim))


def _swap_blocks(start: int, first: int, second: int, ndim: int) -> tuple:
    """The permutation swapping the axis blocks [start, start+first) and the next ``second``."""
    head = tuple(range(start))
    block1 = tuple(range(start, start + first))
    block2 = tuple(range(start + first, start + first + second))
    return head + block2 + block1 + tuple(range(start + first + second, ndim))


@gather.defvjp
def _gather_vjp(g, y, params, indices, *, axis, batch_dims):
    a, b = _gather_axes(params.shape, indices.shape, axis, batch_dims)
    if b == 0:
        return (scatter_add(zeros_like(params), indices, g, axis=a), None)
    # Fold the batch axes into the gathered axis: row r of batch k is row k * N + r.
    batch, inner, size = params.shape[:b], indices.shape[b:], params.shape[a]
    between, rest = params.shape[b:a], params.shape[a + 1 :]
    g = transpose(g, axes=_swap_blocks(b, len(between), len(inner), g.ndim))
    nb = math.prod(batch)
    g = reshape(g, shape=(nb,) + inner + between + rest)
    offsets = reshape(arange(nb) * size, shape=(nb,) + (1,) * len(inner))
    flat_indices = reshape(indices, shape=(nb,) + inner) + offsets
    summed = scatter_add(zeros((nb * size,) + between + rest, dtype=g.dtype), flat_indices, g)
    summed = reshape(summed, shape=batch + (size,) + between + rest)
    return (transpose(summed, axes=_swap_blocks(b, 1, len(between), summed.ndim)), None)


# ----------------------------------------------------------------------- along an axis


def _along_axis_shape(x, indices, axis) -> tuple[int, tuple]:
    """The checked axis and the shape of ``take_along_axis(x, indices, axis)``."""
    _check_integer(indices, "indices")
    x_shape, i_shape = tuple(x.shape), tuple(indices.shape)
    if len(x_shape) != len(i_shape):
        raise ShapeError(
            f"x{rules.fmt(x_shape)} and indices{rules.fmt(i_shape)} must have the same rank"
        )
    a = rules.normalize_axis(axis, len(x_shape))
    other = rules.broadcast_shapes(
        x_shape[:a] + (1,) + x_shape[a + 1 :],
        i_shape[:a] + (1,) + i_shape[a + 1 :],
        names=("x", "indices"),
    )
    return a, other[:a] + (i_shape[a],) + other[a + 1 :]


def _take_along_axis_rule(x, indices, *, axis=-1):
    return Spec(_along_axis_shape(x, indices, axis)[1], x.dtype)


@defop(rule=_take_along_axis_rule, low_precision="native")
def take_along_axis(xp, x, indices, *, axis=-1, out=None):
    """``x`` picked at ``indices`` along ``axis``, matching the other axes (broadcasting).

    >>> import rillet as rl
    >>> x = rl.asarray([[10.0, 30.0, 20.0]])
    >>> rl.take_along_axis(x, [[1, 2]], axis=1).tolist()
    [[30.0, 20.0]]
    """
    a = axis % x.ndim
    _check_range(indices, x.shape[a], a)
    return xp.take_along_axis(x, indices, axis=a)


@take_along_axis.defvjp
def _take_along_axis_vjp(g, y, x, indices, *, axis):
    return (scatter_add_along_axis(zeros_like(x), indices, g, axis=axis), None)


def _scatter_add_along_axis_rule(x, indices, updates, *, axis=-1):
    _check_integer(indices, "indices")
    shapes = (tuple(x.shape), tuple(indices.shape), tuple(updates.shape))
    if len({len(s) for s in shapes}) != 1:
        raise ShapeError(
            f"x{rules.fmt(shapes[0])}, indices{rules.fmt(shapes[1])} and "
            f"updates{rules.fmt(shapes[2])} must have the same rank"
        )
    a = rules.normalize_axis(axis, len(shapes[0]))
    x_free = shapes[0][:a] + (1,) + shapes[0][a + 1 :]
    rules.broadcast_shapes(x_free, shapes[1], shapes[2], names=("x", "indices", "updates"))
    return Spec(shapes[0], x.dtype)


@defop(rule=_scatter_add_along_axis_rule, promote=(0, 2))
def scatter_add_along_axis(xp, x, indices, updates, *, axis=-1, out=None):
    """``x`` with ``updates`` added at ``indices`` along ``axis``, the other axes matched:
    the adjoint of :func:`take_along_axis` (PyTorch's ``scatter_add``). Repeated indices
    accumulate.

    >>> import rillet as rl
    >>> rl.scatter_add_along_axis(rl.zeros((1, 3)), [[2, 2]], rl.ones((1, 2))).tolist()
    [[0.0, 0.0, 2.0]]
    """
    a = axis % x.ndim
    _check_range(indices, x.shape[a], a)
    key = tuple(
        indices if d == a else xp.arange(n).reshape((-1,) + (1,) * (x.ndim - d - 1))
        for d, n in enumerate(x.shape)
    )
    result = _copy_into(x, out)
    xp.add.at(result, key, updates)
    return result


@scatter_add_along_axis.defvjp
def _scatter_add_along_axis_vjp(g, y, x, indices, updates, *, axis):
    return (g, None, take_along_axis(g, indices, axis=axis))


# ------------------------------------------------------------------- segments, one-hot


def _segment_sum_rule(data, segment_ids, *, num_segments=None):
    _check_integer(segment_ids, "segment_ids")
    d_shape, s_shape = tuple(data.shape), tuple(segment_ids.shape)
    prefix = d_shape[: len(s_shape)]
    if len(s_shape) > len(d_shape) or any(
        p is not None and s is not None and p != s for p, s in zip(prefix, s_shape)
    ):
        raise ShapeError(
            f"segment_ids{rules.fmt(s_shape)} must be a prefix of data{rules.fmt(d_shape)}"
        )
    if num_segments is None:
        return Spec((None,) + d_shape[len(s_shape) :], data.dtype)  # max id + 1, at run time
    if not _is_count(num_segments):
        raise ArgumentError(f"num_segments must be a non-negative int, got {num_segments!r}")
    return Spec((int(num_segments),) + d_shape[len(s_shape) :], data.dtype)


@defop(rule=_segment_sum_rule)
def segment_sum(xp, data, segment_ids, *, num_segments=None, out=None):
    """Sums of the rows of ``data`` sharing a segment id (TensorFlow's
    ``unsorted_segment_sum``: ids need not be sorted; segments with no rows are 0).

    ``segment_ids`` is shaped like a prefix of ``data.shape``; the result has
    ``num_segments`` rows (``max(segment_ids) + 1`` when None). Ids must lie in
    ``[0, num_segments)``.

    >>> import rillet as rl
    >>> rl.segment_sum(rl.asarray([1.0, 2.0, 3.0]), [1, 0, 1], num_segments=3).tolist()
    [2.0, 4.0, 0.0]
    """
    ids = segment_ids.reshape(-1)
    if num_segments is None:
        num_segments = int(ids.max()) + 1 if ids.size else 0
    _check_range(ids, num_segments, 0, negative=False, what="segment id")
    rows = data.reshape((ids.size,) + data.shape[segment_ids.ndim :])
    if rows.ndim == 1 and _dtypes.is_floating(data.dtype):
        return xp.bincount(ids, weights=rows, minlength=num_segments).astype(data.dtype)
    result = xp.zeros((num_segments,) + rows.shape[1:], data.dtype)
    xp.add.at(result, ids, rows)
    return result


@segment_sum.defvjp
def _segment_sum_vjp(g, y, data, segment_ids, *, num_segments):
    return (take(g, segment_ids, axis=0), None)  # each row gets its segment's gradient


def _one_hot_axis(axis, ndim: int) -> int:
    if not isinstance(axis, int) or not -1 <= axis <= ndim:
        raise AxisError(f"axis={axis} is out of range [-1, {ndim}] for indices of rank {ndim}")
    return ndim if axis == -1 else axis


def _one_hot_rule(indices, *, depth, on_value=1, off_value=0, axis=-1, dtype=_dtypes.float32):
    if not _dtypes.is_integer(indices.dtype):
        raise DTypeError(f"indices has dtype {indices.dtype}, expected an integer dtype")
    if not _is_count(depth):
        raise ArgumentError(f"depth must be a non-negative int, got {depth!r}")
    shape = tuple(indices.shape)
    at = _one_hot_axis(axis, len(shape))
    return Spec(shape[:at] + (int(depth),) + shape[at:], _dtypes.as_dtype(dtype))


@defop(rule=_one_hot_rule, differentiable=False, low_precision="native")
def one_hot(
    xp, indices, *, depth, on_value=1, off_value=0, axis=-1, dtype=_dtypes.float32, out=None
):
    """``on_value`` where the new axis ``axis`` equals ``indices``, else ``off_value``;
    indices outside ``[0, depth)`` give rows of ``off_value`` (as in TensorFlow).

    >>> import rillet as rl
    >>> rl.one_hot(rl.asarray([2, 0]), 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    hot = indices[..., None] == xp.arange(depth)
    result = xp.where(hot, on_value, off_value).astype(_dtypes.as_dtype(dtype))
    return xp.moveaxis(result, -1, _one_hot_axis(axis, indices.ndim))
