"""Linear algebra: matmul, einsum, tensordot, transposes, outer, trace, diagonal."""

from __future__ import annotations

from .. import dtypes as _dtypes
from ..errors import DTypeError, ShapeError
from . import _rules as rules
from ._registry import Spec, defop

__all__ = ["matmul", "transpose", "permute_dims", "matrix_transpose"]


def _matmul_rule(a, b):
    if len(a.shape) == 0 or len(b.shape) == 0:
        raise ShapeError(f"inputs must be at least 1-D, got a{rules.fmt(a.shape)}, b{rules.fmt(b.shape)}")
    if a.dtype == _dtypes.bool_:
        raise DTypeError("matmul does not take bool inputs")
    a_shape = (1,) + tuple(a.shape) if len(a.shape) == 1 else tuple(a.shape)
    b_shape = tuple(b.shape) + (1,) if len(b.shape) == 1 else tuple(b.shape)
    k_a, k_b = a_shape[-1], b_shape[-2]
    if k_a is not None and k_b is not None and k_a != k_b:
        raise ShapeError(
            f"cannot contract a{rules.fmt(a.shape)} with b{rules.fmt(b.shape)}: {k_a} != {k_b}"
        )
    batch = rules.broadcast_shapes(a_shape[:-2], b_shape[:-2], names=("a batch", "b batch"))
    shape = batch + a_shape[-2:-1] * (len(a.shape) > 1) + b_shape[-1:] * (len(b.shape) > 1)
    return Spec(shape, a.dtype)


@defop(rule=_matmul_rule, promote=True)
def matmul(xp, a, b, *, out=None):
    """Matrix product with NumPy semantics: batched, broadcasting, 1-D operands promoted."""
    return xp.matmul(a, b, out=out)


@matmul.defvjp
def _matmul_vjp(g, y, a, b):
    from .shape import reshape

    # Treat 1-D operands as matrices (a row, b a column), as the forward pass does.
    a2 = reshape(a, shape=(1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, shape=b.shape + (1,)) if b.ndim == 1 else b
    g_shape = g.shape + (1,) * (b.ndim == 1)
    if a.ndim == 1:
        g_shape = g_shape[:-1] + (1,) + g_shape[-1:]
    g2 = reshape(g, shape=g_shape)
    g_a = matmul(g2, matrix_transpose(b2))
    g_b = matmul(matrix_transpose(a2), g2)
    if a.ndim == 1:
        g_a = reshape(g_a, shape=g_a.shape[:-2] + g_a.shape[-1:])
    if b.ndim == 1:
        g_b = reshape(g_b, shape=g_b.shape[:-1])
    return (g_a, g_b)  # the engine sums broadcast batch axes away


def _transpose_rule(x, *, axes=None):
    ndim = len(x.shape)
    perm = _permutation(axes, ndim)
    return Spec(tuple(x.shape[i] for i in perm), x.dtype)


def _permutation(axes, ndim: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(ndim - 1, -1, -1))
    perm = tuple(rules.normalize_axis(a, ndim, "axes") for a in axes)
    if sorted(perm) != list(range(ndim)):
        raise ShapeError(f"axes={tuple(axes)} is not a permutation of the {ndim} axes")
    return perm


@defop(rule=_transpose_rule, low_precision="native")
def transpose(xp, x, *, axes=None, out=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    return xp.transpose(x, None if axes is None else _permutation(axes, x.ndim))


@transpose.defvjp
def _transpose_vjp(g, y, x, *, axes):
    perm = _permutation(axes, x.ndim)
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return (transpose(g, axes=tuple(inverse)),)


def permute_dims(x, axes):
    """Array-API name for :func:`transpose` with explicit axes."""
    return transpose(x, axes=axes)


def matrix_transpose(x):
    """Swap the last two axes."""
    ndim = len(x.shape)
    if ndim < 2:
        raise ShapeError(f"matrix_transpose: needs rank >= 2, got shape {tuple(x.shape)}")
    return transpose(x, axes=tuple(range(ndim - 2)) + (ndim - 1, ndim - 2))
