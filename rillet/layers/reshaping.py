"""Spatial reshaping layers, channels-last, with the arguments and defaults of Keras 3:
ZeroPadding1D/2D, Cropping1D/2D and UpSampling1D/2D ("nearest" or "bilinear").

>>> import rillet as rl
>>> import rillet.layers
>>> x = rl.ones((1, 4, 4, 3))
>>> rl.layers.ZeroPadding2D(((1, 0), (2, 2)))(x).shape, rl.layers.Cropping2D(1)(x).shape
((1, 5, 8, 3), (1, 2, 2, 3))
>>> rl.layers.UpSampling1D(3)(rl.asarray([[[1.0], [2.0]]])).numpy()[0, :, 0].tolist()
[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
"""

from __future__ import annotations

import operator

import numpy as np

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ArgumentError, ShapeError
from ..tensor import asarray
from ._args import check_rank
from .convolutional import channels_last, float_autocast, int_tuple
from .layer import Layer

__all__ = [
    "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling1D",
    "UpSampling2D",
]  # fmt: skip


def _pairs(who: str, name: str, value, rank: int) -> tuple[tuple[int, int], ...]:
    """Keras's spellings of per-axis ``(before, after)`` amounts: an int (everywhere), a pair
    (1-D: before and after; 2-D: symmetric per axis), or one pair per axis."""

    def count(v) -> int:
        if isinstance(v, bool):
            raise TypeError
        v = operator.index(v)
        if v < 0:
            raise TypeError
        return v

    try:
        if not isinstance(value, (list, tuple)):
            return ((count(value),) * 2,) * rank
        items = tuple(value)
        if rank == 1 and len(items) == 2 and not isinstance(items[0], (list, tuple)):
            return ((count(items[0]), count(items[1])),)
        if len(items) == rank and all(not isinstance(v, (list, tuple)) for v in items):
            return tuple((count(v), count(v)) for v in items)
        if len(items) == rank and all(len(v) == 2 for v in items):
            return tuple((count(a), count(b)) for a, b in items)
    except TypeError:
        pass
    spelling = "an int or 2 ints" if rank == 1 else "an int, 2 ints or 2 pairs of ints"
    raise ArgumentError(
        f"{who}: received {name}={value!r}, expected {spelling}, each a non-negative int"
    )


class _Spatial(Layer):
    """Shared by the layers below: channels-last check, rank check, masks not kept."""

    rank = 1

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = channels_last(type(self).__name__, data_format)

    def _check(self, shape) -> tuple:
        shape = tuple(shape)
        check_rank(f"{type(self).__name__} '{self.name}'", shape, rank=self.rank + 2)
        return shape

    def compute_output_shape(self, input_shape):
        shape = self._check(input_shape)
        spatial = (self._length(n, i) for i, n in enumerate(shape[1:-1]))
        return (shape[0], *spatial, shape[-1])

    def get_config(self) -> dict:
        config = super().get_config()
        return config if self.rank == 1 else {**config, "data_format": self.data_format}


# --- zero padding ----------------------------------------------------------------------------


class _ZeroPadding(_Spatial):
    def _length(self, size, i: int):
        return None if size is None else size + sum(self.padding[i])

    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        self._check(x.shape)
        return ops.pad(x, pad_width=((0, 0), *self.padding, (0, 0)))


class ZeroPadding1D(_ZeroPadding):
    """Adds zeros at the start and end of the steps axis of ``(batch, steps, channels)``:
    ``padding`` is an int or ``(before, after)``."""

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = _pairs("ZeroPadding1D", "padding", padding, 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding[0], "data_format": self.data_format}


class ZeroPadding2D(_ZeroPadding):
    """Adds rows and columns of zeros around ``(batch, height, width, channels)``:
    ``padding`` is an int, ``(rows, cols)`` (symmetric) or ``((top, bottom), (left,
    right))``."""

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = _pairs("ZeroPadding2D", "padding", padding, 2)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding}


# --- cropping --------------------------------------------------------------------------------


class _Cropping(_Spatial):
    def _length(self, size, i: int):
        if size is None:
            return None
        before, after = self.cropping[i]
        if before + after >= size:
            raise ShapeError(
                f"{type(self).__name__} '{self.name}': cropping={self.cropping} removes "
                f"{before + after} of the {size} entries of spatial axis {i + 1}; it must leave "
                "at least one"
            )
        return size - before - after

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)  # checks the cropping against the input
        self.built = True

    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        shape = self._check(x.shape)
        for i, n in enumerate(shape[1:-1]):
            self._length(n, i)
        inner = tuple(slice(b, -a if a else None) for b, a in self.cropping)
        return x[(slice(None), *inner)]


class Cropping1D(_Cropping):
    """Removes ``cropping = (start, end)`` steps (or an int, both) from ``(batch, steps,
    channels)``."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(None, **kwargs)
        self.cropping = _pairs("Cropping1D", "cropping", cropping, 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping[0]}


class Cropping2D(_Cropping):
    """Removes rows and columns from the borders of ``(batch, height, width, channels)``:
    ``cropping`` is an int, ``(rows, cols)`` (symmetric) or ``((top, bottom), (left,
    right))``."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = _pairs("Cropping2D", "cropping", cropping, 2)

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping}


# --- upsampling ------------------------------------------------------------------------------


class UpSampling1D(_Spatial):
    """Repeats each step ``size`` times: ``(batch, steps, channels) -> (batch, steps * size,
    channels)``."""

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(None, **kwargs)
        self.size = int_tuple("UpSampling1D", "size", size, 1)[0]

    def _length(self, n, i: int):
        return None if n is None else n * self.size

    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        self._check(x.shape)
        return ops.repeat(x, repeats=self.size, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}


_INTERPOLATIONS = ("nearest", "bilinear")


def _bilinear_axis(x, axis: int, factor: int):
    """Upsample ``x`` by ``factor`` along ``axis`` with linear interpolation at half-pixel
    centres (TF's ``resize(method="bilinear")``, torch's ``align_corners=False``)."""
    n = x.shape[axis]
    if n is None:
        raise ShapeError(
            f"UpSampling2D(interpolation='bilinear') needs known spatial sizes, got {x.shape}"
        )
    # Source coordinate of each output pixel, clamped to the first and last input pixels.
    source = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0, n - 1)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    shape = [1] * len(x.shape)
    shape[axis] = n * factor
    weight = asarray((source - low).reshape(shape), dtype=x.dtype)
    a = ops.take(x, low, axis=axis)
    return a + (ops.take(x, high, axis=axis) - a) * weight


class UpSampling2D(_Spatial):
    """Upsamples ``(batch, height, width, channels)`` by ``size = (rows, cols)``: "nearest"
    repeats rows and columns; "bilinear" interpolates as ``tf.image.resize``."""

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = int_tuple("UpSampling2D", "size", size, 2)
        mode = interpolation.lower() if isinstance(interpolation, str) else None
        if mode not in _INTERPOLATIONS:
            raise ArgumentError(
                f"UpSampling2D: received interpolation={interpolation!r}, expected one of "
                f"{', '.join(_INTERPOLATIONS)}"
            )
        self.interpolation = mode

    def _length(self, n, i: int):
        return None if n is None else n * self.size[i]

    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        self._check(x.shape)
        if self.interpolation == "bilinear" and not _dtypes.is_floating(x.dtype):
            x = ops.cast(x, dtype=self.dtype)  # interpolated values are fractional
        for axis, factor in ((1, self.size[0]), (2, self.size[1])):
            if factor == 1:
                continue
            if self.interpolation == "nearest":
                x = ops.repeat(x, repeats=factor, axis=axis)
            else:
                x = _bilinear_axis(x, axis, factor)
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}
