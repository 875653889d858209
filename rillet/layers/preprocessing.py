"""Preprocessing layers: Rescaling and Normalization (with ``adapt``), as in Keras 3.

>>> import numpy as np
>>> import rillet as rl
>>> import rillet.layers
>>> norm = rl.layers.Normalization(axis=None)
>>> norm.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
>>> [round(v, 4) for v in norm(np.array([1.0, 2.0, 3.0])).tolist()]
[-1.4142, -0.7071, 0.0]
>>> rl.layers.Rescaling(1 / 255)(rl.asarray([[255.0]])).tolist()
[[1.0]]
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..tensor import Tensor, asarray
from ._args import autocast
from .layer import Layer

__all__ = ["Rescaling", "Normalization"]

_EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest standard deviation divided by


def _to_config(value):
    """A number or an array as JSON-friendly Python (lists for arrays)."""
    if value is None or isinstance(value, (int, float)):
        return value
    return np.asarray(value).tolist()


class Rescaling(Layer):
    """``inputs * scale + offset``, in the layer's dtype; ``scale`` and ``offset`` are
    numbers or arrays broadcast against the input (e.g. per channel)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _to_config(scale), _to_config(offset)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        scale = asarray(np.asarray(self.scale, dtype=self.dtype))
        offset = asarray(np.asarray(self.offset, dtype=self.dtype))
        return autocast(inputs, self.dtype) * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def _axis_tuple(axis) -> tuple:
    if axis is None:
        return ()
    if isinstance(axis, int) and not isinstance(axis, bool):
        return (axis,)
    try:
        return tuple(int(a) for a in axis)
    except TypeError:
        raise ArgumentTypeError(
            f"Normalization: received axis={axis!r}, expected an int, a tuple of ints or None"
        ) from None


def _batches(data):
    """The batches of ``data``: an array or tensor is one batch; an iterable (a list of
    arrays, a generator, an ``rl.data.Dataset``) yields batches, or ``(x, y)`` tuples."""
    if isinstance(data, (np.ndarray, Tensor)) or hasattr(data, "_rillet_read"):
        yield np.asarray(data, dtype=np.float64)
        return
    if not hasattr(data, "__iter__"):
        raise ArgumentTypeError(
            f"Normalization.adapt: received data of type {type(data).__name__}, expected an "
            "array, a tensor or an iterable of batches"
        )
    for batch in data:
        if isinstance(batch, tuple):
            batch = batch[0]
        yield np.asarray(batch, dtype=np.float64)


class Normalization(Layer):
    """``(inputs - mean) / sqrt(variance)`` with a separate mean and variance for each index
    of the kept ``axis`` (the last by default; ``axis=None``: one scalar for everything).

    Give ``mean`` and ``variance``, or compute them from data with ``adapt(data)`` (NumPy, in
    float64, combining batches exactly). ``invert=True`` applies the inverse map. Adapted
    statistics are non-trainable weights (``mean``, ``variance``, ``count``), so they are
    saved with the model; the standard deviation is floored at 1e-7.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis_tuple(axis)
        if (mean is None) != (variance is None):
            raise ArgumentError(
                "Normalization: mean and variance must be given together, received "
                f"mean={mean!r} and variance={variance!r}"
            )
        if mean is not None and np.shape(mean) != np.shape(variance):
            raise ShapeError(
                f"Normalization: mean has shape {np.shape(mean)} but variance has shape "
                f"{np.shape(variance)}"
            )
        if mean is not None and np.ndim(mean) > len(self.axis):
            raise ShapeError(
                f"Normalization: mean of shape {np.shape(mean)} has more axes than axis={self.axis}"
            )
        self.input_mean, self.input_variance = _to_config(mean), _to_config(variance)
        self.invert = bool(invert)
        self.supports_masking = True

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        rank = len(input_shape)
        if any(not -rank <= a < rank for a in self.axis):
            raise ShapeError(
                f"Normalization: axis={self.axis} is out of range for inputs of shape {input_shape}"
            )
        self._keep_axis = tuple(sorted(a % rank for a in self.axis))
        self._reduce_axis = tuple(d for d in range(rank) if d not in self._keep_axis)
        if any(input_shape[d] is None for d in self._keep_axis):
            raise ShapeError(
                f"Normalization: the kept axes {self._keep_axis} of the input shape "
                f"{input_shape} must be known"
            )
        self._build_shape = input_shape
        self._broadcast_shape = tuple(
            input_shape[d] if d in self._keep_axis else 1 for d in range(rank)
        )
        shape = tuple(input_shape[d] for d in self._keep_axis)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(shape, "zeros", trainable=False, name="mean")
            self.adapt_variance = self.add_weight(shape, "ones", trainable=False, name="variance")
            self.count = self.add_weight((), "zeros", "int64", trainable=False, name="count")
        else:
            self._mean = asarray(self._broadcast_given(self.input_mean), dtype=self.dtype)
            self._variance = asarray(self._broadcast_given(self.input_variance), dtype=self.dtype)
        self.built = True

    def _broadcast_given(self, value) -> np.ndarray:
        """A given mean or variance, its axes aligned right to left with the kept axes."""
        value = np.asarray(value, dtype=np.float64)
        expanded = [1] * len(self._broadcast_shape)
        for i in range(1, value.ndim + 1):
            expanded[self._keep_axis[-i]] = value.shape[-i]
        try:
            return np.broadcast_to(value.reshape(expanded), self._broadcast_shape)
        except ValueError:
            raise ShapeError(
                f"Normalization: mean/variance of shape {value.shape} do not broadcast to the "
                f"kept axes of the input shape {self._build_shape}"
            ) from None

    def adapt(self, data) -> None:
        """Compute the mean and variance of ``data`` over the reduced axes (see the class)."""
        count, mean, m2 = 0, None, None
        for batch in _batches(data):
            if not self.built:
                self.build(batch.shape)
            self._check_adapt_shape(batch.shape)
            n = int(np.prod([batch.shape[d] for d in self._reduce_axis]))
            b_mean = batch.mean(axis=self._reduce_axis)
            b_m2 = ((batch - batch.mean(axis=self._reduce_axis, keepdims=True)) ** 2).sum(
                axis=self._reduce_axis
            )
            if mean is None:
                count, mean, m2 = n, b_mean, b_m2
                continue
            # Chan et al.'s pairwise update: exact for any split of the data into batches.
            total = count + n
            delta = b_mean - mean
            mean = mean + delta * (n / total)
            m2 = m2 + b_m2 + delta**2 * (count * n / total)
            count = total
        if mean is None:
            raise ArgumentError("Normalization.adapt: received no data (an empty iterable)")
        if self.input_mean is not None:
            raise ArgumentError("Normalization.adapt: this layer was given mean and variance")
        self.adapt_mean.assign(np.asarray(mean, dtype=self.dtype))
        self.adapt_variance.assign(np.asarray(m2 / count, dtype=self.dtype))
        self.count.assign(np.asarray(count, dtype=np.int64))

    def _check_adapt_shape(self, shape) -> None:
        if len(shape) != len(self._build_shape) or any(
            shape[d] != self._build_shape[d] for d in self._keep_axis
        ):
            raise ShapeError(
                f"Normalization.adapt: the layer was built for inputs of shape "
                f"{self._build_shape}, got a batch of shape {tuple(shape)}"
            )

    def _statistics(self):
        if self.input_mean is not None:
            return self._mean, self._variance
        shape = self._broadcast_shape
        return ops.reshape(self.adapt_mean, shape), ops.reshape(self.adapt_variance, shape)

    def call(self, inputs, mask=None):
        mean, variance = self._statistics()
        std = ops.maximum(ops.sqrt(variance), _EPSILON)
        x = autocast(inputs, self.dtype)
        return mean + x * std if self.invert else (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": self.input_mean,
            "variance": self.input_variance,
        }
