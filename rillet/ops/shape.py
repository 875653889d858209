"""Shape ops: reshape, broadcast, cast, concatenation, padding and friends."""

from __future__ import annotations

import math

from .. import dtypes as _dtypes
from ..errors import ArgumentError, ShapeError
from . import _rules as rules
from ._registry import Spec, defop

__all__ = ["reshape", "broadcast_to", "cast"]


def _reshape_rule(x, *, shape):
    shape = _as_shape(shape)
    if sum(1 for s in shape if s == -1) > 1:
        raise ArgumentError(f"shape={shape} has more than one -1")
    known = [s for s in shape if s != -1]
    if any(s is None or s < -1 for s in shape):
        raise ArgumentError(f"shape={shape} has a negative size")
    if any(s is None for s in x.shape):
        return Spec(tuple(None if s == -1 else s for s in shape), x.dtype)
    size, rest = math.prod(x.shape), math.prod(known)
    if -1 in shape:
        if rest == 0 or size % rest:
            raise ShapeError(f"cannot reshape x{rules.fmt(x.shape)} to {shape}")
        shape = tuple(size // rest if s == -1 else s for s in shape)
    elif size != rest:
        raise ShapeError(
            f"cannot reshape x{rules.fmt(x.shape)} ({size} elements) to {shape} ({rest} elements)"
        )
    return Spec(shape, x.dtype)


def _as_shape(shape) -> tuple:
    if isinstance(shape, int):
        return (shape,)
    try:
        return tuple(None if s is None else int(s) for s in shape)
    except (TypeError, ValueError):
        raise ArgumentError(f"shape must be a sequence of ints, got {shape!r}") from None


@defop(rule=_reshape_rule, low_precision="native")
def reshape(xp, x, *, shape, out=None):
    """``x`` with a new shape holding the same elements (one size may be -1)."""
    return xp.reshape(x, _as_shape(shape))


@reshape.defvjp
def _reshape_vjp(g, y, x, *, shape):
    return (reshape(g, shape=x.shape),)


def _broadcast_to_rule(x, *, shape):
    shape = _as_shape(shape)
    if len(shape) < len(x.shape):
        raise ShapeError(f"cannot broadcast x{rules.fmt(x.shape)} to fewer dimensions {shape}")
    result = rules.broadcast_shapes(tuple(x.shape), shape, names=("x", "shape"))
    if result != shape:
        raise ShapeError(f"cannot broadcast x{rules.fmt(x.shape)} to {shape}")
    return Spec(shape, x.dtype)


@defop(rule=_broadcast_to_rule, low_precision="native")
def broadcast_to(xp, x, *, shape, out=None):
    """``x`` repeated along axes of size 1 (and new leading axes) to ``shape``."""
    return xp.broadcast_to(x, _as_shape(shape))


@broadcast_to.defvjp
def _broadcast_to_vjp(g, y, x, *, shape):
    return (g,)  # the engine sums g back to x's shape


def _cast_rule(x, *, dtype):
    return Spec(tuple(x.shape), _dtypes.as_dtype(dtype))


@defop(rule=_cast_rule, low_precision="native")
def cast(xp, x, *, dtype, out=None):
    """``x`` converted to ``dtype`` (floats to ints truncate toward zero)."""
    return x.astype(_dtypes.as_dtype(dtype))


@cast.defvjp
def _cast_vjp(g, y, x, *, dtype):
    return (g,)  # the engine casts g back to x's dtype; integer inputs get no gradient
