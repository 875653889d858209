"""Tensor constructors: constants (``zeros``, ``arange``, ...) and ``*_like`` ops."""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError
from ..tensor import Tensor
from ._registry import Spec, defop

__all__ = [
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "linspace",
    "eye",
    "zeros_like",
    "ones_like",
    "full_like",
]


def _shape(shape, op: str) -> tuple:
    try:
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    except TypeError:
        raise ArgumentError(f"shape must be a sequence of ints, got {shape!r}", op=op) from None
    if any(not isinstance(s, (int, np.integer)) or s < 0 for s in shape):
        raise ArgumentError(f"shape must be non-negative ints, got {shape}", op=op)
    return tuple(int(s) for s in shape)


def _dtype(dtype, default=_dtypes.default_float):
    return default if dtype is None else _dtypes.as_dtype(dtype)


def zeros(shape, dtype=None) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` is given)."""
    return Tensor._wrap(np.zeros(_shape(shape, "zeros"), _dtype(dtype)))


def ones(shape, dtype=None) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` is given)."""
    return Tensor._wrap(np.ones(_shape(shape, "ones"), _dtype(dtype)))


def empty(shape, dtype=None) -> Tensor:
    """A tensor of zeros (rillet never hands out uninitialized memory)."""
    return zeros(shape, dtype)


def _scalar_dtype(value, dtype):
    if dtype is not None:
        return _dtypes.as_dtype(dtype)
    if isinstance(value, (bool, np.bool_)):
        return _dtypes.bool_
    if isinstance(value, (int, np.integer)):
        return _dtypes.default_int
    return _dtypes.default_float


def full(shape, fill_value, dtype=None) -> Tensor:
    """A tensor filled with ``fill_value``; the dtype follows the Python value's type."""
    return Tensor._wrap(
        np.full(_shape(shape, "full"), fill_value, _scalar_dtype(fill_value, dtype))
    )


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; int64 for ints, float32 for floats."""
    if step == 0:
        raise ArgumentError("step must not be zero", op="arange")
    values = (start, stop, step) if stop is not None else (start, step)
    is_int = all(isinstance(v, (int, np.integer)) for v in values)
    default = _dtypes.default_int if is_int else _dtypes.default_float
    if stop is None:
        start, stop = 0, start
    return Tensor._wrap(np.arange(start, stop, step).astype(_dtype(dtype, default)))


def linspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop``."""
    if num < 0:
        raise ArgumentError(f"num must be non-negative, got {num}", op="linspace")
    values = np.linspace(start, stop, num, endpoint=endpoint)
    return Tensor._wrap(values.astype(_dtype(dtype)))


def eye(n: int, m: int | None = None, k: int = 0, dtype=None) -> Tensor:
    """A 2-D tensor with ones on diagonal ``k``."""
    return Tensor._wrap(np.eye(n, m, k, dtype=_dtype(dtype)))


def _like_rule(x, *, dtype=None, **attrs):
    return Spec(tuple(x.shape), x.dtype if dtype is None else _dtypes.as_dtype(dtype))


@defop(rule=_like_rule, differentiable=False, low_precision="native")
def zeros_like(xp, x, *, dtype=None, out=None):
    """Zeros shaped like ``x``."""
    return xp.zeros_like(x, dtype=None if dtype is None else _dtypes.as_dtype(dtype))


@defop(rule=_like_rule, differentiable=False, low_precision="native")
def ones_like(xp, x, *, dtype=None, out=None):
    """Ones shaped like ``x``."""
    return xp.ones_like(x, dtype=None if dtype is None else _dtypes.as_dtype(dtype))


@defop(rule=_like_rule, differentiable=False, low_precision="native")
def full_like(xp, x, *, fill_value=0, dtype=None, out=None):
    """``fill_value`` shaped like ``x``."""
    return xp.full_like(x, fill_value, dtype=None if dtype is None else _dtypes.as_dtype(dtype))
