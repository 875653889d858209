"""Reductions over axes: sum, mean, max, ..., each with ``axis`` and ``keepdims``."""

from __future__ import annotations

from .. import dtypes as _dtypes
from . import _rules as rules
from ._registry import Spec, defop

__all__ = ["sum"]


def _axis(axis):
    """NumPy takes a tuple of axes, not a list."""
    return tuple(axis) if isinstance(axis, list) else axis


def _sum_dtype(dtype):
    """Array-API: sums of bools and small integers accumulate in the default integer type."""
    if dtype == _dtypes.bool_ or (_dtypes.is_integer(dtype) and dtype.itemsize < 8):
        return _dtypes.default_int if dtype != _dtypes.uint8 else _dtypes.default_int
    return dtype


def _sum_rule(x, *, axis=None, keepdims=False):
    spec = rules.reduction()(x, axis=axis, keepdims=keepdims)
    return Spec(spec.shape, _sum_dtype(x.dtype))


@defop(rule=_sum_rule)
def sum(xp, x, *, axis=None, keepdims=False, out=None):
    """Sum over ``axis`` (all axes when None)."""
    return xp.sum(x, axis=_axis(axis), keepdims=keepdims, dtype=_sum_dtype(x.dtype), out=out)


def expand_reduced(g, x_shape: tuple, axis, keepdims: bool):
    """Reshape a reduction's gradient ``g`` so that it broadcasts against the input."""
    from .shape import reshape

    if keepdims:
        return g
    axes = rules.normalize_axes(axis, len(x_shape))
    return reshape(g, shape=rules.reduced_shape(x_shape, axes, keepdims=True))


@sum.defvjp
def _sum_vjp(g, y, x, *, axis, keepdims):
    from .shape import broadcast_to

    return (broadcast_to(expand_reduced(g, x.shape, axis, keepdims), shape=x.shape),)
