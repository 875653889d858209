"""Sorting: sort, argsort and top_k.

Orderings are stable: equal values keep their order of appearance, in descending order too
(as ``tf.math.top_k``: of equal values the lower index comes first). NaNs sort last in
ascending order and first in descending order. Gradients scatter ``g`` back through the
sorting permutation with :func:`~rillet.ops.gathers.scatter_add_along_axis`.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError
from . import _rules as rules
from ._registry import Spec, defop
from .creation import zeros_like
from .gathers import scatter_add_along_axis

__all__ = ["sort", "argsort", "top_k"]


def _argsort(xp, x, axis: int, descending: bool, stable: bool = True):
    """Indices that sort ``x`` along ``axis``; descending keeps ties in their original order."""
    kind = "stable" if stable else None
    if not descending:
        return xp.argsort(x, axis=axis, kind=kind)
    # Sort the reversed axis ascending, reverse the order, and map positions back: ties,
    # met in reverse, come out in their original order.
    last = x.shape[axis] - 1
    order = xp.argsort(xp.flip(x, axis=axis), axis=axis, kind=kind)
    return last - xp.flip(order, axis=axis)


def _sort_rule(x, *, axis=-1, descending=False):
    rules.normalize_axis(axis, len(x.shape))
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_sort_rule)
def sort(xp, x, *, axis=-1, descending=False, out=None):
    """``x`` sorted along ``axis`` (ascending unless ``descending``).

    >>> import rillet as rl
    >>> rl.sort(rl.asarray([3.0, 1.0, 2.0]), descending=True).tolist()
    [3.0, 2.0, 1.0]
    """
    result = xp.sort(x, axis=axis)
    return xp.flip(result, axis=axis) if descending else result


@sort.defvjp
def _sort_vjp(g, y, x, *, axis, descending):
    # Recompute the permutation; entry j of the sorted axis came from position perm[j].
    perm = argsort(x, axis=axis, descending=descending)
    return (scatter_add_along_axis(zeros_like(x), perm, g, axis=axis),)


def _argsort_rule(x, *, axis=-1, descending=False, stable=True):
    rules.normalize_axis(axis, len(x.shape))
    return Spec(tuple(x.shape), _dtypes.int64)


@defop(rule=_argsort_rule, differentiable=False)
def argsort(xp, x, *, axis=-1, descending=False, stable=True, out=None):
    """Indices (int64) that sort ``x`` along ``axis``; ``stable`` keeps ties in order.

    >>> import rillet as rl
    >>> rl.argsort(rl.asarray([3.0, 1.0, 3.0]), descending=True).tolist()
    [0, 2, 1]
    """
    return _argsort(xp, x, axis % x.ndim, descending, stable).astype(_dtypes.int64)


def _top_k_rule(x, *, k=1, sorted=True):
    shape = tuple(x.shape)
    if not shape:
        raise ArgumentError("x must have rank >= 1, got a scalar")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 0:
        raise ArgumentError(f"k must be a non-negative int, got {k!r}")
    if shape[-1] is not None and k > shape[-1]:
        raise ArgumentError(
            f"k={k} exceeds the size {shape[-1]} of the last axis of x{rules.fmt(shape)}"
        )
    out = shape[:-1] + (int(k),)
    return (Spec(out, x.dtype), Spec(out, _dtypes.int64))


@defop(rule=_top_k_rule)
def top_k(xp, x, *, k=1, sorted=True, out=None):
    """The ``k`` largest entries along the last axis and their indices (int64), largest
    first; of equal entries the lower index comes first (``tf.math.top_k``). The result is
    always sorted; ``sorted`` is accepted for compatibility.

    >>> import rillet as rl
    >>> values, indices = rl.top_k(rl.asarray([1.0, 4.0, 2.0, 4.0]), k=3)
    >>> values.tolist(), indices.tolist()
    ([4.0, 4.0, 2.0], [1, 3, 2])
    """
    indices = _argsort(xp, x, x.ndim - 1, descending=True)[..., :k]
    return xp.take_along_axis(x, indices, axis=-1), indices.astype(_dtypes.int64)


@top_k.defvjp
def _top_k_vjp(g, y, x, *, k, sorted):
    g_values, indices = g[0], y[1]
    return (scatter_add_along_axis(zeros_like(x), indices, g_values, axis=-1),)
