"""Pooling, channels-last: max_pool1d/2d and avg_pool1d/2d with TF's window geometry.

"same" padding gives ceil(size / stride) outputs with the odd padded cell after; average
pooling divides by the real cells only and max pooling never picks padding. The backward
ops (``max_pool_grad``, ``avg_pool_grad``, ...) are registered ops with VJPs of their own,
so gradients of gradients work.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
from typing import NamedTuple

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, ShapeError
from . import _rules as rules
from ._jit import flat_floats, loop_helper, loop_kernel
from ._registry import Spec, defop
from .activations import relu_grad

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"]

fmt = rules.fmt


# ---------------------------------------------------------------- pooling: geometry


class _Plan(NamedTuple):
    """Where the windows of a pooling op lie, per spatial axis."""

    window: tuple[int, ...]
    strides: tuple[int, ...]
    outs: tuple  # output sizes (None where the input size is unknown)
    pads: tuple[tuple[int, int], ...]  # (before, after) padding


def _window_arg(value, d: int, name: str) -> tuple[int, ...]:
    """An int, ``d`` ints, or TF's ``d + 2`` with 1 at both ends, as ``d`` positive ints."""
    if value is inspect.Parameter.empty:
        raise ArgumentError(f"{name} is required")
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    items = (value,) * d if is_int else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(items) == d + 2 and items[0] == items[-1] == 1:
        items = items[1:-1]
    valid = all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items)
    if len(items) != d or not valid or min(items) < 1:
        raise ArgumentError(f"{name}={value!r} must be a positive int or {d} positive ints")
    return tuple(int(i) for i in items)


def _padding_arg(padding) -> str:
    mode = padding.lower() if isinstance(padding, str) else None
    if mode not in ("valid", "same"):
        raise ArgumentError(f"padding={padding!r} is not one of 'valid', 'same'")
    return mode


def _extent(size, k: int, s: int, mode: str) -> tuple:
    """TF's output size and (before, after) padding along one axis: "valid" keeps whole
    windows only; "same" gives ceil(size / s) outputs, padding the rest (more after)."""
    if size is None:
        return None, (0, 0)
    if mode == "valid":
        return (size - k) // s + 1, (0, 0)
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, (total // 2, total - total // 2)


def _plan(shape: tuple, pool_size, strides, padding) -> _Plan:
    """Where the windows lie. Every kernel call needs it, so it is cached (3.5us -> 0.3us)
    unless an argument is unhashable (sizes given as lists)."""
    try:
        return _cached_plan(tuple(shape), pool_size, strides, padding)
    except TypeError:
        return _compute_plan(tuple(shape), pool_size, strides, padding)


def _compute_plan(shape: tuple, pool_size, strides, padding) -> _Plan:
    d = len(shape) - 2
    window = _window_arg(pool_size, d, "pool_size")
    strides = window if strides is None else _window_arg(strides, d, "strides")
    mode = _padding_arg(padding)
    extents = [_extent(n, k, s, mode) for n, k, s in zip(shape[1:-1], window, strides)]
    return _Plan(window, strides, tuple(e[0] for e in extents), tuple(e[1] for e in extents))


_cached_plan = functools.lru_cache(maxsize=512, typed=True)(_compute_plan)

_LAYOUTS = {1: "(batch, width, channels)", 2: "(batch, height, width, channels)"}


def _pooled_spec(x, pool_size, strides, padding, d: int) -> Spec:
    if len(x.shape) != d + 2:
        raise ShapeError(f"x must have rank {d + 2} {_LAYOUTS[d]}, got shape {fmt(x.shape)}")
    plan = _plan(tuple(x.shape), pool_size, strides, padding)
    if any(o is not None and o < 1 for o in plan.outs):
        raise ShapeError(
            f"pool_size={plan.window} is larger than the spatial size {fmt(x.shape[1:-1])} "
            f"of x{fmt(x.shape)} with padding={padding!r}"
        )
    return Spec((x.shape[0],) + plan.outs + (x.shape[-1],), x.dtype)


def _pool_rule(d: int, allowed: tuple):
    def rule(x, *, pool_size, strides=None, padding="valid"):
        rules.check_dtype(x, allowed, "x")
        return _pooled_spec(x, pool_size, strides, padding, d)

    return rule


_MAX_POOL_DTYPES = _dtypes.NUMERIC


# ---------------------------------------------------------------- pooling: kernels
# A window "tap" is one offset inside the window; for each tap, one strided slice of the
# padded input holds that tap of every window. Looping over the taps (k*k big vectorized
# operations) is much faster than reducing a sliding-window view over its tiny last axes.


def _taps(plan: _Plan) -> list[tuple]:
    return [
        (slice(None),)
        + tuple(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(at, plan.strides, plan.outs))
        + (slice(None),)
        for at in itertools.product(*(range(k) for k in plan.window))
    ]


def _padded(xp, x, plan: _Plan, fill):
    if not any(b or a for b, a in plan.pads):
        return x
    return xp.pad(x, ((0, 0),) + plan.pads + ((0, 0),), constant_values=fill)


def _unpadded(x, plan: _Plan, shape: tuple):
    if not any(b or a for b, a in plan.pads):
        return x
    inner = tuple(slice(b, b + n) for (b, _), n in zip(plan.pads, shape[1:-1]))
    return x[(slice(None),) + inner + (slice(None),)]


def _lowest(xp, dtype):
    """The padding value that never wins a max."""
    return -xp.inf if _dtypes.is_floating(dtype) else xp.iinfo(dtype).min


def _start(xp, first, out):
    """The running result of a loop over taps, started from the first tap's values."""
    if out is None:
        return xp.copy(first)
    out[...] = first
    return out


def _max_pool(xp, x, plan: _Plan, out=None):
    loop = _pairs_loop(_max_pool_2x2_loop, plan, x, out)
    if loop is not None:
        y = np.empty((x.shape[0], *plan.outs, x.shape[-1]), x.dtype) if out is None else out
        loop(x, y)
        return y
    padded = _padded(xp, x, plan, _lowest(xp, x.dtype))
    taps = _taps(plan)
    result = _start(xp, padded[taps[0]], out)
    for tap in taps[1:]:
        xp.maximum(result, padded[tap], out=result)
    return result


def _argmax_taps(xp, padded, taps):
    """Which tap holds each window's maximum; ties go to the first, as TF routes them.
    (Arithmetic on the masks: masked assignment is several times slower.)"""
    best = xp.copy(padded[taps[0]])
    which = xp.zeros(best.shape, xp.int8 if len(taps) <= 127 else xp.int32)
    for k, tap in enumerate(taps[1:], 1):
        better = padded[tap] > best
        xp.maximum(best, padded[tap], out=best)
        which *= ~better  # forget the old winner where this tap wins
        which += which.dtype.type(k) * better
    return which


def _window_counts(xp, plan: _Plan, shape: tuple, dtype):
    """How many real (unpadded) cells each window covers: TF's avg_pool divides by it."""
    d = len(plan.window)
    counts = xp.ones((1,) * (d + 2), dtype)
    for axis, (n, k, s, o, (before, _)) in enumerate(
        zip(shape[1:-1], plan.window, plan.strides, plan.outs, plan.pads), 1
    ):
        starts = xp.arange(o) * s - before
        size = xp.minimum(starts + k, n) - xp.maximum(starts, 0)
        counts = counts * size.astype(dtype).reshape((-1,) + (1,) * (d + 1 - axis))
    return counts


def _avg_pool(xp, x, plan: _Plan, out=None):
    padded = _padded(xp, x, plan, 0)
    taps = _taps(plan)
    total = _start(xp, padded[taps[0]], out)
    for tap in taps[1:]:
        total += padded[tap]
    total /= _window_counts(xp, plan, x.shape, x.dtype)
    return total


# ---------------------------------------------------------------- pooling: ops


@defop(rule=_pool_rule(1, _MAX_POOL_DTYPES))
def max_pool1d(xp, x, *, pool_size, strides=None, padding="valid", out=None):
    """Max over windows of ``x`` (batch, width, channels).

    ``strides`` defaults to ``pool_size``; ``padding="same"`` gives ``ceil(width / stride)``
    outputs and ignores the padded cells, as TF does.
    """
    return _max_pool(xp, x, _plan(x.shape, pool_size, strides, padding), out)


@defop(rule=_pool_rule(2, _MAX_POOL_DTYPES))
def max_pool2d(xp, x, *, pool_size, strides=None, padding="valid", out=None):
    """Max over windows of ``x`` (batch, height, width, channels); see :func:`max_pool1d`.

    >>> import rillet as rl
    >>> x = rl.reshape(rl.arange(16.0), shape=(1, 4, 4, 1))
    >>> rl.max_pool2d(x, 2).numpy()[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    return _max_pool(xp, x, _plan(x.shape, pool_size, strides, padding), out)


def _max_pool_vjp(g, y, x, *, pool_size, strides, padding):
    return (max_pool_grad(x, g, pool_size=pool_size, strides=strides, padding=padding),)


max_pool1d.defvjp(_max_pool_vjp)
max_pool2d.defvjp(_max_pool_vjp)


def _max_pool_grad_rule(x, g, *, pool_size, strides=None, padding="valid"):
    pooled = _pooled_spec(x, pool_size, strides, padding, len(x.shape) - 2)
    if not rules.same_shape(tuple(g.shape), pooled.shape):
        raise ShapeError(f"g{fmt(g.shape)} must have the pooled shape {fmt(pooled.shape)}")
    return Spec(tuple(x.shape), g.dtype)


def _tiles(plan: _Plan) -> bool:
    """The windows tile the input: no overlap, no padding (the usual 2x2, stride 2 pool)."""
    return plan.strides == plan.window and not any(b or a for b, a in plan.pads)


def _tiled(a, plan: _Plan):
    """``a`` (N, *spatial, C) cut to whole windows, as the view (N, o1, k1, o2, k2, ..., C)."""
    cut = tuple(slice(0, o * k) for o, k in zip(plan.outs, plan.window))
    split = tuple(n for o, k in zip(plan.outs, plan.window) for n in (o, k))
    return a[(slice(None), *cut, slice(None))].reshape(a.shape[0], *split, a.shape[-1])


def _offset_major(tiled):
    """The view (N, o1, k1, ..., C) of :func:`_tiled` as (k1, ..., N, o1, ..., C)."""
    d = (tiled.ndim - 2) // 2
    return tiled.transpose(*range(2, 2 * d + 1, 2), 0, *range(1, 2 * d, 2), 2 * d + 1)


def _max_pool_grad_tiled(xp, x, g, plan: _Plan, out):
    """:func:`max_pool_grad` for tiling windows, with no argmax and no accumulation.

    The windows are copied once offset-major, ``(k1*k2, N*o1*o2*C)``, so every step after
    works on whole contiguous rows (on the strided offsets of the input each NumPy loop
    would run over C numbers only). The offsets are visited in window order; ``rest`` holds
    the gradient of the windows whose first maximum is still ahead (``g``, then 0 once an
    offset equal to the maximum took it), so ties go to the first maximum, as TF routes
    them; a window holding NaN passes nothing. Each offset's share overwrites its row,
    which is copied back into place. N=64, 26x26x32, 2x2, one thread: 1.0ms, against 2.0ms
    for the general path.
    """
    d_x = xp.empty(x.shape, g.dtype) if out is None else out
    if any(o * k != n for o, k, n in zip(plan.outs, plan.window, x.shape[1:-1])):
        d_x[...] = 0  # the cells after the last whole window
    source = _offset_major(_tiled(x, plan))
    rows = xp.empty(source.shape, x.dtype)  # the windows' values, then their gradients
    rows[...] = source
    rows = rows.reshape(math.prod(plan.window), -1)
    best = xp.max(rows, axis=0)
    rest = xp.array(g, copy=True).reshape(-1)
    hit, miss = xp.empty(best.shape, dtype=bool), xp.empty(best.shape, dtype=bool)
    for k, row in enumerate(rows):
        xp.equal(row, best, out=hit)
        xp.multiply(rest, hit, out=row)
        if k + 1 < len(rows):
            xp.multiply(rest, xp.logical_not(hit, out=miss), out=rest)
    _offset_major(_tiled(d_x, plan))[...] = rows.reshape(source.shape)
    return d_x


# ---------------------------------------------------------------- pooling: compiled 2x2 loops
# The usual pool (2x2 windows, stride 2, no padding, floating C-contiguous arrays) runs as
# one compiled loop over the windows (rillet/ops/_jit.py); the NumPy kernels above are the
# fallback and the reference. The innermost loops run over the contiguous channels; each
# writes one array only, so that they vectorize (a loop storing into several arrays that
# might overlap is left scalar). N=64, 26x26x32, one thread, CPU time: the gradient takes
# 0.3ms (0.55ms right after a cache-flushing NumPy run) against 1.75ms for the NumPy tiled
# path, the pool 0.11ms against 0.37ms.


def _pairs_loop(kernel, plan: _Plan, *arrays):
    """``kernel.compiled`` where it applies to ``arrays`` (``None`` entries are skipped), else
    None: 2x2 windows at stride 2 without padding, and C-contiguous NumPy arrays of one
    floating dtype."""
    if plan.window != (2, 2) or plan.strides != (2, 2) or any(b or a for b, a in plan.pads):
        return None
    return kernel.compiled if flat_floats(*arrays) else None


@loop_kernel(aot=("in:{f}[:, :, :, ::1], {f}[:, :, :, ::1]",))
def _max_pool_2x2_loop(x, y):
    """``y[n, a, b] = max(x[n, 2a:2a+2, 2b:2b+2])`` per channel, NaN-propagating."""
    batch, rows, cols, channels = y.shape
    for n in range(batch):
        for a in range(rows):
            for b in range(cols):
                x00, x01 = x[n, 2 * a, 2 * b], x[n, 2 * a, 2 * b + 1]
                x10, x11 = x[n, 2 * a + 1, 2 * b], x[n, 2 * a + 1, 2 * b + 1]
                out = y[n, a, b]
                for c in range(channels):  # NaN wins, as in np.maximum
                    m, v = x00[c], x01[c]
                    m = v if (v > m) | (v != v) else m
                    v = x10[c]
                    m = v if (v > m) | (v != v) else m
                    v = x11[c]
                    out[c] = v if (v > m) | (v != v) else m


@loop_helper
def max_cell(p, q, r, s, zero, positive_only):
    """The first of a 2x2 window's cells ``p, q, r, s`` (row-major) equal to its maximum; 4
    (none) when the window holds NaN (its maximum is NaN, equal to no cell) or, with
    ``positive_only``, when that maximum is not > ``zero``."""
    m = q if (q > p) | (q != q) else p
    m = r if (r > m) | (r != r) else m
    m = s if (s > m) | (s != s) else m
    cell = 0 if p == m else 1 if q == m else 2 if r == m else 3 if s == m else 4
    return cell if (m > zero) | (not positive_only) else 4


@loop_kernel(
    aot=("in:{f}[:, :, :, ::1], in:{f}[:, :, :, ::1], {f}[:, :, :, ::1], i4[::1], {f}, {f}, b1",)
)
def _max_pool_grad_2x2_loop(x, g, d_x, which, zero, one, positive_only):
    """Each window's ``g`` to the first cell (row-major) equal to the window's maximum, 0 to
    the others; nothing from a window holding NaN (``g * 0``: exactly what the NumPy tiled
    path computes, NaN and infinite ``g`` included), nor, with ``positive_only``, from a
    window whose maximum is not > 0 (what relu_grad at ``x`` then keeps). ``which`` is int32
    scratch of ``channels``: per channel, the cell that takes the gradient (4: none)."""
    batch, rows, cols, channels = g.shape
    for n in range(batch):
        for a in range(rows):
            for b in range(cols):
                h, w = 2 * a, 2 * b
                x00, x01, x10, x11 = x[n, h, w], x[n, h, w + 1], x[n, h + 1, w], x[n, h + 1, w + 1]
                for c in range(channels):
                    which[c] = max_cell(x00[c], x01[c], x10[c], x11[c], zero, positive_only)
                grad = g[n, a, b]
                for cell in range(4):
                    out = d_x[n, h + cell // 2, w + cell % 2]
                    for c in range(channels):
                        out[c] = grad[c] * (one if which[c] == cell else zero)


def _max_pool_grad_2x2(loop, x, g, plan: _Plan, out, positive_only: bool = False):
    d_x = np.empty(x.shape, g.dtype) if out is None else out
    rows, cols = (2 * o for o in plan.outs)
    d_x[:, rows:] = 0  # an odd last row or column lies in no window
    d_x[:, :rows, cols:] = 0
    one = g.dtype.type(1)
    loop(x, g, d_x, np.empty(x.shape[-1], np.int32), one - one, one, positive_only)
    return d_x


@defop(rule=_max_pool_grad_rule)
def max_pool_grad(xp, x, g, *, pool_size, strides=None, padding="valid", out=None):
    """Max-pool gradient: each window's ``g`` goes to the position of its maximum in ``x``."""
    plan = _plan(x.shape, pool_size, strides, padding)
    loop = _pairs_loop(_max_pool_grad_2x2_loop, plan, x, g, out)
    if loop is not None:
        return _max_pool_grad_2x2(loop, x, g, plan, out)
    return _max_pool_grad_numpy(xp, x, g, plan, out)


def _max_pool_grad_numpy(xp, x, g, plan: _Plan, out):
    if _tiles(plan) and x.dtype == g.dtype:
        return _max_pool_grad_tiled(xp, x, g, plan, out)
    padded = _padded(xp, x, plan, _lowest(xp, x.dtype))
    taps = _taps(plan)
    which = _argmax_taps(xp, padded, taps)
    d_x = xp.zeros(padded.shape, g.dtype)
    for k, tap in enumerate(taps):
        d_x[tap] += g * (which == k)  # windows may overlap: accumulate
    return _unpadded(d_x, plan, x.shape)


@max_pool_grad.defvjp
def _max_pool_grad_vjp(h, y, x, g, *, pool_size, strides, padding):
    # Linear in g (its adjoint gathers at the argmax); piecewise constant in x.
    attrs = {"pool_size": pool_size, "strides": strides, "padding": padding}
    return (None, max_pool_grad_grad(x, h, **attrs))


@defop(rule=_max_pool_grad_rule)
def max_pool_relu_grad(xp, x, g, *, pool_size, strides=None, padding="valid", out=None):
    """``relu_grad(max_pool_grad(x, g), x)`` in one pass, for ``x`` a relu's output pooled by
    max: each window's ``g`` goes to the first position of its maximum when that maximum is
    > 0, and nowhere else (``g * 0``, as relu_grad gives). The graph pass ``fuse_pool_grad``
    writes it where a traced backward pass has the pair.

    The compiled 2x2 loop makes the pair one pass over ``x`` and the result (N=64,
    26x26x32, one thread: 0.3ms against 0.3ms + 0.2ms); elsewhere it is the two kernels.
    """
    plan = _plan(x.shape, pool_size, strides, padding)
    loop = _pairs_loop(_max_pool_grad_2x2_loop, plan, x, g, out)
    if loop is not None:
        return _max_pool_grad_2x2(loop, x, g, plan, out, positive_only=True)
    d_x = _max_pool_grad_numpy(xp, x, g, plan, out)
    return xp.multiply(d_x, x > 0, out=d_x if out is None else out)


@max_pool_relu_grad.defvjp
def _max_pool_relu_grad_vjp(h, y, x, g, *, pool_size, strides, padding):
    # Linear in g: the adjoint keeps h where x > 0, then gathers it at the argmax.
    attrs = {"pool_size": pool_size, "strides": strides, "padding": padding}
    return (None, max_pool_grad_grad(x, relu_grad(h, x), **attrs))


def _max_pool_grad_grad_rule(x, h, *, pool_size, strides=None, padding="valid"):
    rules.check_same_shape(h, x, ("h", "x"))
    pooled = _pooled_spec(x, pool_size, strides, padding, len(x.shape) - 2)
    return Spec(pooled.shape, h.dtype)


@defop(rule=_max_pool_grad_grad_rule)
def max_pool_grad_grad(xp, x, h, *, pool_size, strides=None, padding="valid", out=None):
    """For each window of ``x``, the value of ``h`` at the window's maximum (ties: first)."""
    plan = _plan(x.shape, pool_size, strides, padding)
    taps = _taps(plan)
    which = _argmax_taps(xp, _padded(xp, x, plan, _lowest(xp, x.dtype)), taps)
    h = _padded(xp, h, plan, 0)
    result = _start(xp, h[taps[0]] * (which == 0), out)
    for k, tap in enumerate(taps[1:], 1):
        result += h[tap] * (which == k)  # exactly one tap per window is selected
    return result


@max_pool_grad_grad.defvjp
def _max_pool_grad_grad_vjp(h2, y, x, h, *, pool_size, strides, padding):
    return (None, max_pool_grad(x, h2, pool_size=pool_size, strides=strides, padding=padding))


@defop(rule=_pool_rule(1, _dtypes.FLOATING))
def avg_pool1d(xp, x, *, pool_size, strides=None, padding="valid", out=None):
    """Mean over windows of ``x`` (batch, width, channels); padded cells are not counted."""
    return _avg_pool(xp, x, _plan(x.shape, pool_size, strides, padding), out)


@defop(rule=_pool_rule(2, _dtypes.FLOATING))
def avg_pool2d(xp, x, *, pool_size, strides=None, padding="valid", out=None):
    """Mean over windows of ``x`` (batch, height, width, channels); padded cells are not
    counted, as in TF.

    >>> import rillet as rl
    >>> x = rl.reshape(rl.arange(4.0), shape=(1, 2, 2, 1))
    >>> rl.avg_pool2d(x, 2, strides=1, padding="same").numpy()[0, :, :, 0].tolist()
    [[1.5, 2.0], [2.5, 3.0]]
    """
    return _avg_pool(xp, x, _plan(x.shape, pool_size, strides, padding), out)


def _avg_pool_vjp(g, y, x, *, pool_size, strides, padding):
    attrs = {"pool_size": pool_size, "strides": strides, "padding": padding}
    return (avg_pool_grad(g, input_shape=x.shape, **attrs),)


avg_pool1d.defvjp(_avg_pool_vjp)
avg_pool2d.defvjp(_avg_pool_vjp)
_AVG_POOLS = {1: avg_pool1d, 2: avg_pool2d}


def _avg_pool_grad_rule(g, *, input_shape, pool_size, strides=None, padding="valid"):
    shape = tuple(input_shape)
    if len(shape) - 2 not in _AVG_POOLS:
        raise ShapeError(f"input_shape={shape} must have rank 3 or 4")
    pooled = _pooled_spec(Spec(shape, g.dtype), pool_size, strides, padding, len(shape) - 2)
    if not rules.same_shape(tuple(g.shape), pooled.shape):
        raise ShapeError(f"g{fmt(g.shape)} must have the pooled shape {fmt(pooled.shape)}")
    return Spec(shape, g.dtype)


@defop(rule=_avg_pool_grad_rule)
def avg_pool_grad(xp, g, *, input_shape, pool_size, strides=None, padding="valid", out=None):
    """Average-pool gradient: each window's ``g / count`` is spread over its real cells."""
    plan = _plan(tuple(input_shape), pool_size, strides, padding)
    share = g / _window_counts(xp, plan, input_shape, g.dtype)
    padded = [n + b + a for n, (b, a) in zip(input_shape[1:-1], plan.pads)]
    d_x = xp.zeros((input_shape[0], *padded, input_shape[-1]), g.dtype)
    for tap in _taps(plan):
        d_x[tap] += share
    return _unpadded(d_x, plan, input_shape)


@avg_pool_grad.defvjp
def _avg_pool_grad_vjp(h, y, g, *, input_shape, pool_size, strides, padding):
    pool = _AVG_POOLS[len(input_shape) - 2]  # the adjoint of the adjoint: the pool itself
    return (pool(h, pool_size=pool_size, strides=strides, padding=padding),)
