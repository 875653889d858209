"""Noise layers: GaussianNoise, GaussianDropout and AlphaDropout, with the arguments and
defaults of Keras 3. Each is the identity unless called with ``training=True``.

Noise is drawn with ``rl.random`` from the global stream (with ``seed``, an op seed combined
with the global seed), so ``rl.random.set_seed`` replays it and each run of a compiled
train step draws new numbers, as ``Dropout`` does.

>>> import rillet as rl
>>> import rillet.layers
>>> noise = rl.layers.GaussianNoise(0.1)
>>> noise(rl.ones((2,))).tolist()  # inference: unchanged
[1.0, 1.0]
>>> bool(rl.all(noise(rl.ones((1000,)), training=True) != 1.0))
True
"""

from __future__ import annotations

import math
import numbers

from .. import ops
from .. import random as _random
from ..errors import ArgumentError, ShapeError
from ._args import seed_arg
from .layer import Layer

__all__ = ["GaussianNoise", "GaussianDropout", "AlphaDropout"]

# The SELU constants (Klambauer et al., 2017): AlphaDropout keeps SELU's fixed point.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _dropout_rate(who: str, rate) -> float:
    """A rate in [0, 1): at 1 these layers would scale by infinity."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ArgumentError(f"{who}: received rate={rate!r}, expected a float in [0, 1)")
    return float(rate)


def _static_shape(layer: Layer, shape) -> tuple:
    """The shape noise is drawn at: random draws need every size known."""
    shape = tuple(shape)
    if any(s is None for s in shape):
        raise ShapeError(
            f"{type(layer).__name__} '{layer.name}': drawing noise needs a fully known shape, "
            f"got {shape} (inside rl.function, give input_signature= with known sizes)"
        )
    return shape


class _Noise(Layer):
    """Shared by the noise layers: no weights, same output shape, masks pass through."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed_arg(type(self).__name__, seed)
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def _normal(self, inputs, mean: float, stddev: float):
        shape = _static_shape(self, inputs.shape)
        return _random.normal(shape, mean=mean, stddev=stddev, dtype=inputs.dtype, seed=self.seed)


class GaussianNoise(_Noise):
    """Adds zero-centred normal noise of standard deviation ``stddev`` while training.

    A regularizer for real-valued inputs (Keras 3 accepts ``0 <= stddev <= 1``; rillet
    takes any ``stddev >= 0``)."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        bad = isinstance(stddev, bool) or not isinstance(stddev, numbers.Real)
        if bad or not stddev >= 0:
            raise ArgumentError(f"GaussianNoise: received stddev={stddev!r}, expected a float >= 0")
        self.stddev = float(stddev)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        return inputs + self._normal(inputs, 0.0, self.stddev)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    """Multiplies by normal noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))``
    while training: dropout's mean and variance, without zeros."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _dropout_rate("GaussianDropout", rate)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return inputs * self._normal(inputs, 1.0, stddev)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(_Noise):
    """Dropout for self-normalizing (SELU) networks: while training, each value is replaced
    with probability ``rate`` by SELU's negative saturation ``-scale * alpha``, then an affine
    map restores the input's mean and variance (for inputs of mean 0 and variance 1).

    ``noise_shape`` is the shape of the keep mask (None entries take the input's size), e.g.
    ``(batch, 1, features)`` to drop the same features at every time step.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _dropout_rate("AlphaDropout", rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def _mask_shape(self, inputs) -> tuple:
        shape = tuple(inputs.shape)
        if self.noise_shape is None:
            return _static_shape(self, shape)
        if len(self.noise_shape) != len(shape) or any(
            n is not None and n != 1 and n != s for n, s in zip(self.noise_shape, shape)
        ):
            raise ShapeError(
                f"AlphaDropout '{self.name}': noise_shape={self.noise_shape} does not "
                f"broadcast to the input shape {shape}"
            )
        return _static_shape(self, (s if n is None else n for n, s in zip(self.noise_shape, shape)))

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        rate = self.rate
        saturation = -_SELU_ALPHA * _SELU_SCALE
        uniform = _random.uniform(self._mask_shape(inputs), dtype=inputs.dtype, seed=self.seed)
        keep = ops.cast(uniform >= rate, dtype=inputs.dtype)
        # a, b make a * x + b have mean 0 and variance 1 again (Klambauer et al., 2017).
        a = ((1.0 - rate) * (1.0 + rate * saturation**2)) ** -0.5
        b = -a * saturation * rate
        dropped = inputs * keep + saturation * (1.0 - keep)
        return a * dropped + b

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }
