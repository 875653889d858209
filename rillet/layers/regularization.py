"""Regularization layers: Dropout, SpatialDropout1D/2D/3D and ActivityRegularization, with
the arguments and defaults of Keras 3.

>>> import rillet as rl
>>> import rillet.layers
>>> drop = rl.layers.Dropout(0.5)
>>> drop(rl.ones((2, 2))).tolist()  # the identity unless training=True
[[1.0, 1.0], [1.0, 1.0]]
"""

from __future__ import annotations

from .. import ops, regularizers
from ._args import (
    check_rank,
    data_format_arg,
    rate_arg,
    record_activity_loss,
    seed_arg,
    set_activity_regularizer,
)
from .layer import Layer

__all__ = [
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "ActivityRegularization",
]  # fmt: skip


class Dropout(Layer):
    """While training (``training=True``), zeroes each input element with probability
    ``rate`` and scales the rest by ``1 / (1 - rate)``; otherwise the identity.

    ``noise_shape`` is the mask's shape (``None`` entries take the input's size), e.g.
    ``(batch, 1, features)`` to drop the same features at every time step. ``seed`` is an op
    seed combined with the global seed as in ``rl.random``, so ``rl.random.set_seed`` makes
    the masks reproducible; inside ``rl.function`` each run draws a new mask.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate_arg(type(self).__name__, rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed_arg(type(self).__name__, seed)
        self.supports_masking = True

    def _noise_shape(self, inputs):
        return self.noise_shape

    def call(self, inputs, training=None, mask=None):
        if not training or self.rate == 0:
            return inputs
        if self.rate == 1:
            return inputs * 0.0
        noise_shape = self._noise_shape(inputs)
        return ops.dropout(inputs, self.rate, noise_shape=noise_shape, seed=self.seed)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }


class _SpatialDropout(Dropout):
    """Drops whole channels: one draw per (sample, channel), shared over the other axes."""

    _RANK = 3
    data_format = "channels_last"

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def build(self, input_shape) -> None:
        check_rank(type(self).__name__, input_shape, rank=self._RANK)
        self.built = True

    def _noise_shape(self, inputs):
        rank = self._RANK
        if self.data_format == "channels_first":
            return (None, None) + (1,) * (rank - 2)
        return (None,) + (1,) * (rank - 2) + (None,)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["noise_shape"]
        return config


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole feature channels of ``(batch, steps, channels)`` inputs."""

    _RANK = 3


class _SpatialDropoutND(_SpatialDropout):
    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = data_format_arg(type(self).__name__, data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout2D(_SpatialDropoutND):
    """Dropout of whole feature maps of ``(batch, rows, cols, channels)`` inputs."""

    _RANK = 4


class SpatialDropout3D(_SpatialDropoutND):
    """Dropout of whole feature volumes of ``(batch, d1, d2, d3, channels)`` inputs."""

    _RANK = 5


class ActivityRegularization(Layer):
    """Returns its input unchanged and adds ``l1 * sum|x| + l2 * sum x^2`` to ``losses``."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1, self.l2 = l1, l2
        set_activity_regularizer(self, regularizers.L1L2(l1, l2))
        self.supports_masking = True

    def call(self, inputs, mask=None):
        record_activity_loss(self, inputs)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
