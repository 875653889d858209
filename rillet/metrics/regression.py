"""Means of the regression and probabilistic loss functions, and the RMSE."""

from __future__ import annotations

from .. import losses as _losses
from .. import ops
from ..errors import ArgumentTypeError
from ..losses import loss as _loss
from .reduction import Mean, MeanMetricWrapper


def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine of the angle between ``y_true`` and ``y_pred`` along ``axis``."""
    return -_losses.cosine_similarity(y_true, y_pred, axis=axis)


def _wrapper(class_name: str, fn, default_name: str, arg_names=()):
    """A :class:`MeanMetricWrapper` subclass of ``fn`` with keyword arguments ``arg_names``
    (given as ``(name, default)`` pairs)."""

    def __init__(self, name: str = default_name, dtype=None, **kwargs):
        unknown = set(kwargs) - {a for a, _ in arg_names}
        if unknown:
            raise ArgumentTypeError(f"{class_name}: unexpected argument(s) {sorted(unknown)}")
        options = {a: kwargs.get(a, default) for a, default in arg_names}
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **options)

    doc = f"The mean of :func:`rillet.losses.{fn.__name__}` over the samples seen."
    cls = type(class_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc})
    cls.__module__ = __name__
    return cls


MeanSquaredError = _wrapper("MeanSquaredError", _losses.mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper(
    "MeanAbsoluteError", _losses.mean_absolute_error, "mean_absolute_error"
)
MeanAbsolutePercentageError = _wrapper(
    "MeanAbsolutePercentageError",
    _losses.mean_absolute_percentage_error,
    "mean_absolute_percentage_error",
)
MeanSquaredLogarithmicError = _wrapper(
    "MeanSquaredLogarithmicError",
    _losses.mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error",
)
CosineSimilarity = _wrapper(
    "CosineSimilarity", cosine_similarity, "cosine_similarity", [("axis", -1)]
)
LogCoshError = _wrapper("LogCoshError", _losses.log_cosh, "logcosh")
KLDivergence = _wrapper("KLDivergence", _losses.kl_divergence, "kl_divergence")
Poisson = _wrapper("Poisson", _losses.poisson, "poisson")
Hinge = _wrapper("Hinge", _losses.hinge, "hinge")
BinaryCrossentropy = _wrapper(
    "BinaryCrossentropy",
    _losses.binary_crossentropy,
    "binary_crossentropy",
    [("from_logits", False), ("label_smoothing", 0.0)],
)
CategoricalCrossentropy = _wrapper(
    "CategoricalCrossentropy",
    _losses.categorical_crossentropy,
    "categorical_crossentropy",
    [("from_logits", False), ("label_smoothing", 0.0), ("axis", -1)],
)
SparseCategoricalCrossentropy = _wrapper(
    "SparseCategoricalCrossentropy",
    _losses.sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy",
    [("from_logits", False), ("axis", -1)],
)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the (weighted) mean of squared errors.

    >>> from rillet import metrics
    >>> round(float(metrics.RootMeanSquaredError()([[0.0], [0.0]], [[3.0], [4.0]])), 4)
    3.5355
    """

    def __init__(self, name: str = "root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _loss._elementwise_inputs(self.name, y_true, y_pred)
        super().update_state(ops.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return ops.sqrt(super().result())
