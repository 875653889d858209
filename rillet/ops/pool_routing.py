"""Max-pool gradients routed by a saved argmax: ``max_pool_argmax``, ``max_pool_scatter``
and its adjoint ``max_pool_gather``.

The backward pass of a max pool finds each window's maximum in x again, reading x long
after the forward pass wrote it (the first layer of the CNN benchmark, 64x26x26x32, caches
flushed: 0.9ms, against 0.35ms reading int8 cell indices instead). ``max_pool_argmax``
records them in the forward pass, right after the pool, while x is in cache, and
``max_pool_scatter`` routes the gradient by them; ``max_pool_gather`` is its adjoint. In
that training step (one thread): 0.12ms + 0.16ms against 0.75ms for max_pool_relu_grad,
and x need not live until the backward pass. The graph pass ``fuse_pool_grad`` writes
them, for windows that tile the input (stride == window, no padding), the usual pool.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, ShapeError
from . import _rules as rules
from ._jit import loop_kernel
from ._registry import Spec, defop
from .pooling import (
    _offset_major,
    _pairs_loop,
    _Plan,
    _plan,
    _pooled_spec,
    _start,
    _tiled,
    _tiles,
    max_cell,
)

__all__: list[str] = []

fmt = rules.fmt


def _routing_plan(shape: tuple, pool_size, strides, padding) -> _Plan:
    """The plan of tiling windows, or an ArgumentError naming what is not."""
    plan = _plan(shape, pool_size, strides, padding)
    if not _tiles(plan) or math.prod(plan.window) >= 127:
        raise ArgumentError(
            f"the windows must tile the input (strides equal to pool_size, no padding) and "
            f"hold at most 126 cells, got pool_size={pool_size!r}, strides={strides!r}, "
            f"padding={padding!r} for an input of shape {fmt(shape)}"
        )
    return plan


def _check_argmax(argmax, pooled: tuple) -> None:
    if argmax.dtype != np.int8 or not rules.same_shape(tuple(argmax.shape), pooled):
        raise ShapeError(
            f"argmax must be int8 of the pooled shape {fmt(pooled)}, got "
            f"{argmax.dtype}{fmt(argmax.shape)}"
        )


def _max_pool_argmax_rule(x, *, pool_size, strides=None, padding="valid", positive_only=False):
    rules.check_dtype(x, _dtypes.FLOATING, "x")
    pooled = _pooled_spec(x, pool_size, strides, padding, len(x.shape) - 2)
    _routing_plan(tuple(x.shape), pool_size, strides, padding)
    return Spec(pooled.shape, np.dtype(np.int8))


@defop(rule=_max_pool_argmax_rule, differentiable=False)
def max_pool_argmax(
    xp, x, *, pool_size, strides=None, padding="valid", positive_only=False, out=None
):
    """For each window of ``x``, the row-major index of the first cell holding its maximum
    (int8, the pooled shape); the number of cells in a window where none does: a window
    holding NaN, or with ``positive_only`` one whose maximum is not > 0 (a relu's output
    passes no gradient there)."""
    plan = _routing_plan(x.shape, pool_size, strides, padding)
    codes = xp.empty((x.shape[0], *plan.outs, x.shape[-1]), np.int8) if out is None else out
    loop = _pairs_loop(_max_pool_argmax_2x2_loop, plan, x)
    if loop is not None and _flat(codes):
        loop(x, codes, x.dtype.type(0), positive_only)
        return codes
    source = _offset_major(_tiled(x, plan))  # (k1, ..., N, o1, ..., C)
    rows = xp.empty(source.shape, x.dtype)
    rows[...] = source
    rows = rows.reshape(math.prod(plan.window), *codes.shape)
    best = xp.max(rows, axis=0)
    found = xp.full(best.shape, len(rows), np.int8)
    for k in reversed(range(len(rows))):  # the first maximum overwrites the later ones
        found[rows[k] == best] = k
    if positive_only:
        found[~(best > 0)] = len(rows)
    codes[...] = found
    return codes


def _flat(a) -> bool:
    return type(a) is np.ndarray and a.flags.c_contiguous


def _max_pool_scatter_rule(argmax, g, *, input_shape, pool_size, strides=None, padding="valid"):
    shape = tuple(input_shape)
    pooled = _pooled_spec(Spec(shape, g.dtype), pool_size, strides, padding, len(shape) - 2)
    _routing_plan(shape, pool_size, strides, padding)
    _check_argmax(argmax, pooled.shape)
    if not rules.same_shape(tuple(g.shape), pooled.shape):
        raise ShapeError(f"g{fmt(g.shape)} must have the pooled shape {fmt(pooled.shape)}")
    return Spec(shape, g.dtype)


@defop(rule=_max_pool_scatter_rule)
def max_pool_scatter(
    xp, argmax, g, *, input_shape, pool_size, strides=None, padding="valid", out=None
):
    """Each window's ``g`` to its cell ``argmax`` (:func:`max_pool_argmax`), ``g * 0`` to its
    other cells and 0 to the cells after the last whole window: ``max_pool_grad`` (or, from
    a ``positive_only`` argmax, ``max_pool_relu_grad``) without reading ``x``."""
    plan = _routing_plan(tuple(input_shape), pool_size, strides, padding)
    d_x = xp.empty(tuple(input_shape), g.dtype) if out is None else out
    loop = _pairs_loop(_max_pool_scatter_2x2_loop, plan, g, d_x)
    if loop is not None and _flat(argmax):
        rows, cols = (2 * o for o in plan.outs)
        d_x[:, rows:] = 0  # an odd last row or column lies in no window
        d_x[:, :rows, cols:] = 0
        one = g.dtype.type(1)
        loop(argmax, g, d_x, one - one, one)
        return d_x
    if any(o * k != n for o, k, n in zip(plan.outs, plan.window, input_shape[1:-1])):
        d_x[...] = 0
    cells = _offset_major(_tiled(d_x, plan))
    for k, cell in enumerate(itertools.product(*(range(k) for k in plan.window))):
        cells[cell] = g * (argmax == k)
    return d_x


@max_pool_scatter.defvjp
def _max_pool_scatter_vjp(h, y, argmax, g, *, input_shape, pool_size, strides, padding):
    attrs = {"pool_size": pool_size, "strides": strides, "padding": padding}
    return (None, max_pool_gather(argmax, h, **attrs))  # linear in g


def _max_pool_gather_rule(argmax, h, *, pool_size, strides=None, padding="valid"):
    pooled = _pooled_spec(h, pool_size, strides, padding, len(h.shape) - 2)
    _routing_plan(tuple(h.shape), pool_size, strides, padding)
    _check_argmax(argmax, pooled.shape)
    return Spec(pooled.shape, h.dtype)


@defop(rule=_max_pool_gather_rule)
def max_pool_gather(xp, argmax, h, *, pool_size, strides=None, padding="valid", out=None):
    """For each window, ``h`` at its cell ``argmax`` (:func:`max_pool_argmax`), plus ``h * 0``
    at its other cells: the adjoint of :func:`max_pool_scatter`."""
    plan = _routing_plan(tuple(h.shape), pool_size, strides, padding)
    cells = _offset_major(_tiled(h, plan))
    taps = list(itertools.product(*(range(k) for k in plan.window)))
    result = _start(xp, cells[taps[0]] * (argmax == 0), out)
    for k, cell in enumerate(taps[1:], 1):
        result += cells[cell] * (argmax == k)
    return result


@max_pool_gather.defvjp
def _max_pool_gather_vjp(h2, y, argmax, h, *, pool_size, strides, padding):
    attrs = {"pool_size": pool_size, "strides": strides, "padding": padding}
    return (None, max_pool_scatter(argmax, h2, input_shape=h.shape, **attrs))


@loop_kernel(aot=("in:{f}[:, :, :, ::1], i1[:, :, :, ::1], {f}, b1",))
def _max_pool_argmax_2x2_loop(x, codes, zero, positive_only):
    """:func:`max_pool_argmax` of 2x2 windows at stride 2, each window's cell by
    :func:`~rillet.ops.pooling.max_cell` (as :func:`_max_pool_grad_2x2_loop` finds it)."""
    batch, rows, cols, channels = codes.shape
    for n in range(batch):
        for a in range(rows):
            for b in range(cols):
                h, w = 2 * a, 2 * b
                x00, x01, x10, x11 = x[n, h, w], x[n, h, w + 1], x[n, h + 1, w], x[n, h + 1, w + 1]
                code = codes[n, a, b]
                for c in range(channels):
                    code[c] = max_cell(x00[c], x01[c], x10[c], x11[c], zero, positive_only)


@loop_kernel(aot=("in:i1[:, :, :, ::1], in:{f}[:, :, :, ::1], {f}[:, :, :, ::1], {f}, {f}",))
def _max_pool_scatter_2x2_loop(codes, g, d_x, zero, one):
    """:func:`max_pool_scatter` of 2x2 windows at stride 2 (the odd edges left alone)."""
    batch, rows, cols, channels = g.shape
    for n in range(batch):
        for a in range(rows):
            for b in range(cols):
                grad, code = g[n, a, b], codes[n, a, b]
                for cell in range(4):
                    out = d_x[n, 2 * a + cell // 2, 2 * b + cell % 2]
                    for c in range(channels):
                        out[c] = grad[c] * (one if code[c] == cell else zero)
