"""Accuracy metrics: exact, binary, categorical, sparse categorical and top-k."""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ArgumentError, ShapeError
from ..losses import squeeze_or_expand_to_same_rank
from .metric import _check_shapes, _tensor
from .reduction import MeanMetricWrapper


def accuracy(y_true, y_pred):
    """1.0 where ``y_true == y_pred``, else 0.0."""
    y_pred = _tensor(y_pred)
    y_true = _tensor(y_true, y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_shapes("accuracy", y_true, y_pred)
    return ops.cast(ops.equal(y_true, y_pred), dtype=_dtypes.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``y_pred > threshold`` agrees with the 0/1 label ``y_true``."""
    y_pred = _tensor(y_pred)
    y_true = _tensor(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_shapes("binary_accuracy", y_true, y_pred)
    predicted = ops.cast(y_pred > threshold, dtype=_dtypes.float32)
    return ops.cast(ops.equal(ops.cast(y_true, dtype=_dtypes.float32), predicted), dtype="float32")


def _class_labels(owner: str, y_true, y_pred):
    """Integer labels shaped like ``y_pred`` without its last axis."""
    y_true = _tensor(y_true)
    if y_true.ndim == y_pred.ndim and y_true.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ShapeError(
            f"y_true must have the shape of y_pred without its last (class) axis, received "
            f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}",
            op=owner,
        )
    return ops.cast(y_true, dtype=_dtypes.int64)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label equals ``argmax(y_pred, axis=-1)``."""
    y_pred = _tensor(y_pred)
    labels = _class_labels("sparse_categorical_accuracy", y_true, y_pred)
    return ops.cast(ops.equal(labels, ops.argmax(y_pred, axis=-1)), dtype=_dtypes.float32)


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_true) == argmax(y_pred)`` along the last axis."""
    y_pred, y_true = _tensor(y_pred), _tensor(y_true)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ShapeError(
            f"y_true and y_pred must have the same shape, received y_true.shape="
            f"{tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}",
            op="categorical_accuracy",
        )
    same = ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1))
    return ops.cast(same, dtype=_dtypes.float32)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the label's score is among the ``k`` largest of ``y_pred`` (ties at the
    boundary count as inside, as TensorFlow's ``in_top_k``)."""
    y_pred = _tensor(y_pred)
    labels = _class_labels("sparse_top_k_categorical_accuracy", y_true, y_pred)
    score = ops.take_along_axis(y_pred, ops.expand_dims(labels, axis=-1), axis=-1)
    above = ops.sum(ops.cast(y_pred > score, dtype=_dtypes.int64), axis=-1)
    return ops.cast(above < k, dtype=_dtypes.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """:func:`sparse_top_k_categorical_accuracy` with one-hot ``y_true``."""
    y_true = _tensor(y_true)
    return sparse_top_k_categorical_accuracy(ops.argmax(y_true, axis=-1), y_pred, k=k)


def _check_k(owner: str, k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ArgumentError(f"{owner}: received k={k!r}, expected a positive integer")
    return int(k)


class Accuracy(MeanMetricWrapper):
    """How often ``y_pred`` equals ``y_true`` exactly."""

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the 0/1 label."""

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold=0.5):
        if not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
            raise ArgumentError(
                f"BinaryAccuracy: received threshold={threshold!r}, expected a value in (0, 1)"
            )
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=float(threshold))


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of ``y_pred`` matches the argmax of one-hot ``y_true``."""

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of ``y_pred`` matches the integer label.

    >>> from rillet import metrics
    >>> float(metrics.SparseCategoricalAccuracy()([2, 1], [[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]]))
    0.5
    """

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the ``k`` highest predictions."""

    def __init__(self, k=5, name: str = "top_k_categorical_accuracy", dtype=None):
        k = _check_k("TopKCategoricalAccuracy", k)
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is among the ``k`` highest predictions."""

    def __init__(self, k=5, name: str = "sparse_top_k_categorical_accuracy", dtype=None):
        k = _check_k("SparseTopKCategoricalAccuracy", k)
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
