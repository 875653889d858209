"""Shared shape/dtype rules, named for the pattern they check.

A rule takes the inputs' specs (anything with ``.shape`` and ``.dtype``, ``None`` for an
absent optional input) and the op's attributes, and returns the output ``Spec`` (or a tuple
or list of them). Sizes may be ``None`` (unknown while tracing). Rules raise rillet errors
without the op name; ``bind`` adds it and the caller's line.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable

from .. import dtypes as _dtypes
from ..errors import ArgumentError, AxisError, DTypeError, ShapeError
from ._registry import Spec


def fmt(shape) -> str:
    """A shape as ``(2, 3)``, with ``?`` for unknown sizes."""
    inner = ", ".join("?" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def broadcast_shapes(*shapes: tuple, names: Iterable[str] | None = None) -> tuple:
    """The shape that ``shapes`` broadcast to, or a ShapeError naming them."""
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(-ndim, 0):
        sizes = {s[axis] for s in shapes if len(s) >= -axis} - {1}
        known = sizes - {None}
        if len(known) > 1:
            labels = list(names) if names is not None else [f"input{i}" for i in range(len(shapes))]
            described = " with ".join(f"{n}{fmt(s)}" for n, s in zip(labels, shapes))
            raise ShapeError(f"cannot broadcast {described}")
        result.append(known.pop() if known else (None if None in sizes else 1))
    return tuple(result)


def normalize_axis(axis, ndim: int, name: str = "axis") -> int:
    """``axis`` as a non-negative int, or an AxisError naming it and the rank."""
    try:
        index = operator.index(axis)
    except TypeError:
        raise ArgumentError(f"{name} must be an int, got {axis!r}") from None
    if not -ndim <= index < ndim:
        raise AxisError(f"{name}={axis} is out of range for a tensor of rank {ndim}")
    return index % ndim


def normalize_axes(axis, ndim: int, name: str = "axis") -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence of ints) as a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:
        return (axis % ndim,)
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(sorted(normalize_axis(a, ndim, name) for a in items))
    if len(set(axes)) != len(axes):
        raise AxisError(f"{name}={axis} repeats an axis")
    return axes


def reduced_shape(shape: tuple, axes: tuple[int, ...], keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def floating_result(dtype) -> _dtypes.DType:
    """Floating ops keep floating dtypes and turn integers and bools into float32."""
    return dtype if _dtypes.is_floating(dtype) else _dtypes.default_float


def check_dtype(x, allowed, what: str = "x") -> None:
    if x.dtype not in allowed:
        names = ", ".join(d.name for d in allowed)
        raise DTypeError(f"{what} has dtype {x.dtype}, expected one of {names}")


def check_rank(x, ranks, what: str = "x") -> None:
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if len(x.shape) not in ranks:
        wanted = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"{what} must have rank {wanted}, got shape {fmt(x.shape)}")


def same_shape(a: tuple, b: tuple) -> bool:
    """Equal shapes, where an unknown size (None) matches any size."""
    return len(a) == len(b) and all(p is None or q is None or p == q for p, q in zip(a, b))


def check_same_shape(a, b, names: tuple[str, str]) -> None:
    if not same_shape(tuple(a.shape), tuple(b.shape)):
        raise ShapeError(
            f"{names[0]}{fmt(a.shape)} and {names[1]}{fmt(b.shape)} must have the same shape"
        )


def unary(floating: bool = False, dtype=None, allowed=None) -> Callable:
    """Elementwise op of one input: same shape; dtype kept, floating-promoted or fixed."""

    def rule(x, **attrs):
        if allowed is not None:
            check_dtype(x, allowed)
        if dtype is not None:
            return Spec(tuple(x.shape), dtype)
        return Spec(tuple(x.shape), floating_result(x.dtype) if floating else x.dtype)

    return rule


def broadcast_binary(floating: bool = False, dtype=None, allowed=None) -> Callable:
    """Elementwise op of two inputs (already promoted to one dtype): broadcast shapes."""

    def rule(x, y, **attrs):
        if allowed is not None:
            check_dtype(x, allowed, "x")
        if x.shape == y.shape:
            shape = tuple(x.shape)
        else:
            shape = broadcast_shapes(tuple(x.shape), tuple(y.shape), names=("x", "y"))
        if dtype is not None:
            return Spec(shape, dtype)
        return Spec(shape, floating_result(x.dtype) if floating else x.dtype)

    return rule


def reduction(dtype=None, floating: bool = False) -> Callable:
    """Reduction over ``axis`` (None, int or tuple) with ``keepdims``."""

    def rule(x, *, axis=None, keepdims=False, **attrs):
        axes = normalize_axes(axis, len(x.shape))
        shape = reduced_shape(tuple(x.shape), axes, keepdims)
        if dtype is not None:
            return Spec(shape, dtype)
        return Spec(shape, floating_result(x.dtype) if floating else x.dtype)

    return rule


def same_as(index: int = 0) -> Callable:
    """Output shaped and typed like input ``index``."""

    def rule(*inputs, **attrs):
        x = inputs[index]
        return Spec(tuple(x.shape), x.dtype)

    return rule
