"""Pooling layers, channels-last, with the arguments and defaults of Keras 3:
MaxPooling1D/2D, AveragePooling1D/2D, GlobalAveragePooling1D/2D and GlobalMaxPooling1D/2D
(and Keras's short aliases MaxPool2D, AvgPool2D, GlobalAvgPool2D, ...).

As in TF, "same" padding gives ``ceil(size / strides)`` outputs and the padded cells take
no part: they never win a max and are not counted by an average.

>>> import rillet as rl
>>> import rillet.layers
>>> rl.layers.MaxPooling2D()(rl.ones((1, 5, 5, 3))).shape
(1, 2, 2, 3)
>>> rl.layers.GlobalAveragePooling2D(keepdims=True)(rl.ones((1, 5, 5, 3))).shape
(1, 1, 1, 3)
"""

from __future__ import annotations

from .. import ops
from ._args import check_rank
from .convolutional import (
    channels_last,
    conv_output_length,
    float_autocast,
    int_tuple,
    padding_mode,
)
from .layer import Layer

__all__ = [
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
    "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D",
]  # fmt: skip


class _Pooling(Layer):
    """Windowed pooling; subclasses name the rank and the op."""

    rank = 2

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = type(self).__name__
        self.pool_size = int_tuple(who, "pool_size", pool_size, self.rank)
        self.strides = self.pool_size if strides is None else int_tuple(
            who, "strides", strides, self.rank
        )  # fmt: skip
        self.padding = padding_mode(who, padding, ("valid", "same"))
        self.data_format = channels_last(who, data_format)

    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        check_rank(f"{type(self).__name__} '{self.name}'", tuple(x.shape), rank=self.rank + 2)
        return self._pool(x, pool_size=self.pool_size, strides=self.strides, padding=self.padding)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        check_rank(type(self).__name__, shape, rank=self.rank + 2)
        spatial = (
            conv_output_length(n, k, self.padding, s)
            for n, k, s in zip(shape[1:-1], self.pool_size, self.strides)
        )
        return (shape[0], *spatial, shape[-1])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps of ``(batch, steps, channels)``; ``strides``
    defaults to ``pool_size``."""

    rank = 1
    _pool = staticmethod(ops.max_pool1d)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of ``(batch, height, width, channels)``."""

    rank = 2
    _pool = staticmethod(ops.max_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):  # fmt: skip
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps of ``(batch, steps, channels)``."""

    rank = 1
    _pool = staticmethod(ops.avg_pool1d)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of ``(batch, height, width, channels)``."""

    rank = 2
    _pool = staticmethod(ops.avg_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):  # fmt: skip
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


# --- global pooling --------------------------------------------------------------------------


class _GlobalPooling(Layer):
    """Reduces every spatial axis; ``keepdims=True`` keeps them with size 1."""

    rank = 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = channels_last(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)

    def _axes(self, x) -> tuple[int, ...]:
        check_rank(f"{type(self).__name__} '{self.name}'", tuple(x.shape), rank=self.rank + 2)
        return tuple(range(1, self.rank + 1))

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        check_rank(type(self).__name__, shape, rank=self.rank + 2)
        if self.keepdims:
            return (shape[0], *(1,) * self.rank, shape[-1])
        return (shape[0], shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _GlobalMax(_GlobalPooling):
    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        return ops.max(x, axis=self._axes(x), keepdims=self.keepdims)


class _GlobalAverage(_GlobalPooling):
    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        return ops.mean(x, axis=self._axes(x), keepdims=self.keepdims)


class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over the steps of ``(batch, steps, channels)``. With a mask ``(batch, steps)``
    (from Embedding(mask_zero=True) or Masking), the mean is over the unmasked steps only
    (and 0 for a sample with none).

    >>> import rillet as rl
    >>> import rillet.layers
    >>> x = rl.asarray([[[1.0], [3.0], [100.0]]])
    >>> rl.layers.GlobalAveragePooling1D()(x, mask=rl.asarray([[True, True, False]])).tolist()
    [[2.0]]
    """

    rank = 1

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        x = float_autocast(inputs, self.dtype)
        axes = self._axes(x)
        weights = ops.expand_dims(ops.cast(mask, dtype=x.dtype), axis=-1)  # (batch, steps, 1)
        total = ops.sum(x * weights, axis=axes, keepdims=self.keepdims)
        count = ops.sum(weights, axis=axes, keepdims=self.keepdims)
        return total / ops.maximum(count, 1.0)  # a sample without steps averages to 0

    def compute_mask(self, inputs, mask=None):
        return None  # the steps are gone


class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over height and width of ``(batch, height, width, channels)``."""

    rank = 2


class GlobalMaxPooling1D(_GlobalMax):
    """Max over the steps of ``(batch, steps, channels)``."""

    rank = 1


class GlobalMaxPooling2D(_GlobalMax):
    """Max over height and width of ``(batch, height, width, channels)``."""

    rank = 2


MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = (
    MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
)  # fmt: skip
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
