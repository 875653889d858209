"""Probabilistic losses: cross-entropies (binary, categorical, sparse categorical), the
Kullback-Leibler divergence and the Poisson loss."""

from __future__ import annotations

import warnings

import numpy as np

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from ..layers import masking
from .loss import (
    EPSILON,
    LossFunctionWrapper,
    _compatible,
    _elementwise_inputs,
    _floating,
    _fmt,
    _prepare,
    _tensor,
    broadcast_like,
)


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[epsilon, 1]``."""
    y_true, y_pred = _elementwise_inputs("kl_divergence", y_true, y_pred)
    y_true = ops.clip(y_true, EPSILON, 1.0)
    y_pred = ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(y_true * ops.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)``."""
    y_true, y_pred = _elementwise_inputs("poisson", y_true, y_pred)
    return ops.mean(y_pred - y_true * ops.log(y_pred + EPSILON), axis=-1)


def _check_smoothing(owner: str, label_smoothing) -> float:
    ok = isinstance(label_smoothing, (int, float, np.floating)) and 0 <= label_smoothing <= 1
    if not ok:
        raise ArgumentError(
            f"{owner}: received label_smoothing={label_smoothing!r}, expected a number in [0, 1]"
        )
    return float(label_smoothing)


def _check_axis(owner: str, axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ArgumentTypeError(f"{owner}: received axis={axis!r}, expected an int")
    if not -ndim <= axis < ndim:
        raise ArgumentError(f"{owner}: received axis={axis} for inputs of rank {ndim}")
    return int(axis) % ndim


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy, averaged over ``axis``.

    With ``from_logits`` it uses the stable fused ``sigmoid_cross_entropy_with_logits``;
    otherwise probabilities are clipped to ``[epsilon, 1 - epsilon]``. Label smoothing
    moves targets toward 0.5: ``y * (1 - s) + 0.5 * s``.
    """
    name = "binary_crossentropy"
    label_smoothing = _check_smoothing(name, label_smoothing)
    y_true, y_pred = _elementwise_inputs(name, y_true, y_pred)
    axis = _check_axis(name, axis, max(y_pred.ndim, 1)) if y_pred.ndim else None
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_true = broadcast_like(y_true, y_pred)
        losses = ops.sigmoid_cross_entropy_with_logits(y_true, y_pred)
    else:
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        losses = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return ops.mean(losses, axis=axis)


def categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, label_smoothing=0.0, axis=-1
):
    """Cross-entropy between one-hot (or soft) targets and predictions along ``axis``.

    With ``from_logits`` it uses the fused ``softmax_cross_entropy_with_logits``; otherwise
    the predictions are normalized to sum to 1 and clipped to ``[epsilon, 1 - epsilon]``.
    Label smoothing: ``y * (1 - s) + s / num_classes``.
    """
    name = "categorical_crossentropy"
    label_smoothing = _check_smoothing(name, label_smoothing)
    y_true, y_pred = _prepare(y_true, y_pred)
    if y_true.ndim != y_pred.ndim or not _compatible(tuple(y_true.shape), tuple(y_pred.shape)):
        raise ShapeError(
            f"y_true and y_pred must have the same shape, received y_true.shape="
            f"{_fmt(y_true.shape)}, y_pred.shape={_fmt(y_pred.shape)}",
            op=name,
        )
    axis = _check_axis(name, axis, y_pred.ndim)
    if y_pred.shape[axis] == 1:
        warnings.warn(
            f"categorical_crossentropy expects y_pred of shape (batch_size, num_classes) with "
            f"num_classes > 1, received y_pred.shape={_fmt(y_pred.shape)}; use "
            "binary_crossentropy for one output",
            stacklevel=2,
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    if from_logits:
        y_true = broadcast_like(y_true, y_pred)
        return ops.softmax_cross_entropy_with_logits(y_true, y_pred, axis=axis)
    p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    return -ops.sum(y_true * ops.log(p), axis=axis)


def _sparse_labels(name: str, y_true, y_pred):
    """Integer labels shaped like ``y_pred`` without its class axis (the last)."""
    y_true = _tensor(y_true)
    if y_true.ndim == y_pred.ndim and y_true.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ShapeError(
            f"y_true must have the shape of y_pred without its last (class) axis, received "
            f"y_true.shape={_fmt(y_true.shape)}, y_pred.shape={_fmt(y_pred.shape)}",
            op=name,
        )
    if _dtypes.is_bool(y_true.dtype) or not (
        _dtypes.is_integer(y_true.dtype) or _dtypes.is_floating(y_true.dtype)
    ):
        raise DTypeError(f"y_true has dtype {y_true.dtype}, expected integer labels", op=name)
    if y_true.dtype != _dtypes.int64:
        y_true = ops.cast(y_true, dtype=_dtypes.int64)
    return y_true


def sparse_categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, ignore_class=None, axis=-1
):
    """Cross-entropy between integer class labels and predictions along ``axis``.

    With ``from_logits`` it uses the fused ``sparse_softmax_cross_entropy_with_logits``.
    Labels equal to ``ignore_class`` give a zero loss and are masked out of the reduction.
    """
    name = "sparse_categorical_crossentropy"
    y_pred = _floating(y_pred)
    if y_pred.ndim < 1:
        raise ShapeError(f"y_pred must have rank >= 1, received {_fmt(y_pred.shape)}", op=name)
    axis = _check_axis(name, axis, y_pred.ndim)
    if axis != y_pred.ndim - 1:
        y_pred = ops.moveaxis(y_pred, source=axis, destination=-1)
    labels = _sparse_labels(name, y_true, y_pred)
    valid = None
    if ignore_class is not None:
        valid = ops.not_equal(labels, int(ignore_class))
        labels = ops.where(valid, labels, 0)
    if from_logits:
        losses = ops.sparse_softmax_cross_entropy_with_logits(labels, y_pred)
    else:
        p = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
        log_p = ops.log(ops.clip(p, EPSILON, 1.0 - EPSILON))
        picked = ops.take_along_axis(log_p, ops.expand_dims(labels, axis=-1), axis=-1)
        losses = -ops.squeeze(picked, axis=-1)
    if valid is not None:
        losses = ops.where(valid, losses, 0.0)
        masking.attach(losses, valid)
    return losses


class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence (:func:`kl_divergence`)."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """Poisson loss (:func:`poisson`)."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy (:func:`binary_crossentropy`).

    >>> from rillet import losses
    >>> round(float(losses.BinaryCrossentropy(from_logits=True)([[1.0]], [[0.0]])), 6)
    0.693147
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=bool(from_logits),
            label_smoothing=_check_smoothing("BinaryCrossentropy", label_smoothing),
            axis=axis,
        )
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis


class CategoricalCrossentropy(LossFunctionWrapper):
    """Categorical cross-entropy with one-hot targets (:func:`categorical_crossentropy`).

    >>> from rillet import losses
    >>> loss = losses.CategoricalCrossentropy(from_logits=True)
    >>> round(float(loss([[0.0, 1.0]], [[0.0, 0.0]])), 6)
    0.693147
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=bool(from_logits),
            label_smoothing=_check_smoothing("CategoricalCrossentropy", label_smoothing),
            axis=axis,
        )
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Categorical cross-entropy with integer targets (:func:`sparse_categorical_crossentropy`).

    >>> from rillet import losses
    >>> loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> round(float(loss([1], [[0.0, 0.0]])), 6)
    0.693147
    """

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        if ignore_class is not None and not isinstance(ignore_class, (int, np.integer)):
            raise ArgumentError(
                f"SparseCategoricalCrossentropy: received ignore_class={ignore_class!r}, "
                "expected None or an int"
            )
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=bool(from_logits),
            ignore_class=ignore_class,
        )
        self.from_logits = bool(from_logits)
        self.ignore_class = ignore_class


kld = KLD = kl_divergence
bce = BCE = binary_crossentropy
