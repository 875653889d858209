"""Activation functions: sigmoid, relu, relu6, leaky_relu, elu, selu, gelu, silu/swish,
softplus and softsign, each one elementwise op with a stable kernel.

Floating activations turn integer and bool inputs into float32. ``relu`` has gradient 0 at
0, ``relu6`` 0 at both kinks and ``leaky_relu`` ``alpha`` at 0, as in TensorFlow.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentTypeError
from . import _erf
from . import _rules as rules
from ._jit import flat_floats, loop_kernel
from ._registry import Spec, defop
from .elementwise import (
    _NUMERIC,
    _check_real,
    _floating,
    abs,
    erf,
    exp,
    logical_and,
    square,
    tanh,
    where,
)

__all__ = [
    "sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish",
    "softplus", "softsign",
]  # fmt: skip


def _sigmoid_values(xp, x, out=None):
    # exp(min(x, 0)) / (1 + exp(-|x|)) is 1 / (1 + exp(-x)) for x >= 0 and exp(x) / (1 +
    # exp(x)) below: neither exp can overflow and neither form cancels, so tiny outputs keep
    # their relative accuracy (arithmetic, not np.where, which is slow on random signs).
    numerator = xp.exp(xp.minimum(x, 0.0))
    return xp.divide(numerator, 1.0 + xp.exp(-xp.abs(x)), out=out)


@defop(rule=rules.unary(floating=True))
def sigmoid(xp, x, *, out=None):
    """The logistic function ``1 / (1 + exp(-x))``, stable for large ``|x|``."""
    return _sigmoid_values(xp, _floating(xp, x), out=out)


@sigmoid.defvjp
def _sigmoid_vjp(g, y, x):
    return (g * (y * (1.0 - y)),)


@defop(rule=rules.unary(allowed=_NUMERIC))
def relu(xp, x, *, out=None):
    """``max(x, 0)``; the gradient at 0 is 0. Integers stay integers."""
    return xp.maximum(x, 0, out=out)


@relu.defvjp
def _relu_vjp(g, y, x):
    return (relu_grad(g, y),)


def _relu_grad_rule(g, y):
    return Spec(rules.broadcast_shapes(tuple(g.shape), tuple(y.shape), names=("g", "y")), g.dtype)


@defop(rule=_relu_grad_rule)
def relu_grad(xp, g, y, *, out=None):
    """``g`` where ``y > 0``, else ``g * 0`` (0, or NaN where ``g`` is not finite): relu's
    gradient as one kernel."""
    if _flat_operands(g, y, out) and _relu_grad_loop.compiled is not None:
        d_x = np.empty(g.shape, g.dtype) if out is None else out
        one = g.dtype.type(1)
        _relu_grad_loop.compiled(g.reshape(-1), y.reshape(-1), d_x.reshape(-1), one - one, one)
        return d_x
    return xp.multiply(g, y > 0, out=out)


# One compiled pass (rillet/ops/_jit.py) instead of NumPy's two (the mask, then the
# product): N=64, 26x26x32, one thread: 0.21ms against 0.46ms.
@loop_kernel(aot=("in:{f}[::1], in:{f}[::1], {f}[::1], {f}, {f}",))
def _relu_grad_loop(g, y, out, zero, one):
    for i in range(g.size):
        out[i] = g[i] * (one if y[i] > 0 else zero)


def _flat_operands(g, y, out) -> bool:
    """The compiled loop applies: C-contiguous NumPy arrays of one shape and floating dtype."""
    return flat_floats(g, y, out) and y.shape == g.shape and (out is None or out.shape == g.shape)


@relu_grad.defvjp
def _relu_grad_vjp(h, z, g, y):
    return (relu_grad(h, y), None)  # linear in g; piecewise constant in y


@defop(rule=rules.unary(allowed=_NUMERIC))
def relu6(xp, x, *, out=None):
    """``min(max(x, 0), 6)``; the gradient is 0 at both kinks, as in TensorFlow."""
    return xp.minimum(xp.maximum(x, 0), 6, out=out)


@relu6.defvjp
def _relu6_vjp(g, y, x):
    return (where(logical_and(x > 0, x < 6), g, 0.0),)


def _alpha_rule(x, *, alpha):
    _check_real("alpha", alpha)
    return Spec(tuple(x.shape), rules.floating_result(x.dtype))


@defop(rule=_alpha_rule)
def leaky_relu(xp, x, *, alpha=0.2, out=None):
    """``x`` for ``x > 0``, else ``alpha * x`` (``tf.nn.leaky_relu``; alpha 0.2 by default)."""
    x = _floating(xp, x)  # max(x, 0) + alpha min(x, 0): one term is exactly 0
    return xp.add(xp.maximum(x, 0.0), float(alpha) * xp.minimum(x, 0.0), out=out)


@leaky_relu.defvjp
def _leaky_relu_vjp(g, y, x, *, alpha):
    return (where(x > 0, g, float(alpha) * g),)  # alpha at 0, as in TensorFlow


def _elu_values(xp, x, alpha: float, out=None):
    # max(x, 0) + alpha expm1(min(x, 0)): one term is exactly 0, and expm1 never overflows.
    return xp.add(xp.maximum(x, 0.0), alpha * xp.expm1(xp.minimum(x, 0.0)), out=out)


@defop(rule=_alpha_rule)
def elu(xp, x, *, alpha=1.0, out=None):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return _elu_values(xp, _floating(xp, x), float(alpha), out=out)


@elu.defvjp
def _elu_vjp(g, y, x, *, alpha):
    return (where(x > 0, g, g * (y + float(alpha))),)  # below 0, d/dx = alpha exp(x) = y + alpha


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@defop(rule=rules.unary(floating=True))
def selu(xp, x, *, out=None):
    """Scaled ELU with the self-normalizing constants of Klambauer et al. (2017)."""
    return xp.multiply(_SELU_SCALE, _elu_values(xp, _floating(xp, x), _SELU_ALPHA), out=out)


@selu.defvjp
def _selu_vjp(g, y, x):
    return (where(x > 0, _SELU_SCALE * g, g * (y + _SELU_SCALE * _SELU_ALPHA)),)


_INV_SQRT2 = 0.70710678118654752440
_INV_SQRT_2PI = 0.39894228040143267794
_SQRT_2_OVER_PI = 0.79788456080286535588
_GELU_CUBIC = 0.044715


def _gelu_rule(x, *, approximate):
    if not isinstance(approximate, (bool, np.bool_)):
        raise ArgumentTypeError(f"approximate must be True or False, got {approximate!r}")
    return Spec(tuple(x.shape), rules.floating_result(x.dtype))


@defop(rule=_gelu_rule)
def gelu(xp, x, *, approximate=False, out=None):
    """Gaussian error linear unit ``x * Phi(x)`` (``Phi`` the standard normal CDF).

    ``approximate=True`` uses the tanh form ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
    x^3)))``, as ``tf.nn.gelu`` and Keras do.
    """
    x = _floating(xp, x)
    if approximate:
        cdf = 0.5 * (1.0 + xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * (x * x * x))))
    else:
        cdf = _erf.erf(xp, x * _INV_SQRT2)
        cdf += 1.0
        cdf *= 0.5
    return xp.multiply(x, cdf, out=out)


@gelu.defvjp
def _gelu_vjp(g, y, x, *, approximate):
    if approximate:
        t = tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * (x * x * x)))
        d_inner = _SQRT_2_OVER_PI * (1.0 + (3 * _GELU_CUBIC) * (x * x))
        return (g * (0.5 * (1.0 + t) + (0.5 * x) * (1.0 - t * t) * d_inner),)
    cdf = 0.5 * (1.0 + erf(x * _INV_SQRT2))
    pdf = _INV_SQRT_2PI * exp(-0.5 * x * x)
    return (g * (cdf + x * pdf),)


@defop(rule=rules.unary(floating=True))
def silu(xp, x, *, out=None):
    """``x * sigmoid(x)`` (also called swish)."""
    x = _floating(xp, x)
    return xp.multiply(x, _sigmoid_values(xp, x), out=out)


@silu.defvjp
def _silu_vjp(g, y, x):
    s = sigmoid(x)
    return (g * (s * (1.0 + x * (1.0 - s))),)


swish = silu


@defop(rule=rules.unary(floating=True))
def softplus(xp, x, *, out=None):
    """``log(1 + exp(x))``, computed as ``log1p(exp(-|x|)) + max(x, 0)`` so it never
    overflows and keeps precision for large negative ``x``."""
    x = _floating(xp, x)
    return xp.add(xp.log1p(xp.exp(-xp.abs(x))), xp.maximum(x, 0.0), out=out)


@softplus.defvjp
def _softplus_vjp(g, y, x):
    return (g * sigmoid(x),)


@defop(rule=rules.unary(floating=True))
def softsign(xp, x, *, out=None):
    """``x / (1 + |x|)``."""
    x = _floating(xp, x)
    return xp.divide(x, 1.0 + xp.abs(x), out=out)


@softsign.defvjp
def _softsign_vjp(g, y, x):
    return (g / square(1.0 + abs(x)),)
