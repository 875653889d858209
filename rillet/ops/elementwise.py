"""Elementwise ops: arithmetic, math functions, activations, comparisons and logic."""

from __future__ import annotations

from . import _rules as rules
from ._registry import defop

__all__ = ["add", "subtract", "multiply", "divide", "negative", "exp", "tanh"]


@defop(rule=rules.broadcast_binary(), promote=True)
def add(xp, x, y, *, out=None):
    """``x + y``, broadcasting."""
    return xp.add(x, y, out=out)


@add.defvjp
def _add_vjp(g, y, a, b):
    return (g, g)  # the engine sums each back to its input's shape


@defop(rule=rules.broadcast_binary(), promote=True)
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
    """True division ``x / y``; integer inputs give float32."""
    return xp.true_divide(x, y, out=out)


@divide.defvjp
def _divide_vjp(g, y, a, b):
    g_a = g / b
    return (g_a, -g_a * y)  # d(a/b)/db = -a/b^2 = -(a/b)/b


@defop(rule=rules.unary())
def negative(xp, x, *, out=None):
    """``-x``."""
    return xp.negative(x, out=out)


@negative.defvjp
def _negative_vjp(g, y, x):
    return (-g,)


@defop(rule=rules.unary(floating=True))
def exp(xp, x, *, out=None):
    """``e ** x``."""
    return xp.exp(x, out=out)


@exp.defvjp
def _exp_vjp(g, y, x):
    return (g * y,)  # reuse the forward output


@defop(rule=rules.unary(floating=True))
def tanh(xp, x, *, out=None):
    """Hyperbolic tangent."""
    return xp.tanh(x, out=out)


@tanh.defvjp
def _tanh_vjp(g, y, x):
    return (g * (1.0 - y * y),)
