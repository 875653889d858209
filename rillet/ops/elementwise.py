"""Elementwise ops: arithmetic, math functions, comparisons and logic (activations are in
activations.py).

Conventions shared by the ops here:

* Binary arithmetic and comparisons promote their inputs to one dtype (``rl.result_type``,
  Python scalars weak) and broadcast.
* Floating functions (``log``, ``sqrt``, ``sin``, ``sigmoid``, ...) turn integer and bool
  inputs into float32; arithmetic (``abs``, ``square``, ``floor_divide``, ``remainder``, ...)
  keeps integer dtypes. Arithmetic on bool inputs raises ``DTypeError`` where NumPy has no
  meaning for it (``subtract``, ``negative``, ``sign``, ``floor`` ...).
* Comparisons, ``isnan``/``isinf``/``isfinite`` and logical ops return bool and have no
  gradient. ``floor``, ``ceil``, ``round``, ``sign`` and ``floor_divide`` have zero gradients
  (as in JAX); ``relu`` has gradient 0 at 0; ``maximum``/``minimum`` split the gradient
  evenly between tied inputs; ``clip`` passes it to ``x`` at the bounds.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, ArgumentTypeError, DTypeError, attach_context
from . import _erf
from . import _rules as rules
from ._registry import Spec, defop
from .creation import zeros_like

__all__ = [
    # arithmetic
    "add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power",
    "negative", "abs", "sign", "square", "reciprocal", "maximum", "minimum", "clip",
    "clip_by_value", "floor", "ceil", "round",
    # math functions
    "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "erf",
    # selection, tests, comparisons and logic
    "where", "stop_gradient", "isnan", "isinf", "isfinite",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not",
]  # fmt: skip

_NUMERIC = _dtypes.NUMERIC
_BOOL_RESULT = rules.broadcast_binary(dtype=_dtypes.bool_)


def _is_float(x) -> bool:
    return _dtypes.is_floating(x.dtype)


def _floating(xp, x):
    """Integer and bool inputs of a floating op are computed in float32, the rule's dtype
    (NumPy alone would give float16 for int8 and float64 for int64)."""
    return x if _dtypes.is_floating(x.dtype) else x.astype(xp.float32)


def _identity(xp, x, out):
    """``x`` itself (tensors are immutable, so sharing the buffer is safe), or copied to ``out``."""
    if out is None:
        return x
    xp.copyto(out, x)
    return out


def _check_real(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {value!r}")


# --- arithmetic ----------------------------------------------------------------------------


@defop(rule=rules.broadcast_binary(), promote=True)
def add(xp, x, y, *, out=None):
    """``x + y``, broadcasting."""
    return xp.add(x, y, out=out)


@add.defvjp
def _add_vjp(g, y, a, b):
    return (g, g)  # the engine sums each back to its input's shape


@defop(rule=rules.broadcast_binary(allowed=_NUMERIC), promote=True)
def subtract(xp, x, y, *, out=None):
    """``x - y``, broadcasting."""
    return xp.subtract(x, y, out=out)


@subtract.defvjp
def _subtract_vjp(g, y, a, b):
    return (g, -g)


@defop(rule=rules.broadcast_binary(), promote=True)
def multiply(xp, x, y, *, out=None):
    """``x * y``, broadcasting."""
    return xp.multiply(x, y, out=out)


@multiply.defvjp
def _multiply_vjp(g, y, a, b):
    return (g * b, g * a)


@defop(rule=rules.broadcast_binary(floating=True), promote=True)
def divide(xp, x, y, *, out=None):
    """True division ``x / y``; integer inputs give float32.

    >>> import rillet as rl
    >>> rl.divide(rl.asarray([1, 2]), 4).numpy().tolist()
    [0.25, 0.5]
    """
    return xp.true_divide(_floating(xp, x), _floating(xp, y), out=out)


@divide.defvjp
def _divide_vjp(g, y, a, b):
    g_a = g / b
    return (g_a, -g_a * y)  # d(a/b)/db = -a/b^2 = -(a/b)/b


@defop(rule=rules.broadcast_binary(allowed=_NUMERIC), promote=True)
def floor_divide(xp, x, y, *, out=None):
    """``x // y``: the floor of the quotient; integers stay integers (``x // 0`` is 0).

    >>> import rillet as rl
    >>> rl.floor_divide(rl.asarray([7, -7]), 2).numpy().tolist()
    [3, -4]
    """
    return xp.floor_divide(x, y, out=out)


@floor_divide.defvjp
def _floor_divide_vjp(g, y, a, b):
    return (zeros_like(a), zeros_like(b))  # piecewise constant


@defop(rule=rules.broadcast_binary(allowed=_NUMERIC), promote=True)
def remainder(xp, x, y, *, out=None):
    """``x % y`` with Python's sign convention: the result has the sign of ``y``.

    >>> import rillet as rl
    >>> rl.remainder(rl.asarray([7, -7]), 3).numpy().tolist()
    [1, 2]
    """
    return xp.remainder(x, y, out=out)


@remainder.defvjp
def _remainder_vjp(g, y, a, b):
    return (g, -g * floor_divide(a, b))  # x % y = x - y * floor(x / y)


@defop(rule=rules.broadcast_binary(allowed=_NUMERIC), promote=True)
def power(xp, x, y, *, out=None):
    """``x ** y``, broadcasting. Integer tensors take only non-negative integer exponents.

    The gradient for the exponent is ``x ** y * log(x)``. For a negative base (where the
    power is real only for integer exponents) it uses ``log|x|``, the real part of the
    complex derivative; for a zero base it is 0 (the limit as ``x -> 0+`` for ``y > 0``).
    The gradient for the base is ``y * x ** (y - 1)``, and 0 where ``y == 0``.
    """
    if not _is_float(x) and (y < 0).any():
        raise ArgumentError(
            f"integers cannot be raised to negative powers; the {x.dtype} exponent has "
            f"value {y.min()}"
        )
    return xp.power(x, y, out=out)


@power.defvjp
def _power_vjp(g, y, x, p):
    # where p == 0 the derivative is 0; power() sees base 1 there, as 0 ** -1 would be inf
    d_x = where(p == 0, 0.0, p * power(where(p == 0, 1.0, x), p - 1))
    log_x = log(where(x == 0, 1.0, abs(x)))  # log|x|, and log(1) = 0 at x == 0
    return (g * d_x, g * y * log_x)


@defop(rule=rules.unary(allowed=_NUMERIC))
def negative(xp, x, *, out=None):
    """``-x``."""
    return xp.negative(x, out=out)


@negative.defvjp
def _negative_vjp(g, y, x):
    return (-g,)


@defop(rule=rules.unary(), low_precision="native")
def abs(xp, x, *, out=None):
    """``|x|``; integers stay integers (so ``abs(int8(-128))`` wraps to -128 as in NumPy)."""
    return xp.absolute(x, out=out)


@abs.defvjp
def _abs_vjp(g, y, x):
    return (g * sign(x),)  # 0 at x == 0


@defop(rule=rules.unary(allowed=_NUMERIC), low_precision="native")
def sign(xp, x, *, out=None):
    """-1, 0 or 1 by the sign of ``x`` (NaN for NaN)."""
    return xp.sign(x, out=out)


@sign.defvjp
def _sign_vjp(g, y, x):
    return (zeros_like(x),)


@defop(rule=rules.unary(allowed=_NUMERIC))
def square(xp, x, *, out=None):
    """``x * x``; integers stay integers."""
    return xp.square(x, out=out)


@square.defvjp
def _square_vjp(g, y, x):
    return (g * (2.0 * x),)


@defop(rule=rules.unary(floating=True))
def reciprocal(xp, x, *, out=None):
    """``1 / x``; integer inputs give float32."""
    return xp.reciprocal(_floating(xp, x), out=out)


@reciprocal.defvjp
def _reciprocal_vjp(g, y, x):
    return (-g * (y * y),)


@defop(rule=rules.broadcast_binary(), promote=True, low_precision="native")
def maximum(xp, x, y, *, out=None):
    """The larger of ``x`` and ``y``, elementwise (NaN if either is NaN).

    Where ``x == y`` each input receives half the gradient, as in JAX and PyTorch (and as
    central differences see it).
    """
    return xp.maximum(x, y, out=out)


@maximum.defvjp
def _maximum_vjp(g, y, a, b):
    g_a = where(a > b, g, where(a == b, 0.5 * g, 0.0))
    return (g_a, g - g_a)


@defop(rule=rules.broadcast_binary(), promote=True, low_precision="native")
def minimum(xp, x, y, *, out=None):
    """The smaller of ``x`` and ``y``, elementwise; ties split the gradient evenly."""
    return xp.minimum(x, y, out=out)


@minimum.defvjp
def _minimum_vjp(g, y, a, b):
    g_a = where(a < b, g, where(a == b, 0.5 * g, 0.0))
    return (g_a, g - g_a)


def _clip_rule(x, min, max):
    rules.check_dtype(x, _NUMERIC)
    shapes = [tuple(t.shape) for t in (x, min, max) if t is not None]
    names = [n for n, t in zip(("x", "min", "max"), (x, min, max)) if t is not None]
    return Spec(rules.broadcast_shapes(*shapes, names=names), x.dtype)


@defop(rule=_clip_rule, name="clip", promote=True)
def _clip(xp, x, min=None, max=None, *, out=None):
    return xp.clip(x, min, max, out=out)


@_clip.defvjp
def _clip_vjp(g, y, x, lo, hi):
    # y = minimum(maximum(x, lo), hi); x receives the gradient inside [lo, hi] inclusive.
    if lo is None and hi is None:
        return (g, None, None)
    if hi is None:
        g_x = where(x >= lo, g, 0.0)
        return (g_x, g - g_x, None)
    if lo is None:
        g_x = where(x <= hi, g, 0.0)
        return (g_x, None, g - g_x)
    g_x = where(logical_and(x >= lo, x <= hi), g, 0.0)
    g_lo = where(logical_and(x < lo, lo <= hi), g, 0.0)  # with lo > hi the result is hi
    return (g_x, g_lo, g - g_x - g_lo)


def _check_bounds(lo, hi, names=("min", "max")) -> None:
    """Crossed numeric bounds are a mistake worth reporting (tensor bounds are not read)."""
    numbers_given = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (lo, hi))
    if numbers_given and lo > hi:
        message = f"{names[0]}={lo} is greater than {names[1]}={hi}"
        raise attach_context(ArgumentError(message), "clip")


def clip(x, min=None, max=None):
    """``x`` limited to ``[min, max]`` (either bound may be None, a number or a tensor).

    Inputs are promoted together, as for ``maximum``. Numeric bounds with ``min > max``
    raise ``ArgumentError``; for tensor bounds the result is ``minimum(maximum(x, min),
    max)`` (``max`` where they cross), as in NumPy.

    >>> import rillet as rl
    >>> rl.clip(rl.asarray([-2.0, 0.5, 3.0]), 0.0, 1.0).numpy().tolist()
    [0.0, 0.5, 1.0]
    """
    _check_bounds(min, max)
    return _clip(x, min, max)


def clip_by_value(t, clip_value_min, clip_value_max):
    """TensorFlow's name for :func:`clip`."""
    _check_bounds(clip_value_min, clip_value_max, ("clip_value_min", "clip_value_max"))
    return _clip(t, clip_value_min, clip_value_max)


@defop(rule=rules.unary(allowed=_NUMERIC), low_precision="native")
def floor(xp, x, *, out=None):
    """The largest integer ``<= x``; integer inputs are returned as they are."""
    return xp.floor(x, out=out) if _is_float(x) else _identity(xp, x, out)


@floor.defvjp
def _floor_vjp(g, y, x):
    return (zeros_like(x),)


@defop(rule=rules.unary(allowed=_NUMERIC), low_precision="native")
def ceil(xp, x, *, out=None):
    """The smallest integer ``>= x``; integer inputs are returned as they are."""
    return xp.ceil(x, out=out) if _is_float(x) else _identity(xp, x, out)


@ceil.defvjp
def _ceil_vjp(g, y, x):
    return (zeros_like(x),)


@defop(rule=rules.unary(allowed=_NUMERIC), low_precision="native")
def round(xp, x, *, out=None):
    """The nearest integer, halves to even as in NumPy (``round(2.5) == 2``).

    >>> import rillet as rl
    >>> rl.round(rl.asarray([0.5, 1.5, 2.5, -0.5])).numpy().tolist()
    [0.0, 2.0, 2.0, -0.0]
    """
    return xp.rint(x, out=out) if _is_float(x) else _identity(xp, x, out)


@round.defvjp
def _round_vjp(g, y, x):
    return (zeros_like(x),)


# --- math functions ------------------------------------------------------------------------


@defop(rule=rules.unary(floating=True))
def exp(xp, x, *, out=None):
    """``e ** x``."""
    return xp.exp(_floating(xp, x), out=out)


@exp.defvjp
def _exp_vjp(g, y, x):
    return (g * y,)  # reuse the forward output


@defop(rule=rules.unary(floating=True))
def expm1(xp, x, *, out=None):
    """``exp(x) - 1``, accurate for small ``x``."""
    return xp.expm1(_floating(xp, x), out=out)


@expm1.defvjp
def _expm1_vjp(g, y, x):
    return (g * (y + 1.0),)


@defop(rule=rules.unary(floating=True))
def log(xp, x, *, out=None):
    """Natural logarithm."""
    return xp.log(_floating(xp, x), out=out)


@log.defvjp
def _log_vjp(g, y, x):
    return (g / x,)


@defop(rule=rules.unary(floating=True))
def log1p(xp, x, *, out=None):
    """``log(1 + x)``, accurate for small ``x``."""
    return xp.log1p(_floating(xp, x), out=out)


@log1p.defvjp
def _log1p_vjp(g, y, x):
    return (g / (1.0 + x),)


@defop(rule=rules.unary(floating=True))
def sqrt(xp, x, *, out=None):
    """Square root."""
    return xp.sqrt(_floating(xp, x), out=out)


@sqrt.defvjp
def _sqrt_vjp(g, y, x):
    return ((0.5 * g) / y,)


@defop(rule=rules.unary(floating=True))
def rsqrt(xp, x, *, out=None):
    """``1 / sqrt(x)``."""
    root = xp.sqrt(_floating(xp, x))
    return xp.divide(1.0, root, out=out)


@rsqrt.defvjp
def _rsqrt_vjp(g, y, x):
    return ((-0.5 * g) * (y * y * y),)  # d x^(-1/2) = -x^(-3/2) / 2


@defop(rule=rules.unary(floating=True))
def sin(xp, x, *, out=None):
    """Sine (radians)."""
    return xp.sin(_floating(xp, x), out=out)


@sin.defvjp
def _sin_vjp(g, y, x):
    return (g * cos(x),)


@defop(rule=rules.unary(floating=True))
def cos(xp, x, *, out=None):
    """Cosine (radians)."""
    return xp.cos(_floating(xp, x), out=out)


@cos.defvjp
def _cos_vjp(g, y, x):
    return (-g * sin(x),)


@defop(rule=rules.unary(floating=True))
def tan(xp, x, *, out=None):
    """Tangent (radians)."""
    return xp.tan(_floating(xp, x), out=out)


@tan.defvjp
def _tan_vjp(g, y, x):
    return (g * (1.0 + y * y),)


@defop(rule=rules.unary(floating=True))
def tanh(xp, x, *, out=None):
    """Hyperbolic tangent."""
    return xp.tanh(_floating(xp, x), out=out)


@tanh.defvjp
def _tanh_vjp(g, y, x):
    return (g * (1.0 - y * y),)


@defop(rule=rules.unary(floating=True))
def erf(xp, x, *, out=None):
    """The error function ``2 / sqrt(pi) * integral of exp(-t^2) from 0 to x``.

    >>> import rillet as rl
    >>> f"{float(rl.erf(rl.asarray(1.0, dtype=rl.float64))):.12f}"
    '0.842700792950'
    """
    return _erf.erf(xp, _floating(xp, x), out=out)


@erf.defvjp
def _erf_vjp(g, y, x):
    return (g * (2.0 * _erf.INV_SQRT_PI) * exp(-x * x),)


# --- selection and tests -------------------------------------------------------------------


def _where_rule(condition, x, y):
    if condition.dtype != _dtypes.bool_:
        raise DTypeError(
            f"condition has dtype {condition.dtype}, expected bool (compare first, e.g. x > 0)"
        )
    shapes = (tuple(condition.shape), tuple(x.shape), tuple(y.shape))
    return Spec(rules.broadcast_shapes(*shapes, names=("condition", "x", "y")), x.dtype)


_SELECT_MIN_SIZE = 8192  # below this, np.where's lower per-call cost wins (measured)


def _select(xp, condition, x, y):
    """``where(condition, x, y)``, bit for bit. np.where branches per element, which makes
    it up to ~15x slower on unpredictable masks, so large arrays select bits instead:
    ``((x ^ y) & mask) ^ y`` with ``mask`` all ones where ``condition`` holds."""
    if max(condition.size, x.size, y.size) < _SELECT_MIN_SIZE:
        return xp.where(condition, x, y)
    bits = np.dtype(f"u{x.dtype.itemsize}")
    mask = condition.astype(bits)
    xp.negative(mask, out=mask)  # 1 -> all ones (unsigned wrap-around)
    y_bits = y.view(bits)
    chosen = xp.bitwise_and(xp.bitwise_xor(x.view(bits), y_bits), mask)
    return xp.bitwise_xor(chosen, y_bits, out=chosen).view(x.dtype)


@defop(rule=_where_rule, promote=(1, 2), low_precision="native")
def where(xp, condition, x, y, *, out=None):
    """``x`` where ``condition`` is True, else ``y``, broadcasting all three.

    ``condition`` must be bool (as in TensorFlow); ``x`` and ``y`` are promoted together.

    >>> import rillet as rl
    >>> x = rl.asarray([-1.0, 2.0])
    >>> rl.where(x > 0, x, 0.0).numpy().tolist()
    [0.0, 2.0]
    """
    return _select(xp, condition, x, y)


@where.defvjp
def _where_vjp(g, out, condition, x, y):
    return (None, where(condition, g, 0.0), where(condition, 0.0, g))


@defop(rule=rules.same_as(0), differentiable=False, low_precision="native")
def stop_gradient(xp, x, *, out=None):
    """``x`` unchanged, but gradients do not flow through it."""
    return _identity(xp, x, out)


_IS_TEST = rules.unary(dtype=_dtypes.bool_)


@defop(rule=_IS_TEST, differentiable=False)
def isnan(xp, x, *, out=None):
    """True where ``x`` is NaN."""
    return xp.isnan(x, out=out)


@defop(rule=_IS_TEST, differentiable=False)
def isinf(xp, x, *, out=None):
    """True where ``x`` is +inf or -inf."""
    return xp.isinf(x, out=out)


@defop(rule=_IS_TEST, differentiable=False)
def isfinite(xp, x, *, out=None):
    """True where ``x`` is neither NaN nor infinite."""
    return xp.isfinite(x, out=out)


# --- comparisons (inputs promoted to one dtype) and logic (inputs read as truth values) ----


@defop(rule=_BOOL_RESULT, promote=True, differentiable=False)
def equal(xp, x, y, *, out=None):
    """``x == y``."""
    return xp.equal(x, y, out=out)


@defop(rule=_BOOL_RESULT, promote=True, differentiable=False)
def not_equal(xp, x, y, *, out=None):
    """``x != y``."""
    return xp.not_equal(x, y, out=out)


@defop(rule=_BOOL_RESULT, promote=True, differentiable=False)
def less(xp, x, y, *, out=None):
    """``x < y``."""
    return xp.less(x, y, out=out)


@defop(rule=_BOOL_RESULT, promote=True, differentiable=False)
def less_equal(xp, x, y, *, out=None):
    """``x <= y``."""
    return xp.less_equal(x, y, out=out)


@defop(rule=_BOOL_RESULT, promote=True, differentiable=False)
def greater(xp, x, y, *, out=None):
    """``x > y``."""
    return xp.greater(x, y, out=out)


@defop(rule=_BOOL_RESULT, promote=True, differentiable=False)
def greater_equal(xp, x, y, *, out=None):
    """``x >= y``."""
    return xp.greater_equal(x, y, out=out)


@defop(rule=_BOOL_RESULT, differentiable=False)
def logical_and(xp, x, y, *, out=None):
    """``x and y``, elementwise; numbers are true when nonzero (as in NumPy)."""
    return xp.logical_and(x, y, out=out)


@defop(rule=_BOOL_RESULT, differentiable=False)
def logical_or(xp, x, y, *, out=None):
    """``x or y``, elementwise; numbers are true when nonzero."""
    return xp.logical_or(x, y, out=out)


@defop(rule=_BOOL_RESULT, differentiable=False)
def logical_xor(xp, x, y, *, out=None):
    """True where exactly one of ``x`` and ``y`` is true."""
    return xp.logical_xor(x, y, out=out)


@defop(rule=_IS_TEST, differentiable=False)
def logical_not(xp, x, *, out=None):
    """``not x``, elementwise; numbers are true when nonzero."""
    return xp.logical_not(x, out=out)
