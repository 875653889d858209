"""Metrics that reduce values: Sum, Mean, and the mean of a per-sample function."""

from __future__ import annotations

import numpy as np

from .. import losses as _losses
from .. import ops
from ..errors import ArgumentTypeError
from ..layers import masking
from ..losses import divide_no_nan, squeeze_or_expand_to_same_rank
from ..losses.loss import broadcast_like, size_of
from ..tensor import Tensor
from .metric import Metric, _tensor


def reduce_to_samplewise_values(values, sample_weight, dtype):
    """Weighted per-sample values (extra axes averaged) and the per-sample weights."""
    mask = masking.get(values)
    values = _tensor(values, dtype)
    if sample_weight is not None:
        sample_weight = _tensor(sample_weight, dtype)
        if mask is not None:
            sample_weight = _losses.apply_mask(sample_weight, mask, dtype, "sum")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim = sample_weight.ndim
        if values.ndim > weight_ndim:
            values = ops.mean(values, axis=tuple(range(weight_ndim, values.ndim)))
        sample_weight = broadcast_like(sample_weight, values)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = ops.mean(sample_weight, axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = ops.mean(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of the values seen.

    >>> from rillet import metrics
    >>> float(metrics.Sum()([1.0, 3.0, 5.0]))
    9.0
    """

    def __init__(self, name: str = "sum", dtype=None):
        super().__init__(dtype=dtype, name=name)
        self.total = self.add_variable((), name="total")

    def update_state(self, values, sample_weight=None) -> None:
        values, _ = reduce_to_samplewise_values(values, sample_weight, self.dtype)
        self.total.assign_add(ops.sum(values))

    def result(self):
        return self.total.value()


class Mean(Metric):
    """The (weighted) mean of the values seen: ``sum(w * x) / sum(w)``.

    >>> from rillet import metrics
    >>> float(metrics.Mean()([1.0, 3.0, 5.0, 7.0], sample_weight=[1, 1, 0, 0]))
    2.0
    """

    def __init__(self, name: str = "mean", dtype=None):
        super().__init__(dtype=dtype, name=name)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    def update_state(self, values, sample_weight=None) -> None:
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, self.dtype)
        self.total.assign_add(ops.sum(values))
        if sample_weight is not None:
            self.count.assign_add(ops.sum(sample_weight))
        else:
            count = size_of(values) if values.ndim >= 1 else 1  # unknown batch: a tensor
            if not isinstance(count, Tensor):
                count = np.asarray(count, self.dtype)
            self.count.assign_add(count)

    def result(self):
        return divide_no_nan(self.total.value(), self.count.value())


class MeanMetricWrapper(Mean):
    """The mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    >>> from rillet import metrics, losses
    >>> m = metrics.MeanMetricWrapper(losses.mean_absolute_error, name="mae")
    >>> float(m([[1.0], [2.0]], [[0.0], [0.0]]))
    1.5
    """

    def __init__(self, fn, name: str | None = None, dtype=None, **kwargs):
        if not callable(fn):
            raise ArgumentTypeError(f"MeanMetricWrapper: received fn={fn!r}, expected a callable")
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        mask = masking.get(y_pred)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        if sample_weight is not None and mask is not None:
            sample_weight = _losses.apply_mask(sample_weight, mask, self.dtype, "sum")
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is MeanMetricWrapper:
            config["fn"] = getattr(self._fn, "__name__", repr(self._fn))
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if cls is MeanMetricWrapper:
            from . import ALL_OBJECTS

            fn = config.pop("fn")
            config["fn"] = ALL_OBJECTS.get(fn, fn) if isinstance(fn, str) else fn
        return cls(**config)
