"""Activation functions, with the names, arguments and defaults of Keras 3.

Each is a function of a tensor built from rillet ops, so it differentiates and traces like
any op. ``get`` turns a name (``"relu"``), None (``linear``) or a callable into a function;
``serialize`` turns a function back into its name.

>>> import rillet as rl
>>> from rillet import activations
>>> activations.relu(rl.asarray([-2.0, 1.0, 8.0]), max_value=6.0).tolist()
[0.0, 1.0, 6.0]
>>> activations.get("swish") is activations.silu, activations.serialize(activations.silu)
(True, 'silu')
>>> activations.get(None) is activations.linear
True
"""

from __future__ import annotations

import inspect

from . import ops
from .errors import ArgumentError, ArgumentTypeError
from .tensor import Tensor, asarray

__all__ = [
    "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish", "hard_silu",
    "hard_swish", "mish", "sigmoid", "hard_sigmoid", "log_sigmoid", "softmax", "log_softmax",
    "softplus", "softsign", "sparse_plus", "squareplus", "tanh", "hard_tanh", "tanh_shrink",
    "soft_shrink", "hard_shrink", "glu", "exponential", "linear", "get", "serialize",
    "deserialize",
]  # fmt: skip


def _tensor(x):
    """``x`` as a tensor (variables stay variables), so Python operators build rillet ops."""
    return x if isinstance(x, Tensor) or hasattr(x, "_rillet_read") else asarray(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit: ``x`` above ``threshold`` (capped at ``max_value`` when given),
    else ``negative_slope * (x - threshold)``. With the defaults, ``max(x, 0)``."""
    if max_value is not None and max_value < 0:
        raise ArgumentError(f"relu: received max_value={max_value!r}, expected >= 0")
    if threshold == 0 and max_value is None:
        return ops.relu(x) if negative_slope == 0 else ops.leaky_relu(x, alpha=negative_slope)
    if threshold == 0 and max_value == 6 and negative_slope == 0:
        return ops.relu6(x)
    x = _tensor(x)
    above = x > threshold
    y = ops.where(above, x, 0.0)
    if max_value is not None:
        y = ops.clip(y, 0.0, float(max_value))  # as Keras: also floors a negative threshold
    if negative_slope != 0:
        y = y + ops.where(above, 0.0, negative_slope * (x - threshold))
    return y


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return ops.relu6(x)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x > 0``, else ``negative_slope * x``."""
    return ops.leaky_relu(x, alpha=negative_slope)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return ops.elu(x, alpha=alpha)


def selu(x):
    """Scaled ELU (self-normalizing constants of Klambauer et al., 2017)."""
    return ops.selu(x)


def celu(x, alpha=1.0):
    """Continuously differentiable ELU: ``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""
    x = _tensor(x)
    return ops.relu(x) + alpha * ops.expm1(ops.minimum(x, 0.0) / alpha)


def gelu(x, approximate=False):
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate=True`` uses the tanh form."""
    return ops.gelu(x, approximate=approximate)


def silu(x):
    """``x * sigmoid(x)`` (also called swish)."""
    return ops.silu(x)


swish = silu


def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``relu6(x + 3) / 6`` (0 below -3, 1 above 3)."""
    x = _tensor(x)
    return ops.relu6(x + 3.0) * (1.0 / 6.0)


def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also called hard swish)."""
    x = _tensor(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def mish(x):
    """``x * tanh(softplus(x))``."""
    x = _tensor(x)
    return x * ops.tanh(ops.softplus(x))


def sigmoid(x):
    """The logistic function ``1 / (1 + exp(-x))``."""
    return ops.sigmoid(x)


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large ``|x|``."""
    x = _tensor(x)
    return -ops.softplus(-x)


def _axes(axis):
    return tuple(axis) if isinstance(axis, (tuple, list)) else axis


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (an int or a tuple of ints)."""
    axis = _axes(axis)
    if isinstance(axis, int):
        return ops.softmax(x, axis=axis)
    return ops.exp(log_softmax(x, axis=axis))


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis`` (an int or a tuple of ints)."""
    axis = _axes(axis)
    if isinstance(axis, int):
        return ops.log_softmax(x, axis=axis)
    x = _tensor(x)
    return x - ops.logsumexp(x, axis=axis, keepdims=True)


def softplus(x):
    """``log(1 + exp(x))``, stable for large ``|x|``."""
    return ops.softplus(x)


def softsign(x):
    """``x / (1 + |x|)``."""
    return ops.softsign(x)


def sparse_plus(x):
    """0 for ``x <= -1``, ``x`` for ``x >= 1``, ``(x + 1)^2 / 4`` between."""
    x = _tensor(x)
    return ops.where(x <= -1.0, 0.0, ops.where(x >= 1.0, x, 0.25 * ops.square(x + 1.0)))


def squareplus(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2``, a smooth ReLU."""
    x = _tensor(x)
    return 0.5 * (x + ops.sqrt(ops.square(x) + float(b)))


def tanh(x):
    """Hyperbolic tangent."""
    return ops.tanh(x)


def hard_tanh(x):
    """``clip(x, -1, 1)``."""
    return ops.clip(x, -1.0, 1.0)


def tanh_shrink(x):
    """``x - tanh(x)``."""
    x = _tensor(x)
    return x - ops.tanh(x)


def soft_shrink(x, threshold=0.5):
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0."""
    x = _tensor(x)
    return ops.where(x > threshold, x - threshold, ops.where(x < -threshold, x + threshold, 0.0))


def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0."""
    x = _tensor(x)
    return ops.where(ops.abs(x) > threshold, x, 0.0)


def glu(x, axis=-1):
    """Gated linear unit: ``a * sigmoid(b)`` for the halves ``a, b`` of ``x`` along ``axis``."""
    x = _tensor(x)
    size = x.shape[axis]
    if size is not None and size % 2:
        raise ArgumentError(
            f"glu: the size of axis {axis} must be even, got input shape {tuple(x.shape)}"
        )
    a, b = ops.split(x, num_or_size_splits=2, axis=axis)
    return a * ops.sigmoid(b)


def exponential(x):
    """``exp(x)``."""
    return ops.exp(x)


def linear(x):
    """The identity: ``x`` unchanged."""
    return x


# --- look-up ----------------------------------------------------------------------------------

# Canonical names first: ``serialize`` gives the first name of a function.
_FUNCTIONS = {name: globals()[name] for name in __all__[:-3]}
_ALIASES = {"swish": silu, "hard_swish": hard_silu}
_NAMES = {fn: name for name, fn in _FUNCTIONS.items() if name not in _ALIASES}


def get(identifier):
    """An activation function from None (``linear``), a name, a Keras config dict
    (``{"class_name": "function", "config": "relu"}``) or a callable (returned as is)."""
    if identifier is None:
        return linear
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ArgumentTypeError(f"activations.get: could not interpret identifier {identifier!r}")


def deserialize(config, custom_objects=None):
    """An activation from its name or a Keras config dict."""
    name = config
    if isinstance(config, dict):
        name = config.get("config") if config.get("class_name") == "function" else None
        name = name or config.get("class_name")
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if not isinstance(name, str) or name not in _FUNCTIONS:
        known = ", ".join(sorted(_FUNCTIONS))
        raise ArgumentError(f"activations: unknown activation {config!r}; known names: {known}")
    return _FUNCTIONS[name]


def serialize(activation) -> str:
    """The name of an activation function (a custom function: its ``__name__``)."""
    activation = get(activation)
    if activation in _NAMES:
        return _NAMES[activation]
    name = getattr(activation, "__name__", None)
    if name is None or not inspect.isfunction(activation):
        raise ArgumentTypeError(f"activations.serialize: cannot name activation {activation!r}")
    return name
