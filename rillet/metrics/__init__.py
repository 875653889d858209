"""Metrics (``keras.metrics``): stateful objects that accumulate over batches.

A metric keeps its state in non-trainable variables: ``update_state(y_true, y_pred,
sample_weight=None)`` adds a batch with ``variable.assign*`` (graph nodes inside a compiled
step), ``result()`` reads the value, ``reset_state()`` zeroes it.

>>> from rillet import metrics
>>> m = metrics.BinaryAccuracy()
>>> m.update_state([[1], [0]], [[0.9], [0.8]])
>>> float(m.result())
0.5
>>> m.update_state([[1]], [[0.7]])
>>> round(float(m.result()), 4)
0.6667
"""

from __future__ import annotations

import numpy as np

from .. import losses as _losses
from ..errors import ArgumentError, ArgumentTypeError
from .accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from .confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
    confusion_counts,
)
from .f_score import F1Score, FBetaScore
from .iou import MeanIoU
from .metric import Metric, _snake
from .reduction import Mean, MeanMetricWrapper, Sum, reduce_to_samplewise_values
from .regression import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
)

_CLASSES = (
    Mean, Sum, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
    SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, RootMeanSquaredError, CosineSimilarity, LogCoshError,
    KLDivergence, Poisson, Hinge, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, Precision, Recall, TruePositives, FalsePositives,
    TrueNegatives, FalseNegatives, AUC, FBetaScore, F1Score, MeanIoU,
)  # fmt: skip
_FUNCTIONS = (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy,
)  # fmt: skip
ALL_OBJECTS = {
    **{fn.__name__: fn for fn in _FUNCTIONS},
    **{cls.__name__: cls for cls in _CLASSES},
    **{_snake(cls.__name__): cls for cls in _CLASSES},
    "acc": Accuracy, "auc": AUC, "mean_io_u": MeanIoU,
    "mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError, "rmse": RootMeanSquaredError,
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "kld": KLDivergence,
    "KLD": KLDivergence, "logcosh": LogCoshError,
}  # fmt: skip


def serialize(metric: Metric) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` as Keras writes it."""
    if not isinstance(metric, Metric):
        raise ArgumentTypeError(f"metrics.serialize: expected a Metric, got {metric!r}")
    return {
        "module": "rillet.metrics",
        "class_name": type(metric).__name__,
        "config": metric.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> Metric:
    """The metric described by ``config`` (from :func:`serialize`)."""
    objects = {**ALL_OBJECTS, **(custom_objects or {})}
    if not isinstance(config, dict) or not isinstance(objects.get(config.get("class_name")), type):
        raise ArgumentError(f"metrics.deserialize: unknown metric config {config!r}")
    return objects[config["class_name"]].from_config(config.get("config") or {})


def get(identifier):
    """A metric from a Keras name ("accuracy", "acc", "mse", "mae", "auc", ...), a config
    dict, a class, a function or an instance. Names give fresh instances.

    >>> from rillet import metrics
    >>> metrics.get("mae").name
    'mean_absolute_error'
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    obj = identifier
    if isinstance(identifier, str):
        obj = ALL_OBJECTS.get(identifier)
        if obj is None:
            known = ", ".join(sorted(k for k in ALL_OBJECTS if not k[0].isupper()))
            raise ArgumentError(f"metrics: unknown metric {identifier!r}; expected one of {known}")
    if isinstance(obj, type):
        return obj()
    if callable(obj):
        return obj
    raise ArgumentTypeError(f"metrics: could not interpret metric identifier: {identifier!r}")


# -- what compile makes of a metric name ---------------------------------------------------

_LOSS_KINDS = {
    "binary": (_losses.BinaryCrossentropy, _losses.binary_crossentropy, "binary_crossentropy",
               "bce", "BCE", "BinaryCrossentropy"),
    "sparse": (_losses.SparseCategoricalCrossentropy, _losses.sparse_categorical_crossentropy,
               "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
    "categorical": (_losses.CategoricalCrossentropy, _losses.categorical_crossentropy,
                    "categorical_crossentropy", "CategoricalCrossentropy"),
}  # fmt: skip
_KIND_METRICS = {
    "accuracy": {
        "binary": BinaryAccuracy,
        "sparse": SparseCategoricalAccuracy,
        "categorical": CategoricalAccuracy,
    },
    "crossentropy": {
        "binary": BinaryCrossentropy,
        "sparse": SparseCategoricalCrossentropy,
        "categorical": CategoricalCrossentropy,
    },
}


def _kind_of_loss(loss) -> str | None:
    """ "binary", "sparse" or "categorical" for a cross-entropy loss (a name, a function, a
    loss object or a wrapper of the function), else None."""
    if type(loss) is _losses.LossFunctionWrapper:
        loss = loss.fn
    for kind, matches in _LOSS_KINDS.items():
        for match in matches:
            if isinstance(match, type) and isinstance(loss, match):
                return kind
            if (isinstance(match, str) and loss == match) or loss is match:
                return kind
    return None


def _shape_of(value) -> tuple:
    """A shape given as a tuple, or the shape of an array or tensor."""
    return value if isinstance(value, tuple) else tuple(np.shape(value))


def _kind_of_shapes(y_true, y_pred) -> str | None:
    if y_true is None or y_pred is None:
        return None
    true_shape, pred_shape = _shape_of(y_true), _shape_of(y_pred)
    if pred_shape and pred_shape[-1] == 1:
        return "binary"
    if len(true_shape) < len(pred_shape) or (true_shape and true_shape[-1] == 1):
        return "sparse"
    return "categorical"


def resolve(identifier, loss=None, y_true=None, y_pred=None) -> Metric:
    """The metric object ``compile(metrics=[identifier])`` uses, named after ``identifier``.

    "accuracy"/"acc" (and "crossentropy"/"ce") become the binary, sparse categorical or
    categorical variant: chosen by the loss when it is a cross-entropy, else by the shapes
    of ``y_true``/``y_pred`` as Keras 3 does (``y_pred`` with one column: binary; ``y_true``
    of lower rank or with one column: sparse), else plain :class:`Accuracy`. Functions are
    wrapped in :class:`MeanMetricWrapper`.

    >>> from rillet import metrics
    >>> m = metrics.resolve("accuracy", "sparse_categorical_crossentropy")
    >>> type(m).__name__, m.name
    ('SparseCategoricalAccuracy', 'accuracy')
    >>> type(metrics.resolve("acc", y_true=(8, 1), y_pred=(8, 1))).__name__
    'BinaryAccuracy'
    """
    if isinstance(identifier, Metric):
        return identifier
    family = None
    if isinstance(identifier, str):
        family = {
            "accuracy": "accuracy",
            "acc": "accuracy",
            "crossentropy": "crossentropy",
            "ce": "crossentropy",
        }.get(identifier.lower())
    if family is not None:
        kind = _kind_of_loss(loss) or _kind_of_shapes(y_true, y_pred)
        if kind is None and family == "accuracy":
            return Accuracy(name=identifier)
        return _KIND_METRICS[family][kind or "categorical"](name=identifier)
    metric = get(identifier)
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric, name=getattr(metric, "__name__", None))
    if isinstance(identifier, str):
        metric.name = identifier
    return metric


__all__ = [
    "Metric", "Mean", "Sum", "MeanMetricWrapper",
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "RootMeanSquaredError", "CosineSimilarity", "LogCoshError",
    "KLDivergence", "Poisson", "Hinge", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "Precision", "Recall", "TruePositives", "FalsePositives", "TrueNegatives",
    "FalseNegatives", "AUC", "FBetaScore", "F1Score", "MeanIoU",
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "get", "resolve", "serialize", "deserialize",
]  # fmt: skip
