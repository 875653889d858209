"""Activation layers: ReLU, LeakyReLU, PReLU, ELU and Softmax, with the arguments and
defaults of Keras 3 (``Activation``, which wraps any activation function, is in ``core.py``).

>>> import rillet as rl
>>> import rillet.layers
>>> rl.layers.ReLU(max_value=6.0)(rl.asarray([-1.0, 3.0, 9.0])).tolist()
[0.0, 3.0, 6.0]
>>> scores = rl.asarray([[1.0, 2.0, 3.0]])
>>> probs = rl.layers.Softmax()(scores, mask=rl.asarray([[True, True, False]]))
>>> [round(p, 4) for p in probs.numpy()[0].tolist()]
[0.2689, 0.7311, 0.0]
"""

from __future__ import annotations

import numbers
import warnings

from .. import activations, constraints, initializers, ops, regularizers
from .. import dtypes as _dtypes
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from .layer import Layer

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]


def _number(who: str, name: str, value, minimum: float | None = None) -> float:
    """``value`` as a float, or an error repeating it (``minimum``: the smallest allowed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{who}: received {name}={value!r}, expected a number")
    if minimum is not None and not value >= minimum:  # `not >=` also rejects NaN
        raise ArgumentError(f"{who}: received {name}={value!r}, expected a number >= {minimum}")
    return float(value)


class _Elementwise(Layer):
    """An activation layer: no weights, any input shape, masks pass through."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class ReLU(_Elementwise):
    """Rectified linear unit: ``min(x, max_value)`` for ``x >= threshold``, else
    ``negative_slope * (x - threshold)``. With the defaults, ``max(x, 0)``."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None:
            max_value = _number("ReLU", "max_value", max_value, minimum=0.0)
        self.max_value = max_value
        self.negative_slope = _number("ReLU", "negative_slope", negative_slope, minimum=0.0)
        self.threshold = _number("ReLU", "threshold", threshold)

    def call(self, inputs):
        return activations.relu(
            inputs,
            negative_slope=self.negative_slope,
            max_value=self.max_value,
            threshold=self.threshold,
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(_Elementwise):
    """``x`` for ``x >= 0``, else ``negative_slope * x``.

    ``alpha=`` is accepted with a warning, as in Keras 3 (its Keras 2 name)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn(
                "LeakyReLU: argument `alpha` is deprecated, use `negative_slope` instead",
                DeprecationWarning,
                stacklevel=2,
            )
        super().__init__(**kwargs)
        self.negative_slope = _number("LeakyReLU", "negative_slope", negative_slope, minimum=0.0)

    def call(self, inputs):
        return ops.leaky_relu(inputs, alpha=self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(_Elementwise):
    """Parametric ReLU: ``x`` for ``x >= 0``, else ``alpha * x`` with a learned ``alpha``.

    ``alpha`` has the input's shape without the batch axis, except along ``shared_axes``
    (axes of the input, counting the batch as 0), where one value is shared: for
    ``(batch, height, width, channels)`` images, ``shared_axes=[1, 2]`` learns one slope per
    channel.
    """

    def __init__(
        self,
        alpha_initializer="Zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is not None and not isinstance(shared_axes, (list, tuple)):
            shared_axes = [shared_axes]
        self.shared_axes = None if shared_axes is None else list(shared_axes)
        for axis in self.shared_axes or []:
            if isinstance(axis, bool) or not isinstance(axis, int) or axis < 1:
                raise ArgumentError(
                    f"PReLU: received shared_axes={shared_axes!r}, expected input axes >= 1 "
                    "(axis 0 is the batch)"
                )
        self.alpha = None

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        shared = set(self.shared_axes or [])
        if len(input_shape) < 2 or max(shared, default=1) >= len(input_shape):
            raise ShapeError(
                f"PReLU: shared_axes={self.shared_axes} do not fit an input of shape "
                f"{input_shape} (rank >= 2 with a batch axis expected)"
            )
        alpha_shape = [1 if i in shared else d for i, d in enumerate(input_shape) if i > 0]
        if None in alpha_shape:
            raise ShapeError(
                f"PReLU: the input axes that are not shared must have known sizes, got input "
                f"shape {input_shape} and shared_axes={self.shared_axes}"
            )
        self.alpha = self.add_weight(
            shape=alpha_shape,
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
            name="alpha",
        )
        self.built = True

    def call(self, inputs):
        shape = tuple(inputs.shape)
        expected = self.alpha.shape
        fits = len(shape) == len(expected) + 1 and all(
            a == 1 or s is None or s == a for s, a in zip(shape[1:], expected)
        )
        if not fits:
            raise ShapeError(
                f"PReLU '{self.name}': alpha has shape {expected}, which does not fit an input "
                f"of shape {shape}"
            )
        # relu(x) - alpha * relu(-x): exactly one of the two terms is non-zero.
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }


class ELU(_Elementwise):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number("ELU", "alpha", alpha)

    def call(self, inputs):
        return ops.elu(inputs, alpha=self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


def _large_negative(dtype) -> float:
    """What Keras adds to masked logits: far below any logit, yet finite in ``dtype`` (so a
    fully masked row gives no NaN)."""
    return -3e4 if dtype == _dtypes.float16 else -1e9


class Softmax(_Elementwise):
    """``exp(x) / sum(exp(x))`` along ``axis`` (an int or a tuple of ints).

    With ``mask`` (booleans broadcastable to the input, True where a value takes part), the
    masked positions get probability 0, as in Keras: a large negative number is added to
    their logits and the result is multiplied by the mask. A mask of lower rank than the
    input (the ``(batch, steps)`` mask of an ``Embedding(mask_zero=True)``) covers the
    trailing axes whole.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise ArgumentTypeError(
                f"Softmax: received axis={axis!r}, expected an int or a tuple of ints"
            )
        self.axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis

    def call(self, inputs, mask=None):
        if mask is None:
            return activations.softmax(inputs, axis=self.axis)
        keep = ops.cast(mask, dtype=inputs.dtype)
        for _ in range(len(inputs.shape) - len(keep.shape)):
            keep = ops.expand_dims(keep, axis=-1)  # a (batch, steps) mask covers whole rows
        adder = (1.0 - keep) * _large_negative(inputs.dtype)
        return activations.softmax(inputs + adder, axis=self.axis) * keep

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
