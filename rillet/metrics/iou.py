"""Intersection over union: MeanIoU."""

from __future__ import annotations

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ArgumentError, ShapeError
from ..losses.loss import broadcast_like
from .metric import EPSILON, Metric, _tensor


class MeanIoU(Metric):
    """Mean intersection-over-union over the classes, from an accumulated confusion matrix
    (rows: true class, columns: predicted class). Classes never seen are left out.

    >>> from rillet import metrics
    >>> m = metrics.MeanIoU(num_classes=2)
    >>> round(float(m([0, 0, 1, 1], [0, 1, 0, 1])), 4)   # IoU 1/3 for both classes
    0.3333
    """

    def __init__(
        self,
        num_classes,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(dtype=dtype, name=name)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ArgumentError(
                f"MeanIoU: received num_classes={num_classes!r}, expected a positive integer"
            )
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true, self.sparse_y_pred = bool(sparse_y_true), bool(sparse_y_pred)
        self.axis = axis
        self.total_cm = self.add_variable((num_classes, num_classes), name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _tensor(y_true), _tensor(y_pred)
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, axis=self.axis)
        y_true = ops.reshape(ops.cast(y_true, dtype=_dtypes.int64), shape=(-1,))
        y_pred = ops.reshape(ops.cast(y_pred, dtype=_dtypes.int64), shape=(-1,))
        if tuple(y_true.shape) != tuple(y_pred.shape):
            raise ShapeError(
                f"y_true and y_pred hold {y_true.shape[0]} and {y_pred.shape[0]} labels",
                op="MeanIoU",
            )
        weight = ops.ones_like(y_true, dtype=self.dtype)
        if sample_weight is not None:
            flat = ops.reshape(_tensor(sample_weight, self.dtype), shape=(-1,))
            weight = broadcast_like(flat, weight)
        if self.ignore_class is not None:
            valid = ops.not_equal(y_true, self.ignore_class)
            weight = weight * ops.cast(valid, dtype=self.dtype)
            y_true = ops.where(valid, y_true, 0)
        true_hot = ops.one_hot(y_true, depth=self.num_classes, dtype=self.dtype)
        pred_hot = ops.one_hot(y_pred, depth=self.num_classes, dtype=self.dtype)
        # cm[i, j] = sum of the weights of samples of true class i predicted as j.
        weighted = true_hot * ops.expand_dims(weight, axis=-1)
        self.total_cm.assign_add(ops.matmul(ops.matrix_transpose(weighted), pred_hot))

    def result(self):
        cm = self.total_cm.value()
        true_positives = ops.diagonal(cm)
        denominator = ops.sum(cm, axis=0) + ops.sum(cm, axis=1) - true_positives
        valid = ops.sum(ops.cast(denominator > 1e-9, dtype=self.dtype))
        iou = true_positives / (denominator + EPSILON)
        return ops.sum(iou) / (valid + EPSILON)

    def get_config(self) -> dict:
        config = {
            "num_classes": self.num_classes,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }
        return {**config, **super().get_config()}
