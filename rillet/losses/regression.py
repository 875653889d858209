"""Regression losses: squared, absolute, percentage, logarithmic, Huber, log-cosh and
cosine errors, as per-sample functions and as :class:`Loss` classes."""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..errors import ArgumentError
from .loss import (
    EPSILON,
    LossFunctionWrapper,
    _elementwise_inputs,
    l2_normalize,
)


def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred) ** 2, axis=-1)``."""
    y_true, y_pred = _elementwise_inputs("mean_squared_error", y_true, y_pred)
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|, axis=-1)``."""
    y_true, y_pred = _elementwise_inputs("mean_absolute_error", y_true, y_pred)
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, epsilon), axis=-1)``."""
    y_true, y_pred = _elementwise_inputs("mean_absolute_percentage_error", y_true, y_pred)
    diff = ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), EPSILON))
    return 100.0 * ops.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(1 + y_pred) - log(1 + y_true)) ** 2, axis=-1)`` (values below epsilon
    clipped)."""
    y_true, y_pred = _elementwise_inputs("mean_squared_logarithmic_error", y_true, y_pred)
    first = ops.log(ops.maximum(y_pred, EPSILON) + 1.0)
    second = ops.log(ops.maximum(y_true, EPSILON) + 1.0)
    return ops.mean(ops.square(first - second), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """``0.5 * e**2`` where ``|e| <= delta``, else ``delta * |e| - 0.5 * delta**2``, with
    ``e = y_pred - y_true``, averaged over the last axis."""
    y_true, y_pred = _elementwise_inputs("huber", y_true, y_pred)
    error = y_pred - y_true
    size = ops.abs(error)
    quadratic = 0.5 * ops.square(error)
    linear = delta * size - 0.5 * delta * delta
    return ops.mean(ops.where(size <= delta, quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, as ``x + softplus(-2x) - log 2`` so
    that large errors cannot overflow ``cosh``."""
    y_true, y_pred = _elementwise_inputs("log_cosh", y_true, y_pred)
    x = y_pred - y_true
    return ops.mean(x + ops.softplus(-2.0 * x) - math.log(2.0), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for aligned vectors."""
    y_true, y_pred = _elementwise_inputs("cosine_similarity", y_true, y_pred)
    return -ops.sum(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis), axis=axis)


class MeanSquaredError(LossFunctionWrapper):
    """Mean of squared errors (:func:`mean_squared_error`), weighted and reduced.

    >>> from rillet import losses
    >>> float(losses.MeanSquaredError(reduction="sum")([[1.0, 2.0]], [[0.0, 0.0]]))
    2.5
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors (:func:`mean_absolute_error`), weighted and reduced."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Mean absolute percentage error (:func:`mean_absolute_percentage_error`)."""

    def __init__(
        self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None
    ):
        super().__init__(
            mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype
        )


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Mean squared logarithmic error (:func:`mean_squared_logarithmic_error`)."""

    def __init__(
        self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None
    ):
        super().__init__(
            mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype
        )


class LogCosh(LossFunctionWrapper):
    """Logarithm of the hyperbolic cosine of the error (:func:`log_cosh`)."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class Huber(LossFunctionWrapper):
    """Huber loss (:func:`huber`): quadratic for errors up to ``delta``, linear beyond.

    >>> from rillet import losses
    >>> float(losses.Huber(delta=1.0)([[0.0, 0.0]], [[0.5, 3.0]]))
    1.3125
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        ok = isinstance(delta, (int, float, np.floating)) and delta >= 0
        if not ok:
            raise ArgumentError(f"Huber: received delta={delta!r}, expected a number >= 0")
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=float(delta))


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis`` (:func:`cosine_similarity`)."""

    def __init__(
        self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None
    ):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh
