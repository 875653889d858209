"""Hinge losses for maximum-margin classifiers: hinge, squared hinge, categorical hinge."""

from __future__ import annotations

from .. import ops
from .loss import (
    LossFunctionWrapper,
    _elementwise_inputs,
)


def _hinge_labels(y_true):
    """Labels in {0, 1} become {-1, 1}; labels already in {-1, 1} are kept."""
    binary = ops.all(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)))
    return ops.where(binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``, labels -1/1 (0/1 are converted)."""
    y_true, y_pred = _elementwise_inputs("hinge", y_true, y_pred)
    return ops.mean(ops.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1)``, labels -1/1 (0/1 converted)."""
    y_true, y_pred = _elementwise_inputs("squared_hinge", y_true, y_pred)
    margin = ops.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)
    return ops.mean(ops.square(margin), axis=-1)


def categorical_hinge(y_true, y_pred):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` over the last axis."""
    y_true, y_pred = _elementwise_inputs("categorical_hinge", y_true, y_pred)
    positive = ops.sum(y_true * y_pred, axis=-1)
    negative = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.maximum(negative - positive + 1.0, 0.0)


# Keras's short names.


class Hinge(LossFunctionWrapper):
    """Hinge loss (:func:`hinge`), labels -1/1 or 0/1."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss (:func:`squared_hinge`), labels -1/1 or 0/1."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """Categorical hinge loss (:func:`categorical_hinge`)."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)
