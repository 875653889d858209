"""Neural-network ops: softmax, cross-entropies, normalization (pooling is in pooling.py).

Every forward op is one coarse kernel. Where a gradient is more than a line or two of
ops, it is a registered op of its own (``max_pool_grad``, ``layer_norm_grad``, ...) with
one fused kernel for speed and a VJP of its own, so gradients of gradients still work.
Gradients use only the core ops (arithmetic, ``exp``, ``tanh``, ``sum``, ``reshape``) and
the ops of this module.
"""

from __future__ import annotations

import math

from .. import dtypes as _dtypes
from ..errors import ArgumentError, DTypeError, ShapeError
from . import _rules as rules
from ._registry import Spec, defop
from .creation import ones_like
from .elementwise import exp, rsqrt, tanh
from .reduction import sum as reduce_sum
from .shapes import reshape

__all__ = [
    "softmax", "log_softmax",
    "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
    "sigmoid_cross_entropy_with_logits",
    "batch_norm", "moments", "fused_batch_norm", "layer_norm",
]  # fmt: skip

fmt = rules.fmt


# ---------------------------------------------------------------- shared helpers


def _check_floating(x, what: str) -> None:
    if not _dtypes.is_floating(x.dtype):
        raise DTypeError(f"{what} has dtype {x.dtype}, expected a floating dtype")


def _kept_shape(shape: tuple, axes: tuple[int, ...]) -> tuple:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _count(shape: tuple, axes: tuple[int, ...]) -> int:
    return math.prod(shape[a] for a in axes)


def _mean(t, axes: tuple[int, ...], n: int):
    """The mean of ``t`` over ``axes`` (keepdims), as ops."""
    return reduce_sum(t, axis=axes, keepdims=True) / n


def _shifted(xp, x, axis):
    """``x`` minus its maximum along ``axis``: exp of it cannot overflow, and the sum of
    the exps is at least 1 (the maximum's term), so its log is finite."""
    return x - xp.max(x, axis=axis, keepdims=True)


def _log_softmax(xp, x, axis):
    shifted = _shifted(xp, x, axis)
    shifted -= xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


def _softmax(xp, x, axis, out=None):
    if _along_last(x, axis):
        # fmax skips NaNs where max stops at them, and is twice as fast on short rows; a row
        # with a NaN comes out all NaN either way (its sum of exps is NaN)
        e = xp.subtract(x, xp.fmax.reduce(x, axis=-1, keepdims=True), out=out)
        xp.exp(e, out=e)
        total = _row_sums(xp, e)
        e *= xp.reciprocal(total, out=total)
        return e
    e = xp.exp(_shifted(xp, x, axis), out=out)
    e /= e.sum(axis=axis, keepdims=True)
    return e


# Rows up to this long take the row-wise fast paths: there a matrix-vector product sums
# several times faster than a ufunc reduction, and its rounding error (about the row length
# over BLAS's number of partial sums, times eps) stays as small as the pairwise sum's.
_SHORT_ROW = 1024


def _along_last(x, axis) -> bool:
    """True when a reduction over ``axis`` (an int or a tuple) runs along the last axis of a
    non-empty float32/float64 ``x`` with short rows: the case of the row-wise fast paths."""
    axes = axis if isinstance(axis, tuple) else (axis,)
    return (
        len(axes) == 1
        and x.ndim > 0
        and axes[0] % x.ndim == x.ndim - 1
        and 0 < x.shape[-1] <= _SHORT_ROW
        and x.size > 0
        and x.dtype.name in ("float32", "float64")
    )


def _row_sums(xp, x, scale: float = 1.0):
    """``scale`` times the sums over the last axis (keepdims), as one matrix-vector product:
    BLAS is several times faster than a ufunc reduction over many short rows."""
    weights = xp.full(x.shape[-1], scale, dtype=x.dtype)
    return xp.matmul(x, weights)[..., None]


def _row_means(xp, x):
    return _row_sums(xp, x, 1.0 / x.shape[-1])


# ---------------------------------------------------------------- softmax


def _softmax_rule(x, *, axis=-1):
    _check_floating(x, "x")
    rules.normalize_axis(axis, len(x.shape))
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_softmax_rule)
def softmax(xp, x, *, axis=-1, out=None):
    """``exp(x) / sum(exp(x))`` along ``axis``, computed stably.

    >>> import rillet as rl
    >>> rl.softmax(rl.asarray([1000.0, 1000.0])).numpy().tolist()
    [0.5, 0.5]
    """
    return _softmax(xp, x, axis, out)


@softmax.defvjp
def _softmax_vjp(g, y, x, *, axis):
    return (softmax_grad(g, y, axis=axis),)


def _softmax_grad_rule(g, y, *, axis=-1):
    _check_floating(y, "y")
    rules.check_same_shape(g, y, ("g", "y"))
    rules.normalize_axis(axis, len(y.shape))
    return Spec(tuple(y.shape), y.dtype)


@defop(rule=_softmax_grad_rule, promote=True)
def softmax_grad(xp, g, y, *, axis=-1, out=None):
    """The gradient of :func:`softmax` for its input, given the output gradient ``g`` and
    the softmax ``y``: ``y * (g - sum(g * y))`` along ``axis`` (the Jacobian
    ``diag(y) - y y^T`` is symmetric)."""
    gy = xp.multiply(g, y, out=out)
    if _along_last(gy, axis):
        inner = _row_sums(xp, gy)
    else:
        inner = gy.sum(axis=axis, keepdims=True)
    d_x = xp.subtract(g, inner, out=gy)
    d_x *= y
    return d_x


@softmax_grad.defvjp
def _softmax_grad_vjp(h, d_x, g, y, *, axis):
    # d_x = y * (g - s), s = <g, y>: symmetric in g, and d/dy gives h * (g - s) - g * <h, y>
    s = reduce_sum(g * y, axis=axis, keepdims=True)
    d_y = h * (g - s) - g * reduce_sum(h * y, axis=axis, keepdims=True)
    return (softmax_grad(h, y, axis=axis), d_y)


@defop(rule=_softmax_rule)
def log_softmax(xp, x, *, axis=-1, out=None):
    """``x - log(sum(exp(x)))`` along ``axis``, computed stably.

    >>> import rillet as rl
    >>> rl.log_softmax(rl.asarray([0.0, 1e4])).numpy().tolist()
    [-10000.0, 0.0]
    """
    result = _log_softmax(xp, x, axis)
    if out is None:
        return result
    out[...] = result
    return out


@log_softmax.defvjp
def _log_softmax_vjp(g, y, x, *, axis):
    return (g - exp(y) * reduce_sum(g, axis=axis, keepdims=True),)  # exp(y) is the softmax


# ---------------------------------------------------------------- cross-entropies


def _softmax_xent_rule(labels, logits, *, axis=-1):
    _check_floating(logits, "logits")
    rules.check_same_shape(labels, logits, ("labels", "logits"))
    ax = rules.normalize_axis(axis, len(logits.shape))
    return Spec(tuple(s for i, s in enumerate(logits.shape) if i != ax), logits.dtype)


@defop(rule=_softmax_xent_rule, promote=True)
def softmax_cross_entropy_with_logits(xp, labels, logits, *, axis=-1, out=None):
    """Per-example ``-sum(labels * log_softmax(logits))`` along ``axis`` (as TF).

    ``labels`` are probabilities (each row usually sums to 1); both inputs get gradients.

    >>> import rillet as rl
    >>> loss = rl.softmax_cross_entropy_with_logits([[0.0, 1.0]], [[0.0, 0.0]])
    >>> [round(v, 4) for v in loss.tolist()]
    [0.6931]
    """
    return xp.negative(xp.sum(labels * _log_softmax(xp, logits, axis), axis=axis), out=out)


@softmax_cross_entropy_with_logits.defvjp
def _softmax_xent_vjp(g, y, labels, logits, *, axis):
    return softmax_cross_entropy_with_logits_grad(g, labels, logits, axis=axis)


def _softmax_xent_grad_rule(g, labels, logits, *, axis=-1):
    loss = _softmax_xent_rule(labels, logits, axis=axis)
    if not rules.same_shape(tuple(g.shape), loss.shape):
        raise ShapeError(f"g{fmt(g.shape)} must have the loss shape {fmt(loss.shape)}")
    spec = Spec(tuple(logits.shape), logits.dtype)
    return (spec, spec)


@defop(rule=_softmax_xent_grad_rule, promote=True)
def softmax_cross_entropy_with_logits_grad(xp, g, labels, logits, *, axis=-1, out=None):
    """Both gradients of the softmax cross-entropy for output gradient ``g``:
    ``(-g * log_softmax(logits), g * (softmax(logits) * sum(labels) - labels))``."""
    log_p = _log_softmax(xp, logits, axis)
    g = xp.expand_dims(g, axis)
    d_logits = xp.exp(log_p)
    d_logits *= labels.sum(axis=axis, keepdims=True)  # exact even when labels do not sum to 1
    d_logits -= labels
    d_logits *= g
    log_p *= -g
    return log_p, d_logits


@softmax_cross_entropy_with_logits_grad.defvjp
def _softmax_xent_grad_vjp(h, y, g, labels, logits, *, axis):
    h_labels, h_logits = h
    ax = rules.normalize_axis(axis, logits.ndim)
    g = reshape(g, shape=_kept_shape(logits.shape, (ax,)))
    log_p = log_softmax(logits, axis=ax)
    p = exp(log_p)
    total = reduce_sum(labels, axis=ax, keepdims=True)
    hp = reduce_sum(h_logits * p, axis=ax, keepdims=True)
    d_g = reduce_sum(h_logits * (p * total - labels) - h_labels * log_p, axis=ax)
    d_labels = g * (hp - h_logits)
    h_sum = reduce_sum(h_labels, axis=ax, keepdims=True)
    d_logits = g * (p * h_sum - h_labels + total * p * (h_logits - hp))
    return (d_g, d_labels, d_logits)


def _sparse_xent_rule(labels, logits):
    _check_floating(logits, "logits")
    if not _dtypes.is_integer(labels.dtype):
        raise DTypeError(f"labels has dtype {labels.dtype}, expected an integer dtype")
    if len(logits.shape) < 1 or not rules.same_shape(tuple(labels.shape), tuple(logits.shape[:-1])):
        raise ShapeError(
            f"labels{fmt(labels.shape)} must have the shape of logits{fmt(logits.shape)} "
            "without its last (class) axis"
        )
    return Spec(tuple(logits.shape[:-1]), logits.dtype)


def _check_labels(xp, labels, classes: int) -> None:
    """Class indices must lie in ``[0, classes)``; name the first one that does not."""
    if labels.size == 0 or (labels.min() >= 0 and labels.max() < classes):
        return
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        index = tuple(int(i) for i in xp.argwhere(bad)[0])
        where = ", ".join(str(i) for i in index)
        raise ArgumentError(
            f"labels[{where}] = {labels[index]} is outside the valid range [0, {classes}) "
            f"for logits with {classes} classes"
        )


@defop(rule=_sparse_xent_rule)
def sparse_softmax_cross_entropy_with_logits(xp, labels, logits, *, out=None):
    """Per-example ``-log_softmax(logits)[label]`` for integer class ``labels`` (as TF).

    >>> import rillet as rl
    >>> loss = rl.sparse_softmax_cross_entropy_with_logits([1], [[0.0, 0.0]])
    >>> [round(v, 4) for v in loss.tolist()]
    [0.6931]
    """
    _check_labels(xp, labels, logits.shape[-1])
    if _along_last(logits, -1):  # short rows: the row-wise fast paths
        shifted = xp.subtract(logits, xp.fmax.reduce(logits, axis=-1, keepdims=True))
        picked = _picked(xp, shifted, labels)
        log_total = xp.log(_row_sums(xp, xp.exp(shifted))[..., 0])
        return xp.subtract(log_total, picked, out=out)
    shifted = _shifted(xp, logits, -1)
    log_total = xp.log(xp.exp(shifted).sum(axis=-1))
    picked = xp.take_along_axis(shifted, labels[..., None], axis=-1)[..., 0]
    return xp.subtract(log_total, picked, out=out)


def _picked(xp, x, labels):
    """``x[..., label]`` for each row: one gather from the flat rows."""
    classes = x.shape[-1]
    flat = xp.ascontiguousarray(x).reshape(-1)
    return flat[xp.arange(0, flat.size, classes).reshape(labels.shape) + labels]


@sparse_softmax_cross_entropy_with_logits.defvjp
def _sparse_xent_vjp(g, y, labels, logits):
    return (None, sparse_softmax_cross_entropy_with_logits_grad(g, labels, logits))


def _sparse_xent_grad_rule(g, labels, logits):
    loss = _sparse_xent_rule(labels, logits)
    if not rules.same_shape(tuple(g.shape), loss.shape):
        raise ShapeError(f"g{fmt(g.shape)} must have the loss shape {fmt(loss.shape)}")
    return Spec(tuple(logits.shape), logits.dtype)


@defop(rule=_sparse_xent_grad_rule)
def sparse_softmax_cross_entropy_with_logits_grad(xp, g, labels, logits, *, out=None):
    """The logits gradient of the sparse cross-entropy: ``g * (softmax(logits) - onehot)``."""
    p = _softmax(xp, logits, -1, out)
    if p.flags.c_contiguous and p.size:
        flat = p.reshape(-1)
        flat[xp.arange(0, flat.size, p.shape[-1]).reshape(labels.shape) + labels] -= 1
    else:
        index = labels[..., None]
        xp.put_along_axis(p, index, xp.take_along_axis(p, index, axis=-1) - 1, axis=-1)
    p *= g[..., None]
    return p


@sparse_softmax_cross_entropy_with_logits_grad.defvjp
def _sparse_xent_grad_vjp(h, y, g, labels, logits):
    unit = sparse_softmax_cross_entropy_with_logits_grad(ones_like(g), labels, logits)
    p = softmax(logits)
    g = reshape(g, shape=g.shape + (1,))
    d_logits = g * p * (h - reduce_sum(h * p, axis=-1, keepdims=True))  # softmax's VJP of h
    return (reduce_sum(h * unit, axis=-1), None, d_logits)


def _sigmoid_xent_rule(labels, logits):
    _check_floating(logits, "logits")
    rules.check_same_shape(labels, logits, ("labels", "logits"))
    return Spec(tuple(logits.shape), logits.dtype)


@defop(rule=_sigmoid_xent_rule, promote=True)
def sigmoid_cross_entropy_with_logits(xp, labels, logits, *, out=None):
    """Elementwise ``-z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x))`` for labels ``z``.

    >>> import rillet as rl
    >>> rl.sigmoid_cross_entropy_with_logits([1.0, 0.0], [1e4, -1e4]).numpy().tolist()
    [0.0, 0.0]
    """
    # max(x, 0) - x z + log1p(exp(-|x|)): exp never overflows, log1p keeps tiny terms.
    loss = xp.log1p(xp.exp(-xp.abs(logits)), out=out)
    loss += xp.maximum(logits, 0)
    loss -= logits * labels
    return loss


@sigmoid_cross_entropy_with_logits.defvjp
def _sigmoid_xent_vjp(g, y, labels, logits):
    return sigmoid_cross_entropy_with_logits_grad(g, labels, logits)


def _sigmoid_xent_grad_rule(g, labels, logits):
    spec = _sigmoid_xent_rule(labels, logits)
    rules.check_same_shape(g, logits, ("g", "logits"))
    return (spec, spec)


@defop(rule=_sigmoid_xent_grad_rule, promote=True)
def sigmoid_cross_entropy_with_logits_grad(xp, g, labels, logits, *, out=None):
    """Both gradients of the sigmoid cross-entropy: ``(-g * x, g * (sigmoid(x) - z))``."""
    d_logits = xp.tanh(0.5 * logits)  # sigmoid(x) = (1 + tanh(x/2)) / 2 cannot overflow
    d_logits += 1.0
    d_logits *= 0.5
    d_logits -= labels
    d_logits *= g
    return -g * logits, d_logits


@sigmoid_cross_entropy_with_logits_grad.defvjp
def _sigmoid_xent_grad_vjp(h, y, g, labels, logits):
    h_labels, h_logits = h
    t = tanh(0.5 * logits)
    sigmoid = 0.5 + 0.5 * t
    d_g = h_logits * (sigmoid - labels) - h_labels * logits
    d_logits = g * (0.25 * (1.0 - t * t) * h_logits - h_labels)  # sigmoid' = (1 - t^2) / 4
    return (d_g, -g * h_logits, d_logits)


# ---------------------------------------------------------------- normalization


def _batch_norm_rule(x, mean, variance, offset=None, scale=None, *, variance_epsilon=1e-3):
    _check_floating(x, "x")
    named = [
        (name, t)
        for name, t in zip(("x", "mean", "variance", "offset", "scale"),
                           (x, mean, variance, offset, scale))
        if t is not None
    ]  # fmt: skip
    shape = rules.broadcast_shapes(*(tuple(t.shape) for _, t in named), names=[n for n, _ in named])
    return Spec(shape, x.dtype)


@defop(rule=_batch_norm_rule, promote=True)
def batch_norm(xp, x, mean, variance, offset=None, scale=None, *, variance_epsilon=1e-3, out=None):
    """``(x - mean) / sqrt(variance + variance_epsilon) * scale + offset``, broadcasting
    (``tf.nn.batch_normalization``); ``offset`` and ``scale`` may be None."""
    factor = 1.0 / xp.sqrt(variance + variance_epsilon)  # per channel: cheap
    if scale is not None:
        factor = factor * scale
    y = xp.multiply(x - mean, factor, out=out)
    return y if offset is None else xp.add(y, offset, out=out)


@batch_norm.defvjp
def _batch_norm_vjp(g, y, x, mean, variance, offset, scale, *, variance_epsilon):
    inv = rsqrt(variance + variance_epsilon)
    centered = x - mean
    d_x = (g if scale is None else g * scale) * inv
    d_variance = -0.5 * d_x * centered * inv * inv  # d rsqrt(v)/dv = -rsqrt(v)^3 / 2
    d_scale = None if scale is None else g * centered * inv
    return (d_x, -d_x, d_variance, None if offset is None else g, d_scale)


def _moments_rule(x, *, axes, keepdims=False):
    _check_floating(x, "x")
    reduced = rules.normalize_axes(axes, len(x.shape), "axes")
    spec = Spec(rules.reduced_shape(tuple(x.shape), reduced, keepdims), x.dtype)
    return (spec, spec)


@defop(rule=_moments_rule)
def moments(xp, x, *, axes, keepdims=False, out=None):
    """``(mean, variance)`` of ``x`` over ``axes`` (``tf.nn.moments``; biased variance).

    >>> import rillet as rl
    >>> mean, variance = rl.moments(rl.asarray([1.0, 2.0, 3.0, 6.0]), axes=0)
    >>> float(mean), float(variance)
    (3.0, 3.5)
    """
    reduced = rules.normalize_axes(axes, x.ndim, "axes")
    mean = x.mean(axis=reduced, keepdims=True)
    variance = xp.square(x - mean).mean(axis=reduced, keepdims=keepdims)  # two-pass: stable
    return (mean if keepdims else mean.reshape(variance.shape)), variance


def _moments_grad(g_mean, g_variance, x, mean, axes: tuple[int, ...]):
    """The x-gradient of ``(mean, variance)`` over ``axes``: ``(g_m + 2 g_v (x - m)) / n``."""
    kept = _kept_shape(x.shape, axes)
    g_mean, g_variance, mean = (reshape(t, shape=kept) for t in (g_mean, g_variance, mean))
    return (g_mean + 2.0 * g_variance * (x - mean)) / _count(x.shape, axes)


@moments.defvjp
def _moments_vjp(g, y, x, *, axes, keepdims):
    reduced = rules.normalize_axes(axes, x.ndim, "axes")
    return (_moments_grad(g[0], g[1], x, y[0], reduced),)


def _normalized(xp, x, axes: tuple[int, ...], epsilon: float):
    """``(x_hat, mean, variance, inv_std)`` over ``axes`` (statistics keep their dims)."""
    mean = x.mean(axis=axes, keepdims=True)
    x_hat = x - mean
    variance = xp.square(x_hat).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / xp.sqrt(variance + epsilon)
    x_hat *= inv_std
    return x_hat, mean, variance, inv_std


def _normalized_last(xp, x, epsilon: float, out=None):
    """``(x_hat, inv_std, scratch)`` over the last axis, the row statistics as BLAS
    matrix-vector products; ``x_hat`` is written into ``out`` when given, ``scratch`` is a
    free array of x's shape."""
    x_hat = xp.subtract(x, _row_means(xp, x), out=out)
    scratch = xp.square(x_hat)
    inv_std = _row_means(xp, scratch)
    inv_std += epsilon
    xp.sqrt(inv_std, out=inv_std)
    xp.reciprocal(inv_std, out=inv_std)
    x_hat *= inv_std
    return x_hat, inv_std, scratch


def _scaled(x_hat, scale, offset):
    """``x_hat * scale + offset`` in place (``x_hat`` has the full shape)."""
    if scale is not None:
        x_hat *= scale
    if offset is not None:
        x_hat += offset
    return x_hat


def _check_param(p, x, name: str) -> None:
    shape = tuple(x.shape)
    if p is not None and rules.broadcast_shapes(tuple(p.shape), shape, names=(name, "x")) != shape:
        raise ShapeError(f"{name}{fmt(p.shape)} must broadcast to x{fmt(shape)}")


def _layer_norm_rule(x, scale=None, offset=None, *, axis=-1, epsilon=1e-3):
    _check_floating(x, "x")
    rules.normalize_axes(axis, len(x.shape))
    _check_param(scale, x, "scale")
    _check_param(offset, x, "offset")
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_layer_norm_rule, promote=True)
def layer_norm(xp, x, scale=None, offset=None, *, axis=-1, epsilon=1e-3, out=None):
    """Normalize ``x`` to zero mean and unit variance over ``axis`` (an int or a tuple),
    then ``* scale + offset`` (each broadcasting against ``x``, or None). Keras
    ``LayerNormalization``'s default ``epsilon=1e-3``.

    >>> import rillet as rl
    >>> rl.layer_norm(rl.asarray([[1.0, 3.0]]), epsilon=0.0).numpy().tolist()
    [[-1.0, 1.0]]
    """
    axes = rules.normalize_axes(axis, x.ndim)
    if _along_last(x, axes):
        x_hat = _normalized_last(xp, x, epsilon, out=out)[0]
    else:
        x_hat = _normalized(xp, x, axes, epsilon)[0]
    return _scaled(x_hat, scale, offset)


@layer_norm.defvjp
def _layer_norm_vjp(g, y, x, scale, offset, *, axis, epsilon):
    d_x, d_scale = layer_norm_grad(g, x, scale, axis=axis, epsilon=epsilon)
    return (d_x, None if scale is None else d_scale, None if offset is None else g)


def _layer_norm_grad_rule(g, x, scale=None, *, axis=-1, epsilon=1e-3):
    spec = _layer_norm_rule(x, scale, axis=axis, epsilon=epsilon)
    rules.check_same_shape(g, x, ("g", "x"))
    return (spec, Spec(() if scale is None else tuple(scale.shape), x.dtype))


def _unbroadcast(x, shape: tuple):
    """Sum ``x`` down to ``shape``, which broadcasts to ``x.shape``."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    return x.sum(axis=axes, keepdims=True).reshape(shape)


@defop(rule=_layer_norm_grad_rule, promote=True)
def layer_norm_grad(xp, g, x, scale=None, *, axis=-1, epsilon=1e-3, out=None):
    """Gradients of :func:`layer_norm` for ``x`` and ``scale`` (a 0-d zero when None).

    With ``a = g * scale``: ``d_x = inv_std * (a - mean(a) - x_hat * mean(a * x_hat))``.
    """
    axes = rules.normalize_axes(axis, x.ndim)
    if _along_last(x, axes) and g.dtype == x.dtype:
        return _layer_norm_grad_last(xp, g, x, scale, epsilon)
    x_hat, _, _, inv_std = _normalized(xp, x, axes, epsilon)
    a = g if scale is None else g * scale
    d_x = a - a.mean(axis=axes, keepdims=True)
    d_x -= x_hat * (a * x_hat).mean(axis=axes, keepdims=True)
    d_x *= inv_std
    d_scale = xp.zeros((), x.dtype) if scale is None else _unbroadcast(g * x_hat, scale.shape)
    return d_x, d_scale


def _layer_norm_grad_last(xp, g, x, scale, epsilon: float):
    """:func:`layer_norm_grad` over the last axis, with row statistics as BLAS products and
    the temporaries reused."""
    x_hat, inv_std, scratch = _normalized_last(xp, x, epsilon)
    a = g if scale is None else xp.multiply(g, scale, dtype=x.dtype)
    mean_a = _row_means(xp, a)
    c = _row_means(xp, xp.multiply(a, x_hat, out=scratch))
    d_x = xp.subtract(a, mean_a, out=None if a is g else a)
    d_x -= xp.multiply(x_hat, c, out=scratch)
    d_x *= inv_std
    if scale is None:
        return d_x, xp.zeros((), x.dtype)
    return d_x, _unbroadcast(xp.multiply(g, x_hat, out=scratch), scale.shape)


@layer_norm_grad.defvjp
def _layer_norm_grad_vjp(h, y, g, x, scale, *, axis, epsilon):
    # With P the self-adjoint centering projection, d_x = inv * P(a), a = g * scale; the
    # x-derivative adds the terms from inv (d inv/dx = -inv^2 x_hat / n) and from x_hat.
    h_x, h_scale = h
    axes = rules.normalize_axes(axis, x.ndim)
    n = _count(x.shape, axes)
    x_hat = layer_norm(x, axis=axes, epsilon=epsilon)
    inv = rsqrt(moments(x, axes=axes, keepdims=True)[1] + epsilon)
    a = g if scale is None else g * scale
    p_h = layer_norm_grad(h_x, x, axis=axes, epsilon=epsilon)[0]  # inv * P(h_x)
    c, hc = _mean(a * x_hat, axes, n), _mean(h_x * x_hat, axes, n)
    k = _mean(h_x * a, axes, n) - _mean(h_x, axes, n) * _mean(a, axes, n)
    d_x = inv * (inv * x_hat * (c * hc - k) - hc * y[0] - c * p_h)
    if scale is None:
        return (p_h, d_x, None)
    d_x = d_x + layer_norm_grad(g * h_scale, x, axis=axes, epsilon=epsilon)[0]
    return (scale * p_h + h_scale * x_hat, d_x, g * p_h)


def _fused_batch_norm_rule(x, scale=None, offset=None, *, epsilon=1e-3, axis=-1):
    _check_floating(x, "x")
    channels = x.shape[rules.normalize_axis(axis, len(x.shape))]
    for name, p in (("scale", scale), ("offset", offset)):
        if p is not None and not rules.same_shape(tuple(p.shape), (channels,)):
            raise ShapeError(
                f"{name}{fmt(p.shape)} must have shape ({channels},), the size of "
                f"x{fmt(x.shape)} along axis {axis}"
            )
    stat = Spec((channels,), x.dtype)
    return (Spec(tuple(x.shape), x.dtype), stat, stat)


def _channel_axes(ndim: int, axis: int) -> tuple[int, tuple[int, ...]]:
    channel = axis % ndim
    return channel, tuple(i for i in range(ndim) if i != channel)


@defop(rule=_fused_batch_norm_rule, promote=True)
def fused_batch_norm(xp, x, scale=None, offset=None, *, epsilon=1e-3, axis=-1, out=None):
    """Training batch normalization in one kernel: ``(y, batch_mean, batch_variance)``.

    Statistics are over every axis but the channel ``axis``; the variance is the biased
    one used to normalize. ``scale`` and ``offset`` have shape ``(channels,)`` or are None.
    """
    channel, reduced = _channel_axes(x.ndim, axis)
    x_hat, mean, variance, _ = _normalized(xp, x, reduced, epsilon)
    kept = _kept_shape(x.shape, reduced)
    scale, offset = (None if p is None else p.reshape(kept) for p in (scale, offset))
    return _scaled(x_hat, scale, offset), mean.reshape(-1), variance.reshape(-1)


@fused_batch_norm.defvjp
def _fused_batch_norm_vjp(g, y, x, scale, offset, *, epsilon, axis):
    # y is layer_norm over the non-channel axes, so layer_norm_grad gives its gradient.
    g_y, g_mean, g_variance = g
    channel, reduced = _channel_axes(x.ndim, axis)
    kept = _kept_shape(x.shape, reduced)
    scale_b = None if scale is None else reshape(scale, shape=kept)
    d_x, d_scale = layer_norm_grad(g_y, x, scale_b, axis=reduced, epsilon=epsilon)
    d_x = d_x + _moments_grad(g_mean, g_variance, x, y[1], reduced)
    d_scale = None if scale is None else reshape(d_scale, shape=scale.shape)
    d_offset = None if offset is None else reduce_sum(g_y, axis=reduced)
    return (d_x, d_scale, d_offset)
