"""Reductions over axes: sum, mean, max, ..., norm, each with ``axis`` and ``keepdims``; scans.

``axis`` is None (every axis), an int or a tuple/list of ints; negative axes count from the
end. The scans ``cumsum`` and ``cumprod`` take one int axis, or None to scan the flattened
input as NumPy does.
"""

from __future__ import annotations

import builtins
import math
import warnings

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, AxisError, GradientError, ShapeError
from . import _rules as rules
from . import creation
from ._registry import Spec, defop

__all__ = [
    "sum", "mean", "prod", "max", "min", "var", "std", "logsumexp",
    "argmax", "argmin", "all", "any", "cumsum", "cumprod", "norm",
]  # fmt: skip


def _axis(axis):
    """NumPy takes a tuple of axes, not a list."""
    return tuple(axis) if isinstance(axis, list) else axis


def _sum_dtype(dtype):
    """Array-API: sums of bools and small integers accumulate in the default integer type."""
    if dtype == _dtypes.bool_ or (_dtypes.is_integer(dtype) and dtype.itemsize < 8):
        return _dtypes.default_int
    return dtype


def _count(shape: tuple, axis) -> int:
    """How many elements of a tensor of ``shape`` each reduced value combines."""
    return math.prod(shape[a] for a in rules.normalize_axes(axis, len(shape)))


def _distinct_axes(axes: tuple, ndim: int, name: str) -> tuple[int, ...]:
    """``axes`` as non-negative ints, in the order given (matrix norms care), none repeated."""
    result = tuple(rules.normalize_axis(a, ndim, name) for a in axes)
    if len(set(result)) != len(result):
        raise AxisError(f"{name}={axes} repeats an axis")
    return result


def _sum_rule(x, *, axis=None, keepdims=False):
    spec = rules.reduction()(x, axis=axis, keepdims=keepdims)
    return Spec(spec.shape, _sum_dtype(x.dtype))


@defop(rule=_sum_rule)
def sum(xp, x, *, axis=None, keepdims=False, out=None):
    """Sum over ``axis`` (all axes when None).

    >>> import rillet as rl
    >>> rl.sum(rl.asarray([[1.0, 2.0], [3.0, 4.0]]), axis=0).numpy().tolist()
    [4.0, 6.0]
    """
    lead = _leading_axes(x, axis, out)
    if lead:
        return _sum_leading(x, lead, keepdims, out)
    return xp.sum(x, axis=_axis(axis), keepdims=keepdims, dtype=_sum_dtype(x.dtype), out=out)


# A sum over the leading axes of a C-contiguous array (a bias gradient: the sum over N, H, W
# of an (N, H, W, C) gradient) is ``ones(rows) @ x.reshape(rows, C)``, one GEMV. NumPy's
# sum adds the rows one after another, ~7x slower (N*H*W = 43264, C = 32: 0.6ms against
# 0.08ms, one thread), and BLAS's blocked sums round less.
_GEMV_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_GEMV_MAX_ROWS = 1 << 20  # the vector of ones stays under 8 MB
_ONES: dict = {}  # dtype -> a read-only vector of ones, grown as needed


def _leading_axes(x, axis, out) -> int:
    """How many leading axes a sum of ``x`` over ``axis`` adds as a GEMV, or 0 where it
    does not apply: ``axis`` names the first k axes (0 < k < ndim), ``x`` and ``out`` are
    C-contiguous float32/float64 NumPy arrays, ``x`` is not empty."""
    if type(x) is not np.ndarray or x.dtype not in _GEMV_DTYPES or not x.flags.c_contiguous:
        return 0
    if axis is None or x.ndim < 2 or x.size == 0:
        return 0
    if out is not None and (type(out) is not np.ndarray or not out.flags.c_contiguous):
        return 0
    axes = rules.normalize_axes(_axis(axis), x.ndim)
    lead = len(axes)
    if axes != tuple(range(lead)) or lead == x.ndim or math.prod(x.shape[:lead]) > _GEMV_MAX_ROWS:
        return 0
    return lead


def _sum_leading(x, lead: int, keepdims: bool, out):
    rows, kept = math.prod(x.shape[:lead]), x.shape[lead:]
    result = np.empty((1,) * lead + kept if keepdims else kept, x.dtype) if out is None else out
    np.matmul(_ones(rows, x.dtype), x.reshape(rows, -1), out=result.reshape(-1))
    return result


def _ones(n: int, dtype) -> np.ndarray:
    ones = _ONES.get(dtype)
    if ones is None or len(ones) < n:
        ones = np.ones(builtins.max(n, 1024), dtype)
        ones.flags.writeable = False
        _ONES[dtype] = ones
    return ones[:n]


def expand_reduced(g, x_shape: tuple, axis, keepdims: bool):
    """Give a reduction's gradient ``g`` back its reduced axes (size 1), so that it
    broadcasts against the input (static axes only: sizes may be unknown while tracing)."""
    from .shapes import expand_dims

    if keepdims:
        return g
    axes = rules.normalize_axes(axis, len(x_shape))
    return expand_dims(g, axis=axes) if axes else g


@sum.defvjp
def _sum_vjp(g, y, x, *, axis, keepdims):
    from .shapes import broadcast_like

    return (broadcast_like(expand_reduced(g, x.shape, axis, keepdims), x),)


# --- mean, prod --------------------------------------------------------------------------


@defop(rule=rules.reduction(floating=True))
def mean(xp, x, *, axis=None, keepdims=False, out=None):
    """Arithmetic mean over ``axis``; integer and bool inputs give float32.

    >>> import rillet as rl
    >>> rl.mean(rl.asarray([1, 2, 4])).numpy().item()
    2.3333332538604736
    """
    dtype = rules.floating_result(x.dtype)
    return xp.mean(x, axis=_axis(axis), keepdims=keepdims, dtype=dtype, out=out)


@mean.defvjp
def _mean_vjp(g, y, x, *, axis, keepdims):
    from .creation import ones_like
    from .shapes import broadcast_like

    axes = rules.normalize_axes(axis, x.ndim)
    if builtins.any(x.shape[a] is None for a in axes):  # count the reduced elements at run time
        scale = 1.0 / sum(ones_like(x), axis=axes, keepdims=True)
    else:
        scale = 1.0 / builtins.max(_count(x.shape, axis), 1)
    return (broadcast_like(expand_reduced(g, x.shape, axis, keepdims) * scale, x),)


@defop(rule=_sum_rule)
def prod(xp, x, *, axis=None, keepdims=False, out=None):
    """Product over ``axis``; small integers and bools accumulate in int64 (as ``sum``)."""
    return xp.prod(x, axis=_axis(axis), keepdims=keepdims, dtype=_sum_dtype(x.dtype), out=out)


@prod.defvjp
def _prod_vjp(g, y, x, *, axis, keepdims):
    # d prod / d x_i is the product of the other elements; computing it without dividing
    # by x_i keeps the gradient exact where x holds zeros.
    return (expand_reduced(g, x.shape, axis, keepdims) * _prod_others(x, axis=axis),)


def _moved_last(xp, x, axes: tuple[int, ...]):
    """``x`` with ``axes`` moved to the end and flattened into one: ``(..., n)``."""
    moved = xp.moveaxis(x, axes, range(-len(axes), 0))
    n = math.prod(moved.shape[moved.ndim - len(axes) :])
    return moved, moved.reshape(moved.shape[: moved.ndim - len(axes)] + (n,))


@defop(rule=rules.same_as(0))
def _prod_others(xp, x, *, axis=None, out=None):
    """For each element, the product of the other elements of its slice along ``axis``."""
    axes = rules.normalize_axes(axis, x.ndim)
    moved, flat = _moved_last(xp, x, axes)
    # product of the others = (product of those before) * (product of those after): two
    # exclusive scans, no division, so zeros are exact.
    before = xp.ones_like(flat)
    xp.cumprod(flat[..., :-1], axis=-1, out=before[..., 1:])
    after = xp.ones_like(flat)
    after[..., :-1] = xp.cumprod(flat[..., :0:-1], axis=-1)[..., ::-1]
    result = (before * after).reshape(moved.shape)
    return xp.moveaxis(result, range(-len(axes), 0), axes)


@_prod_others.defvjp
def _prod_others_vjp(h, p, x, *, axis):
    # d p_i / d x_j = product of all but x_i and x_j (i != j). Row i of `rows` is x with x_i
    # set to one, so its own products-of-others are those pair products: exact at zeros, at
    # the cost of an (n, n) tensor per slice (second-order gradients of prod only).
    from .linalg import transpose
    from .shapes import reshape

    axes = rules.normalize_axes(axis, x.ndim)
    kept = [a for a in range(x.ndim) if a not in axes]
    batch, n = tuple(x.shape[a] for a in kept), _count(x.shape, axes)
    perm = tuple(kept) + axes
    eye = creation.eye(n, dtype=x.dtype)
    off = 1.0 - eye
    rows = reshape(transpose(x, axes=perm), shape=batch + (1, n)) * off + eye
    pairs = _prod_others(rows, axis=-1) * off
    h_col = reshape(transpose(h, axes=perm), shape=batch + (n, 1))
    grad = sum(h_col * pairs, axis=-2)
    moved_shape = batch + tuple(x.shape[a] for a in axes)
    inverse = tuple(int(i) for i in np.argsort(perm))
    return (transpose(reshape(grad, shape=moved_shape), axes=inverse),)


# --- max, min ----------------------------------------------------------------------------


def _nonempty_reduction_rule(x, *, axis=None, keepdims=False):
    """A reduction with no identity (max, argmax, ...): the reduced axes must be non-empty."""
    axes = rules.normalize_axes(axis, len(x.shape))
    if builtins.any(x.shape[a] == 0 for a in axes):
        raise ShapeError(
            f"cannot reduce x{rules.fmt(x.shape)} over the empty axis={axis}: "
            "the reduction has no identity"
        )
    return Spec(rules.reduced_shape(tuple(x.shape), axes, keepdims), x.dtype)


@defop(rule=_nonempty_reduction_rule)
def max(xp, x, *, axis=None, keepdims=False, out=None):
    """Largest element over ``axis``; the gradient is split evenly among ties (as in TF)."""
    return xp.max(x, axis=_axis(axis), keepdims=keepdims, out=out)


@defop(rule=_nonempty_reduction_rule)
def min(xp, x, *, axis=None, keepdims=False, out=None):
    """Smallest element over ``axis``; the gradient is split evenly among ties (as in TF)."""
    return xp.min(x, axis=_axis(axis), keepdims=keepdims, out=out)


def _extremum_vjp(g, y, x, *, axis, keepdims):
    weights = _extremum_weights(x, y, axis=axis, keepdims=keepdims)
    return (expand_reduced(g, x.shape, axis, keepdims) * weights,)


max.defvjp(_extremum_vjp)
min.defvjp(_extremum_vjp)


def _weights_rule(x, y, *, axis=None, keepdims=False):
    return Spec(tuple(x.shape), rules.floating_result(x.dtype))


# Piecewise constant in x (its derivative is zero almost everywhere), hence not differentiable.
@defop(rule=_weights_rule, differentiable=False)
def _extremum_weights(xp, x, y, *, axis=None, keepdims=False, out=None):
    """1/k where x equals the reduced value y (k ties in its slice), else 0."""
    axes = rules.normalize_axes(axis, x.ndim)
    hits = x == (y if keepdims else xp.expand_dims(y, axes))
    ties = xp.maximum(hits.sum(axis=axes, keepdims=True), 1)  # a NaN slice has no hit
    return xp.divide(hits, ties, dtype=rules.floating_result(x.dtype), out=out)


# --- argmax, argmin ----------------------------------------------------------------------


def _arg_rule(x, *, axis=None, keepdims=False):
    if axis is not None and not isinstance(axis, (int, np.integer)):
        raise ArgumentError(f"axis must be an int or None, got axis={axis!r}")
    spec = _nonempty_reduction_rule(x, axis=axis, keepdims=keepdims)
    return Spec(spec.shape, _dtypes.int64)


@defop(rule=_arg_rule, differentiable=False)
def argmax(xp, x, *, axis=None, keepdims=False, out=None):
    """Index (int64) of the first largest element along ``axis`` (of the flattened x if None)."""
    return xp.argmax(x, axis=axis, keepdims=keepdims)


@defop(rule=_arg_rule, differentiable=False)
def argmin(xp, x, *, axis=None, keepdims=False, out=None):
    """Index (int64) of the first smallest element along ``axis`` (of the flattened x if None)."""
    return xp.argmin(x, axis=axis, keepdims=keepdims)


# --- all, any ----------------------------------------------------------------------------


@defop(rule=rules.reduction(dtype=_dtypes.bool_), differentiable=False)
def all(xp, x, *, axis=None, keepdims=False, out=None):
    """True where every element over ``axis`` is nonzero (True for an empty reduction)."""
    return xp.all(x, axis=_axis(axis), keepdims=keepdims, out=out)


@defop(rule=rules.reduction(dtype=_dtypes.bool_), differentiable=False)
def any(xp, x, *, axis=None, keepdims=False, out=None):
    """True where some element over ``axis`` is nonzero (False for an empty reduction)."""
    return xp.any(x, axis=_axis(axis), keepdims=keepdims, out=out)


# --- var, std ----------------------------------------------------------------------------


def _moment_rule(x, *, axis=None, correction=0, keepdims=False):
    if not isinstance(correction, (int, float, np.integer, np.floating)) or correction < 0:
        raise ArgumentError(f"correction must be a non-negative number, got {correction!r}")
    return rules.reduction(floating=True)(x, axis=axis, keepdims=keepdims)


def _moment(fn, x, axis, correction, keepdims, out):
    dtype = rules.floating_result(x.dtype)
    kwargs = dict(axis=_axis(axis), dtype=dtype, ddof=correction, keepdims=keepdims, out=out)
    if correction < _count(x.shape, axis):
        return fn(x, **kwargs)
    # N - correction <= 0: the result is NaN (or Inf), as IEEE division says, without
    # NumPy's "degrees of freedom" warning.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(x, **kwargs)


@defop(rule=_moment_rule)
def var(xp, x, *, axis=None, correction=0, keepdims=False, out=None):
    """Variance over ``axis``, dividing by ``N - correction`` (array-API; 1 for sample var)."""
    return _moment(xp.var, x, axis, correction, keepdims, out)


@defop(rule=_moment_rule)
def std(xp, x, *, axis=None, correction=0, keepdims=False, out=None):
    """Standard deviation over ``axis``, dividing by ``N - correction``; gradient 0 where 0."""
    return _moment(xp.std, x, axis, correction, keepdims, out)


def _centered(x, axis, correction):
    """``(x - mean) / (N - correction)``: d var / dx is twice this."""
    dof = _count(x.shape, axis) - correction
    return (x - mean(x, axis=axis, keepdims=True)) * (1.0 / dof if dof > 0 else math.nan)


@var.defvjp
def _var_vjp(g, y, x, *, axis, correction, keepdims):
    return (expand_reduced(g, x.shape, axis, keepdims) * 2.0 * _centered(x, axis, correction),)


@std.defvjp
def _std_vjp(g, y, x, *, axis, correction, keepdims):
    # d std = d var / (2 std); a constant slice (std 0) gets gradient 0 rather than NaN.
    scale = _reciprocal_or_zero(expand_reduced(y, x.shape, axis, keepdims))
    return (expand_reduced(g, x.shape, axis, keepdims) * scale * _centered(x, axis, correction),)


@defop(rule=rules.unary(floating=True))
def _reciprocal_or_zero(xp, x, *, out=None):
    """``1 / x``, and 0 where x is 0 (TF's reciprocal_no_nan)."""
    if out is None:
        result = xp.zeros(x.shape, rules.floating_result(x.dtype))
    else:
        result = out
        result[...] = 0
    return xp.divide(1, x, out=result, where=x != 0)


@_reciprocal_or_zero.defvjp
def _reciprocal_or_zero_vjp(g, y, x):
    return (-(g * y * y),)  # d(1/x) = -1/x^2 = -y^2, and 0 where y is 0


# --- logsumexp ---------------------------------------------------------------------------


@defop(rule=rules.reduction(floating=True))
def logsumexp(xp, x, *, axis=None, keepdims=False, out=None):
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow.

    >>> import rillet as rl
    >>> float(rl.logsumexp(rl.asarray([1000.0, 1000.0])))
    1000.6931762695312
    """
    axes = rules.normalize_axes(axis, x.ndim)
    x = x.astype(rules.floating_result(x.dtype), copy=False)
    # Subtract the slice max so that exp cannot overflow; an infinite (or empty, -inf) max
    # is replaced by 0 so that inf - inf does not make a NaN.
    top = xp.max(x, axis=axes, keepdims=True, initial=-xp.inf)
    top = xp.where(xp.isfinite(top), top, 0).astype(x.dtype)
    total = xp.sum(xp.exp(x - top), axis=axes, keepdims=True)
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf or empty slice
        result = xp.log(total) + top
    return result if keepdims else xp.squeeze(result, axis=axes)


@logsumexp.defvjp
def _logsumexp_vjp(g, y, x, *, axis, keepdims):
    from .elementwise import exp

    # the gradient is softmax(x) = exp(x - logsumexp(x)), reusing the output
    softmax = exp(x - expand_reduced(y, x.shape, axis, keepdims))
    return (expand_reduced(g, x.shape, axis, keepdims) * softmax,)


# --- cumsum, cumprod ---------------------------------------------------------------------


def _scan_rule(x, *, axis=None, exclusive=False, reverse=False):
    if axis is None:  # the flattened x
        size = None if builtins.any(s is None for s in x.shape) else math.prod(x.shape)
        return Spec((size,), _sum_dtype(x.dtype))
    rules.normalize_axis(axis, len(x.shape))
    return Spec(tuple(x.shape), _sum_dtype(x.dtype))


def _scan(xp, scan, x, axis, exclusive: bool, reverse: bool, identity):
    """``scan`` (cumsum/cumprod) along ``axis``, optionally exclusive and/or from the end."""
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = rules.normalize_axis(axis, x.ndim)
    if reverse:
        x = xp.flip(x, axis)
    result = scan(x, axis=axis, dtype=_sum_dtype(x.dtype))
    if exclusive:  # shift by one: element i combines the elements before i
        shifted = xp.empty_like(result)
        head = (slice(None),) * axis
        shifted[head + (slice(0, 1),)] = identity
        shifted[head + (slice(1, None),)] = result[head + (slice(0, -1),)]
        result = shifted
    return xp.flip(result, axis) if reverse else result


@defop(rule=_scan_rule)
def cumsum(xp, x, *, axis=None, exclusive=False, reverse=False, out=None):
    """Running sum along ``axis`` (over the flattened x when None, as NumPy does).

    ``exclusive`` leaves each element out of its own sum; ``reverse`` sums from the end
    (both as in ``tf.math.cumsum``).

    >>> import rillet as rl
    >>> rl.cumsum(rl.asarray([1, 2, 3]), axis=0, exclusive=True).numpy().tolist()
    [0, 1, 3]
    """
    return _scan(xp, xp.cumsum, x, axis, exclusive, reverse, identity=0)


@cumsum.defvjp
def _cumsum_vjp(g, y, x, *, axis, exclusive, reverse):
    from .shapes import reshape

    # each x_j enters the sums after it (before it when reversed): scan g the other way
    grad = cumsum(g, axis=0 if axis is None else axis, exclusive=exclusive, reverse=not reverse)
    return (reshape(grad, shape=x.shape) if axis is None else grad,)


@defop(rule=_scan_rule)
def cumprod(xp, x, *, axis=None, exclusive=False, reverse=False, out=None):
    """Running product along ``axis`` (over the flattened x when None, as NumPy does).

    ``exclusive`` and ``reverse`` as in :func:`cumsum`. The gradient is exact at zeros (its
    own gradient, the second order, only away from them).
    """
    return _scan(xp, xp.cumprod, x, axis, exclusive, reverse, identity=1)


@cumprod.defvjp
def _cumprod_vjp(g, y, x, *, axis, exclusive, reverse):
    from .shapes import reshape

    shape = x.shape
    if axis is None:  # the forward pass scanned the flattened x; g and y are flat
        x, axis = reshape(x, shape=(-1,)), 0
    before, first = _cumprod_zero_masks(x, axis=axis, reverse=reverse)
    back = dict(axis=axis, exclusive=exclusive, reverse=not reverse)
    # Before the first zero (in scan order) x_j is nonzero and every product holding x_j is
    # y_i / x_j, so the gradient is (sum of g_i * y_i over those products) / x_j.
    x_safe = x * before + (1.0 - before)
    grad = before * cumsum(g * y, **back) / x_safe
    # At the first zero, the products are those of x with that zero set to one; past it,
    # every product holding x_j also holds that zero, so the gradient is 0.
    x_one = x * (1.0 - first) + first
    partial = cumprod(x_one, axis=axis, exclusive=exclusive, reverse=reverse)
    grad = grad + first * cumsum(g * partial, **back)
    return (reshape(grad, shape=shape) if grad.shape != shape else grad,)


def _masks_rule(x, *, axis=0, reverse=False):
    rules.normalize_axis(axis, len(x.shape))
    return (Spec(tuple(x.shape), x.dtype), Spec(tuple(x.shape), x.dtype))


# Piecewise constant in x: zero derivative almost everywhere, hence not differentiable.
@defop(rule=_masks_rule, differentiable=False)
def _cumprod_zero_masks(xp, x, *, axis=0, reverse=False, out=None):
    """Masks (in x's dtype) of the elements before the first zero along ``axis`` (from the
    end if ``reverse``), and of that first zero."""
    zero = x == 0
    if reverse:
        zero = xp.flip(zero, axis)
    seen = xp.cumsum(zero, axis=axis)  # zeros up to and including each element
    before, first = seen == 0, zero & (seen == 1)
    if reverse:
        before, first = xp.flip(before, axis), xp.flip(first, axis)
    return before.astype(x.dtype), first.astype(x.dtype)


# --- norm --------------------------------------------------------------------------------

# ord -> kind, for norms over one axis (vectors) and over two (matrices). "l2" is the
# Euclidean norm of the elements (Frobenius for matrices); "col"/"row" are the largest
# column/row sum of absolute values; "spectral" the largest singular value.
_VECTOR_NORMS = {None: "l2", 2: "l2", 1: "l1", math.inf: "linf"}
_MATRIX_NORMS = {None: "l2", "fro": "l2", 2: "spectral", 1: "col", math.inf: "row"}


def _norm_plan(ord, axis, ndim: int) -> tuple[str, tuple[int, ...]]:
    """(kind, axes) of a norm; matrix axes keep their order: (rows, columns)."""
    if axis is None:
        if ord is None:
            return "l2", tuple(range(ndim))
        if ndim not in (1, 2):
            raise ArgumentError(
                f"ord={ord!r} with axis=None needs a tensor of rank 1 or 2, got rank {ndim}; "
                "pass axis"
            )
        axis = tuple(range(ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if len(items) not in (1, 2):
        if ord is not None:
            raise ArgumentError(
                f"ord={ord!r} needs one axis (vector) or two (matrix), got axis={axis}"
            )
        return "l2", rules.normalize_axes(items, ndim)
    axes = _distinct_axes(items, ndim, "axis")
    table = _VECTOR_NORMS if len(axes) == 1 else _MATRIX_NORMS
    for key, kind in table.items():
        if not isinstance(ord, bool) and ord == key:
            return kind, axes
    what = "vector" if len(axes) == 1 else "matrix"
    raise ArgumentError(
        f"ord={ord!r} is not a {what} norm; expected one of {', '.join(map(repr, table))}"
    )


def _norm_rule(x, *, ord=None, axis=None, keepdims=False):
    _, axes = _norm_plan(ord, axis, len(x.shape))
    shape = rules.reduced_shape(tuple(x.shape), axes, keepdims)
    return Spec(shape, rules.floating_result(x.dtype))


@defop(rule=_norm_rule)
def norm(xp, x, *, ord=None, axis=None, keepdims=False, out=None):
    """Vector or matrix norm (``numpy.linalg.norm``): over one axis ``ord`` is None/2, 1 or
    inf; over two, None/'fro', 1, 2 or inf. With ``axis=None`` and ``ord=None``, the 2-norm
    of all elements. Gradients are 0 where the norm is 0.

    >>> import rillet as rl
    >>> float(rl.norm(rl.asarray([3.0, 4.0])))
    5.0
    """
    kind, axes = _norm_plan(ord, axis, x.ndim)
    x = x.astype(rules.floating_result(x.dtype), copy=False)
    if kind == "l2":
        return xp.sqrt(xp.sum(x * x, axis=axes, keepdims=keepdims), out=out)
    if kind == "l1":
        return xp.sum(xp.abs(x), axis=axes, keepdims=keepdims, out=out)
    if kind == "linf":
        return xp.max(xp.abs(x), axis=axes, keepdims=keepdims, out=out)
    ord = {"col": 1, "row": math.inf, "spectral": 2}[kind]
    return xp.linalg.norm(x, ord=ord, axis=axes, keepdims=keepdims)


@norm.defvjp
def _norm_vjp(g, y, x, *, ord, axis, keepdims):
    kind, axes = _norm_plan(ord, axis, len(x.shape))
    g = expand_reduced(g, x.shape, axes, keepdims)
    if kind == "l2":  # d|x| = x / |x|, taken as 0 at x = 0
        return (g * x * _reciprocal_or_zero(expand_reduced(y, x.shape, axes, keepdims)),)
    return (g * _norm_subgradient(x, ord=ord, axis=axis),)


def _subgradient_rule(x, *, ord=None, axis=None):
    _norm_plan(ord, axis, len(x.shape))
    return Spec(tuple(x.shape), rules.floating_result(x.dtype))


@defop(rule=_subgradient_rule)
def _norm_subgradient(xp, x, *, ord=None, axis=None, out=None):
    """d norm / dx for the non-Euclidean norms; 0 at x = 0; ties share evenly."""
    kind, axes = _norm_plan(ord, axis, x.ndim)
    x = x.astype(rules.floating_result(x.dtype), copy=False)
    if kind == "spectral":
        return _top_singular_pair(xp, x, axes)
    sign = xp.sign(x)
    if kind == "l1":
        return sign
    size = xp.abs(x)
    if kind == "col":  # the largest column sum (over rows, axes[0]) decides
        size, axes = size.sum(axis=axes[0], keepdims=True), axes[1:]
    elif kind == "row":
        size, axes = size.sum(axis=axes[1], keepdims=True), axes[:1]
    hits = size == size.max(axis=axes, keepdims=True)
    ties = xp.maximum(hits.sum(axis=axes, keepdims=True), 1)
    return sign * xp.divide(hits, ties, dtype=x.dtype)


def _top_singular_pair(xp, x, axes):
    """``u v^T`` of the largest singular value (d sigma_max / dx); 0 where sigma_max = 0."""
    m = xp.moveaxis(x, axes, (-2, -1))
    u, s, vh = xp.linalg.svd(m, full_matrices=False)
    d = u[..., :, :1] * vh[..., :1, :] * (s[..., :1, None] > 0)
    return xp.moveaxis(d, (-2, -1), axes)


@_norm_subgradient.defvjp
def _norm_subgradient_vjp(g, y, x, *, ord, axis):
    if _norm_plan(ord, axis, len(x.shape))[0] == "spectral":
        raise GradientError(
            "second-order gradients of the spectral norm (ord=2 over two axes) are not implemented"
        )
    return (None,)  # the other subgradients are piecewise constant: zero almost everywhere
