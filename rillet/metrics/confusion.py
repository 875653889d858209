"""Confusion-matrix metrics: Precision, Recall, the four counts, and AUC."""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ArgumentError, ShapeError
from ..losses import divide_no_nan, squeeze_or_expand_to_same_rank
from ..losses.loss import broadcast_like, expand_to_rank
from ..tensor import Tensor
from .accuracy import _check_k
from .metric import EPSILON, NEG_INF, Metric, _check_shapes, _tensor


def _thresholds(owner: str, thresholds, default: float) -> list[float]:
    if thresholds is None:
        return [default]
    values = [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)
    for t in values:
        if not isinstance(t, (int, float, np.floating)) or not 0 <= t <= 1:
            raise ArgumentError(
                f"{owner}: received thresholds={thresholds!r}, expected values in [0, 1]"
            )
    return [float(t) for t in values]


def _filter_top_k(x, k: int):
    """``x`` with every entry outside the ``k`` largest of its last axis set to -1e10."""
    _, indices = ops.top_k(x, k=k)
    keep = ops.sum(ops.one_hot(indices, depth=x.shape[-1], dtype=x.dtype), axis=-2)
    return x * keep + NEG_INF * (1.0 - keep)


def _broadcast_weight(sample_weight, like, dtype):
    """``sample_weight`` broadcast to the shape of ``like`` (trailing axes added)."""
    if sample_weight is None:
        return ops.ones_like(like, dtype=dtype)
    weight = _tensor(sample_weight, dtype)
    like, weight = squeeze_or_expand_to_same_rank(like, weight)
    if weight.ndim < like.ndim:
        weight = expand_to_rank(weight, like.ndim)
    return broadcast_like(weight, like)


def confusion_counts(
    y_true,
    y_pred,
    thresholds,
    sample_weight=None,
    *,
    dtype=_dtypes.float32,
    top_k=None,
    class_id=None,
    soft_labels=False,
    multi_label=False,
    label_weights=None,
    owner="metric",
):
    """Weighted true/false positives/negatives of ``y_pred > t`` for each threshold ``t``.

    Returns ``(tp, fp, tn, fn)`` of shape ``(T,)``, or ``(T, num_labels)`` with
    ``multi_label``. Labels count as positive when nonzero, or with ``soft_labels`` as the
    fraction ``y_true`` (Keras's evenly-spaced-thresholds path, used by AUC).
    """
    y_pred, y_true = _tensor(y_pred, dtype), _tensor(y_true, dtype)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        _check_shapes(owner, y_true, y_pred)
        y_true = broadcast_like(y_true, y_pred)
    weight = _broadcast_weight(sample_weight, y_pred, dtype)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        y_true, y_pred, weight = y_true[..., class_id], y_pred[..., class_id], weight[..., class_id]
    if label_weights is not None and not multi_label:
        weight = weight * _tensor(label_weights, dtype)
    labels = y_true if soft_labels else ops.cast(ops.not_equal(y_true, 0), dtype=dtype)
    if multi_label:
        y_pred, labels, weight = (
            ops.reshape(t, shape=(-1, t.shape[-1])) for t in (y_pred, labels, weight)
        )
    else:
        y_pred, labels, weight = (ops.reshape(t, shape=(-1,)) for t in (y_pred, labels, weight))
    cut = Tensor._wrap(np.asarray(thresholds, dtype).reshape((-1,) + (1,) * y_pred.ndim))
    predicted = ops.cast(ops.expand_dims(y_pred, axis=0) > cut, dtype=dtype)
    # Weights of positive and negative labels side by side: one matrix product then sums
    # each threshold's hits (predicted) and misses (not predicted) for both at once.
    pair = ops.stack([labels * weight, (1.0 - labels) * weight], axis=-1)
    if multi_label:
        hits = ops.einsum("tnl,nlk->tlk", predicted, pair)
        misses = ops.einsum("tnl,nlk->tlk", 1.0 - predicted, pair)
    else:
        hits, misses = ops.matmul(predicted, pair), ops.matmul(1.0 - predicted, pair)
    return hits[..., 0], hits[..., 1], misses[..., 1], misses[..., 0]


class _ConfusionMetric(Metric):
    """Counts of a confusion matrix at one or more thresholds."""

    _counts: tuple[str, ...] = ()

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(dtype=dtype, name=name)
        owner = type(self).__name__
        if top_k is not None:
            top_k = _check_k(owner, top_k)
        self.init_thresholds = thresholds
        self.thresholds = _thresholds(owner, thresholds, 0.5 if top_k is None else NEG_INF)
        self.top_k = top_k
        self.class_id = class_id
        size = (len(self.thresholds),)
        for count in self._counts:
            setattr(self, count, self.add_variable(size, name=count))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        counts = confusion_counts(
            y_true,
            y_pred,
            self.thresholds,
            sample_weight,
            dtype=self.dtype,
            top_k=self.top_k,
            class_id=self.class_id,
            owner=type(self).__name__,
        )
        names = ("true_positives", "false_positives", "true_negatives", "false_negatives")
        for name, value in zip(names, counts):
            if name in self._counts:
                getattr(self, name).assign_add(value)

    def _single(self, value):
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self) -> dict:
        return {"thresholds": self.init_thresholds, **super().get_config()}


class _RateMetric(_ConfusionMetric):
    """A ratio of counts, with ``top_k`` and ``class_id``."""

    def get_config(self) -> dict:
        return {**super().get_config(), "top_k": self.top_k, "class_id": self.class_id}


class Precision(_RateMetric):
    """``tp / (tp + fp)`` of ``y_pred > threshold`` (one value per threshold).

    ``top_k`` counts only the ``k`` highest predictions of each sample as positive;
    ``class_id`` restricts the metric to one class of the last axis.

    >>> from rillet import metrics
    >>> float(metrics.Precision()([0, 1, 1, 1], [1, 0, 1, 1]))
    0.6666666865348816
    """

    _counts = ("true_positives", "false_positives")

    def result(self):
        tp, fp = self.true_positives.value(), self.false_positives.value()
        return self._single(divide_no_nan(tp, tp + fp))


class Recall(_RateMetric):
    """``tp / (tp + fn)`` of ``y_pred > threshold`` (one value per threshold).

    >>> from rillet import metrics
    >>> float(metrics.Recall()([0, 1, 1, 1], [1, 0, 1, 1]))
    0.6666666865348816
    """

    _counts = ("true_positives", "false_negatives")

    def result(self):
        tp, fn = self.true_positives.value(), self.false_negatives.value()
        return self._single(divide_no_nan(tp, tp + fn))


class _Count(_ConfusionMetric):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def result(self):
        return self._single(getattr(self, self._counts[0]).value())


class TruePositives(_Count):
    """The weighted number of true positives (at each threshold)."""

    _counts = ("true_positives",)


class FalsePositives(_Count):
    """The weighted number of false positives (at each threshold)."""

    _counts = ("false_positives",)


class TrueNegatives(_Count):
    """The weighted number of true negatives (at each threshold)."""

    _counts = ("true_negatives",)


class FalseNegatives(_Count):
    """The weighted number of false negatives (at each threshold)."""

    _counts = ("false_negatives",)


_CURVES = {"roc": "ROC", "pr": "PR"}
_SUMMATIONS = ("interpolation", "minoring", "majoring")


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts at
    ``num_thresholds`` thresholds evenly spaced on [0, 1] (Keras 3's ``AUC``).

    ``from_logits`` applies a sigmoid to ``y_pred`` first; ``multi_label`` keeps one curve
    per label (averaged, or weighted by ``label_weights``).

    >>> from rillet import metrics
    >>> m = metrics.AUC()
    >>> round(float(m([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])), 3)
    0.75
    """

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        super().__init__(dtype=dtype, name=name)
        self.curve = self._check_curve(curve)
        if str(summation_method).lower() not in _SUMMATIONS:
            raise ArgumentError(
                f"AUC: received summation_method={summation_method!r}, expected one of "
                f"{', '.join(_SUMMATIONS)}"
            )
        self.summation_method = str(summation_method).lower()
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_thresholds("AUC", thresholds, 0.5))
            num_thresholds = len(inner) + 2
        else:
            if (
                isinstance(num_thresholds, bool)
                or not isinstance(num_thresholds, int)
                or (num_thresholds <= 1)
            ):
                raise ArgumentError(
                    f"AUC: received num_thresholds={num_thresholds!r}, expected an integer > 1"
                )
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.num_thresholds = num_thresholds
        self.thresholds = [0.0 - EPSILON] + inner + [1.0 + EPSILON]
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else list(label_weights)
        self._from_logits = bool(from_logits)
        self._built = False
        if not self.multi_label or num_labels is not None:
            self._build(num_labels)

    @staticmethod
    def _check_curve(curve) -> str:
        key = str(curve).lower()
        if key not in _CURVES:
            raise ArgumentError(f"AUC: received curve={curve!r}, expected 'ROC' or 'PR'")
        return _CURVES[key]

    def _build(self, num_labels) -> None:
        shape = (
            (self.num_thresholds,) if not self.multi_label else (self.num_thresholds, num_labels)
        )
        self.num_labels = num_labels
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = _tensor(y_pred, self.dtype)
        if self.multi_label and y_pred.ndim != 2:
            raise ShapeError(
                f"multi_label=True expects y_pred of shape (batch, num_labels), received "
                f"{tuple(y_pred.shape)}",
                op="AUC",
            )
        if not self._built:
            self._build(y_pred.shape[-1])
        if self._from_logits:
            y_pred = ops.sigmoid(y_pred)
        counts = confusion_counts(
            y_true,
            y_pred,
            self.thresholds,
            sample_weight,
            dtype=self.dtype,
            soft_labels=True,
            multi_label=self.multi_label,
            label_weights=self.label_weights,
            owner="AUC",
        )
        for variable, value in zip(self._counts(), counts):
            variable.assign_add(value)

    def _counts(self) -> tuple:
        return (
            self.true_positives,
            self.false_positives,
            self.true_negatives,
            self.false_negatives,
        )

    def _by_label(self, areas):
        if not self.multi_label:
            return ops.sum(areas)
        by_label = ops.sum(areas, axis=0)
        if self.label_weights is None:
            return ops.mean(by_label)
        weights = _tensor(self.label_weights, self.dtype)
        return divide_no_nan(ops.sum(by_label * weights), ops.sum(weights))

    def _interpolate_pr_auc(self):
        # Davis and Goadrich (2006): precision interpolated along each segment.
        tp, fp, _, fn = (v.value() for v in self._counts())
        d_tp = tp[:-1] - tp[1:]
        p = tp + fp
        d_p = p[:-1] - p[1:]
        slope = divide_no_nan(d_tp, ops.maximum(d_p, 0.0))
        intercept = tp[1:] - slope * p[1:]
        both = ops.logical_and(p[:-1] > 0, p[1:] > 0)
        ratio = ops.where(both, divide_no_nan(p[:-1], ops.maximum(p[1:], 0.0)), 1.0)
        increment = divide_no_nan(
            slope * (d_tp + intercept * ops.log(ratio)), ops.maximum(tp[1:] + fn[1:], 0.0)
        )
        return self._by_label(increment)

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = (v.value() for v in self._counts())
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = ops.minimum(y[:-1], y[1:])
        else:
            heights = ops.maximum(y[:-1], y[1:])
        return self._by_label((x[:-1] - x[1:]) * heights)

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def get_config(self) -> dict:
        config = {
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return {**config, **super().get_config()}
