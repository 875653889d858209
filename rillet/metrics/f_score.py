"""F-scores: FBetaScore and F1Score."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor
from .metric import EPSILON, Metric, _check_shapes, _tensor

_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """The F-beta score ``(1 + b**2) * P * R / (b**2 * P + R)`` per class, or averaged
    (``average``: None, "micro", "macro" or "weighted"). ``y_true``/``y_pred`` are
    (batch, classes); predictions above ``threshold`` count as positive, or the maximum of
    each row when ``threshold`` is None.
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(dtype=dtype, name=name)
        owner = type(self).__name__
        if average not in _AVERAGES:
            raise ArgumentError(
                f"{owner}: received average={average!r}, expected one of None, 'micro', "
                "'macro', 'weighted'"
            )
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0:
            raise ArgumentError(f"{owner}: received beta={beta!r}, expected a number > 0")
        if threshold is not None and (
            not isinstance(threshold, (int, float)) or not 0 < threshold <= 1
        ):
            raise ArgumentError(
                f"{owner}: received threshold={threshold!r}, expected None or a value in (0, 1]"
            )
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true, y_pred) -> None:
        if y_pred.ndim != 2 or y_true.ndim != 2:
            raise ShapeError(
                f"expects 2D inputs of shape (batch_size, num_classes), received "
                f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}",
                op=type(self).__name__,
            )
        shape = () if self.average == "micro" else (y_pred.shape[-1],)
        for name in (
            "true_positives",
            "false_positives",
            "false_negatives",
            "intermediate_weights",
        ):
            setattr(self, name, self.add_variable(shape, name=name))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _tensor(y_true, self.dtype), _tensor(y_pred, self.dtype)
        if not self._built:
            self._build(y_true, y_pred)
        _check_shapes(type(self).__name__, y_true, y_pred)
        if self.threshold is None:
            top = ops.max(y_pred, axis=-1, keepdims=True)
            # Rows of zeros must not become rows of ones.
            y_pred = ops.logical_and(y_pred >= top, ops.abs(y_pred) > 1e-9)
        else:
            y_pred = y_pred > self.threshold
        y_pred = ops.cast(y_pred, dtype=self.dtype)

        def weighted_sum(value):
            if sample_weight is not None:
                weight = _tensor(sample_weight, self.dtype)
                value = value * ops.reshape(weight, shape=(-1, 1))
            return ops.sum(value, axis=self.axis)

        self.true_positives.assign_add(weighted_sum(y_pred * y_true))
        self.false_positives.assign_add(weighted_sum(y_pred * (1.0 - y_true)))
        self.false_negatives.assign_add(weighted_sum((1.0 - y_pred) * y_true))
        self.intermediate_weights.assign_add(weighted_sum(y_true))

    def result(self):
        if not self._built:
            return Tensor._wrap(np.zeros((), self.dtype))
        tp = self.true_positives.value()
        precision = tp / (tp + self.false_positives.value() + EPSILON)
        recall = tp / (tp + self.false_negatives.value() + EPSILON)
        b2 = self.beta**2
        score = (1.0 + b2) * (precision * recall) / (b2 * precision + recall + EPSILON)
        if self.average == "weighted":
            weights = self.intermediate_weights.value()
            return ops.sum(score * (weights / (ops.sum(weights) + EPSILON)))
        if self.average is not None:
            return ops.mean(score)
        return score

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def get_config(self) -> dict:
        config = {"average": self.average, "beta": self.beta, "threshold": self.threshold}
        return {**config, **super().get_config()}


class F1Score(FBetaScore):
    """The F1 score: :class:`FBetaScore` with ``beta=1``.

    >>> from rillet import metrics
    >>> m = metrics.F1Score(average="micro", threshold=0.5)
    >>> round(float(m([[1, 0], [0, 1]], [[0.9, 0.2], [0.6, 0.3]])), 4)
    0.5
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config
