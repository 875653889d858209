"""The geometry of the convolutions (strides, dilations, padding and output sizes, cached
per shape) and the checks their shape rules share; the ops and their rules are in
``conv.py``."""

from __future__ import annotations

import functools
import operator
from typing import NamedTuple

from .. import dtypes as _dtypes
from ..errors import ArgumentError, DTypeError, ShapeError
from ._registry import Spec
from ._rules import fmt

_LAYOUTS = {1: ("(N, W, C)", "(kw, C/groups, out)"), 2: ("(N, H, W, C)", "(kh, kw, C/groups, out)")}


class _Geometry(NamedTuple):
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple  # (before, after) per spatial axis; None where the input size is unknown
    out: tuple  # output spatial sizes; None where unknown
    groups: int


def _positive_ints(value, n: int, name: str) -> tuple[int, ...]:
    """An int or ``n`` ints (or TF's ``n + 2`` form with 1 at batch and channels), each >= 1."""
    items = (value,) * n if not isinstance(value, (list, tuple)) else tuple(value)
    if len(items) == n + 2 and items[0] == items[-1] == 1:
        items = items[1:-1]
    try:
        items = tuple(operator.index(v) for v in items)
    except TypeError:
        items = ()
    if len(items) != n or any(v < 1 for v in items):
        raise ArgumentError(f"{name} must be a positive int or {n} positive ints, got {value!r}")
    return items


def _groups(groups) -> int:
    try:
        groups = operator.index(groups)
    except TypeError:
        groups = 0
    if groups < 1:
        raise ArgumentError(f"groups must be a positive int, got {groups!r}")
    return groups


def _same_pads(size, extent: int, stride: int):
    """TF "same": ``ceil(size / stride)`` outputs, the odd padding pixel at the end."""
    if size is None:
        return None
    total = max((-(-size // stride) - 1) * stride + extent - size, 0)
    return (total // 2, total - total // 2)


def _explicit_pads(padding, n: int) -> tuple:
    pairs = tuple(tuple(p) if isinstance(p, (list, tuple)) else p for p in padding)
    if len(pairs) == n + 2 and pairs[0] == pairs[-1] == (0, 0):
        pairs = pairs[1:-1]
    valid = len(pairs) == n and all(
        isinstance(p, tuple) and len(p) == 2 and all(_is_count(v) for v in p) for p in pairs
    )
    if not valid:
        raise ArgumentError(
            f"explicit padding must be {n} pairs of non-negative ints "
            f"[[before, after], ...], got {padding!r}"
        )
    return tuple((int(a), int(b)) for a, b in pairs)


def _is_count(value) -> bool:
    try:
        return operator.index(value) >= 0
    except TypeError:
        return False


def _pads(padding, spatial: tuple, extents: tuple, strides: tuple) -> tuple:
    n = len(spatial)
    if not isinstance(padding, str):
        if isinstance(padding, (list, tuple)):
            return _explicit_pads(padding, n)
    else:
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * n
        if mode == "same":
            return tuple(_same_pads(*a) for a in zip(spatial, extents, strides))
        if mode == "causal" and n == 1:
            return ((extents[0] - 1, 0),)  # output t sees inputs up to t only
    modes = "'valid', 'same', 'causal'" if n == 1 else "'valid', 'same'"
    raise ArgumentError(f"padding must be one of {modes} or explicit pairs, got {padding!r}")


def _output_size(size, pads, extent: int, stride: int, x_shape, kernel: tuple):
    if size is None or pads is None:
        return None
    padded = size + pads[0] + pads[1]
    if padded < extent:
        raise ShapeError(
            f"the kernel spans {extent} (size {kernel[0]}, dilation {kernel[1]}) but x"
            f"{fmt(x_shape)} padded by {pads} is only {padded} long on that axis"
        )
    return (padded - extent) // stride + 1


def _geometry(x_shape, f_shape, strides, padding, dilations, groups) -> _Geometry:
    """Strides, dilations, padding and output size of a conv of ``x_shape`` by ``f_shape``.

    The rule and the kernel both need it, so it is cached (7us -> 0.3us) unless an
    argument is unhashable (padding given as lists).
    """
    args = (tuple(x_shape), tuple(f_shape), strides, padding, dilations, groups)
    try:
        return _cached_geometry(*args)
    except TypeError:
        return _compute_geometry(*args)


def _compute_geometry(x_shape, f_shape, strides, padding, dilations, groups) -> _Geometry:
    n = len(f_shape) - 2
    strides = _positive_ints(strides, n, "strides")
    dilations = _positive_ints(dilations, n, "dilations")
    extents = tuple((k - 1) * d + 1 for k, d in zip(f_shape[:n], dilations))
    pads = _pads(padding, tuple(x_shape[1:-1]), extents, strides)
    out = tuple(
        _output_size(
            x_shape[1 + i], pads[i], extents[i], strides[i], x_shape, (f_shape[i], dilations[i])
        )
        for i in range(n)
    )
    return _Geometry(strides, dilations, pads, out, _groups(groups))


_cached_geometry = functools.lru_cache(maxsize=512, typed=True)(_compute_geometry)


# ------------------------------------------------------------------------------ rule checks


def _check_operand(t, n: int, name: str, layout: str) -> None:
    if len(t.shape) != n + 2:
        raise ShapeError(f"{name} must have rank {n + 2} {layout}, got shape {fmt(t.shape)}")
    if not _dtypes.is_floating(t.dtype):
        raise DTypeError(f"{name} has dtype {t.dtype}, expected a floating dtype")


def _check_channels(x_shape, f_shape, groups: int) -> None:
    c, cg, o = x_shape[-1], f_shape[-2], f_shape[-1]
    if any(k == 0 for k in f_shape):
        raise ShapeError(f"filters{fmt(f_shape)} has a zero-sized axis")
    if c is not None and c % groups:
        raise ArgumentError(f"groups={groups} does not divide the {c} channels of x{fmt(x_shape)}")
    if o is not None and o % groups:
        raise ArgumentError(
            f"groups={groups} does not divide the {o} output channels of filters{fmt(f_shape)}"
        )
    if c is not None and cg is not None and c != cg * groups:
        per_group = f" ({cg} per group x {groups} groups)" if groups > 1 else ""
        raise ShapeError(
            f"x{fmt(x_shape)} has {c} channels but filters{fmt(f_shape)} expect "
            f"{cg * groups}{per_group}"
        )


def _conv_spec(x, filters, strides, padding, dilations, groups, n: int) -> Spec:
    """The output spec of an ``n``-D conv, or the error explaining why there is none."""
    x_layout, f_layout = _LAYOUTS[n]
    _check_operand(x, n, "x", x_layout)
    _check_operand(filters, n, "filters", f_layout)
    geo = _geometry(tuple(x.shape), tuple(filters.shape), strides, padding, dilations, groups)
    _check_channels(tuple(x.shape), tuple(filters.shape), geo.groups)
    return Spec((x.shape[0], *geo.out, filters.shape[-1]), x.dtype)


def _shape_attr(shape, name: str) -> tuple[int, ...]:
    items = tuple(shape) if isinstance(shape, (list, tuple)) else ()
    if len(items) != 4 or not all(_is_count(s) for s in items):
        raise ArgumentError(f"{name} must be 4 non-negative ints, got {shape!r}")
    return tuple(int(s) for s in items)


def _check_out_backprop(dy, expected: tuple, context: str) -> None:
    same = len(dy.shape) == len(expected) and all(
        a is None or b is None or a == b for a, b in zip(dy.shape, expected)
    )
    if not same:
        raise ShapeError(
            f"out_backprop{fmt(dy.shape)} does not match the conv2d output {fmt(expected)} "
            f"of {context}"
        )
