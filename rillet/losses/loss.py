"""The loss base class, its reductions, and helpers shared by the loss functions.

A loss object applies ``sample_weight``, the mask of ``y_pred`` if it has one, and its
``reduction`` to the per-sample values its function returns.
"""

from __future__ import annotations

import math
import re

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..layers import masking
from ..tensor import Tensor, asarray

EPSILON = 1e-7  # Keras's backend.epsilon()
REDUCTIONS = ("sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none", None)

# -- helpers -------------------------------------------------------------------------------


def _tensor(value):
    """``value`` as a tensor (tensors pass through; variables are read, as a graph node
    while tracing)."""
    if isinstance(value, Tensor):
        return value
    if hasattr(value, "_rillet_read"):
        return value.value()
    return asarray(value)


def _floating(value):
    """``value`` as a floating tensor: integers and bools become float32."""
    value = _tensor(value)
    if not _dtypes.is_floating(value.dtype):
        value = ops.cast(value, dtype=_dtypes.float32)
    return value


def _prepare(y_true, y_pred):
    """``y_pred`` as a floating tensor and ``y_true`` cast to its dtype."""
    y_pred = _floating(y_pred)
    y_true = _tensor(y_true)
    if y_true.dtype != y_pred.dtype:
        y_true = ops.cast(y_true, dtype=y_pred.dtype)
    return y_true, y_pred


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1: bool = True):
    """Make ranks equal when they differ by a trailing axis of size 1 (as Keras does)."""
    r1, r2 = len(x1.shape), len(x2.shape)
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, axis=-1)
        else:
            x1 = ops.squeeze(x1, axis=-1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, axis=-1)
        else:
            x2 = ops.squeeze(x2, axis=-1)
    return x1, x2


def _fmt(shape) -> str:
    return str(tuple(shape))


def _static(shape) -> bool:
    return all(isinstance(s, int) for s in shape)


def size_of(t):
    """The number of elements of ``t``: an int when its shape is known, else a tensor (a
    traced tensor may have sizes that are only known when the graph runs)."""
    if _static(t.shape):
        return math.prod(t.shape)
    return ops.sum(ops.ones_like(t, dtype=_dtypes.float32))


def broadcast_like(x, like):
    """``x`` broadcast to the shape of ``like``, whose sizes may be unknown."""
    if tuple(x.shape) == tuple(like.shape):
        return x
    if _static(like.shape):
        return ops.broadcast_to(x, shape=tuple(like.shape))
    return x * ops.ones_like(like, dtype=x.dtype)


def expand_to_rank(x, ndim: int):
    """``x`` with trailing axes of size 1 added up to rank ``ndim``."""
    while x.ndim < ndim:
        x = ops.expand_dims(x, axis=-1)
    return x


def _compatible(a: tuple, b: tuple) -> bool:
    """Same rank, and each pair of sizes equal, 1 or unknown."""
    return len(a) == len(b) and all(
        x is None or y is None or x == y or x == 1 or y == 1 for x, y in zip(a, b)
    )


def _check_shapes(name: str, y_true, y_pred) -> None:
    if not _compatible(tuple(y_true.shape), tuple(y_pred.shape)):
        raise ShapeError(
            f"y_true and y_pred have incompatible shapes: y_true.shape={_fmt(y_true.shape)}, "
            f"y_pred.shape={_fmt(y_pred.shape)}",
            op=name,
        )


def _elementwise_inputs(name: str, y_true, y_pred):
    """Prepared ``y_true``, ``y_pred`` of matching rank and compatible shapes."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_shapes(name, y_true, y_pred)
    return y_true, y_pred


def divide_no_nan(x, y):
    """``x / y``, and 0 where ``y`` is 0."""
    zero = ops.equal(y, 0)
    return ops.where(zero, 0.0, x / ops.where(zero, 1.0, y))


def l2_normalize(x, axis=-1, epsilon: float = 1e-12):
    """``x`` divided by its L2 norm along ``axis`` (at least ``sqrt(epsilon)``)."""
    squares = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squares, epsilon))


# -- reduction -----------------------------------------------------------------------------


def _check_reduction(owner: str, reduction):
    if reduction not in REDUCTIONS:
        raise ArgumentError(
            f"{owner}: received reduction={reduction!r}, expected one of "
            f"{', '.join(repr(r) for r in REDUCTIONS)}"
        )
    return reduction


def apply_mask(sample_weight, mask, dtype, reduction):
    """Fold a boolean ``mask`` into ``sample_weight``. For mean reductions the kept entries
    are scaled by ``total / valid`` so the mean runs over the valid entries only."""
    if mask is None:
        return sample_weight
    mask = ops.cast(mask, dtype=dtype)
    if reduction in ("mean", "sum_over_batch_size"):
        mask = mask * (size_of(mask) / (ops.sum(mask) + EPSILON))
    if sample_weight is None:
        return mask
    mask, sample_weight = squeeze_or_expand_to_same_rank(mask, ops.cast(sample_weight, dtype=dtype))
    return sample_weight * mask


def _weigh(owner: str, values, sample_weight):
    """``values * sample_weight``, the weights squeezed, expanded or broadcast as needed."""
    sample_weight = ops.cast(_tensor(sample_weight), dtype=values.dtype)
    values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
    extra = values.ndim - sample_weight.ndim
    if extra > 0:  # per-sample weights for per-timestep losses: broadcast over the rest
        sample_weight = expand_to_rank(sample_weight, values.ndim)
    shape_v, shape_w = tuple(values.shape), tuple(sample_weight.shape)
    if extra < 0 or (shape_w != () and not _compatible(shape_v, shape_w)):
        raise ShapeError(
            f"sample_weight of shape {_fmt(shape_w)} does not fit the losses of shape "
            f"{_fmt(shape_v)}",
            op=owner,
        )
    return values * sample_weight, sample_weight


def reduce_values(values, sample_weight, reduction):
    """Apply ``reduction`` to (already weighted) per-sample ``values``."""
    if reduction in (None, "none") or values.ndim == 0:
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return divide_no_nan(total, ops.sum(broadcast_like(sample_weight, values)))
    count = size_of(values)
    if isinstance(count, int):
        return total / count if count else total
    return divide_no_nan(total, count)


def reduce_weighted_values(
    values, sample_weight=None, mask=None, reduction="sum_over_batch_size", owner="loss"
):
    """Weight ``values`` by ``sample_weight`` and ``mask``, then reduce them."""
    dtype = values.dtype
    sample_weight = apply_mask(sample_weight, mask, dtype, reduction)
    if sample_weight is not None:
        values, sample_weight = _weigh(owner, values, sample_weight)
    return reduce_values(values, sample_weight, reduction)


# -- loss objects --------------------------------------------------------------------------


class Loss:
    """Base class of the loss objects: ``loss(y_true, y_pred, sample_weight=None)``.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample losses.
    ``dtype``: the dtype the loss is computed in; by default that of ``y_pred``, with
    half-precision inputs computed in float32.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.reduction = _check_reduction(type(self).__name__, reduction)
        self.dtype = None if dtype is None else _dtypes.as_dtype(dtype)

    def _compute_dtype(self, y_pred):
        if self.dtype is not None:
            return self.dtype
        if y_pred.dtype in (_dtypes.float64, _dtypes.float32):
            return y_pred.dtype
        return _dtypes.float32

    def __call__(self, y_true, y_pred, sample_weight=None):
        in_mask = masking.get(y_pred)
        y_pred = _tensor(y_pred)
        dtype = self._compute_dtype(y_pred)
        if y_pred.dtype != dtype:
            y_pred = ops.cast(y_pred, dtype=dtype)
        values = self.call(_tensor(y_true), y_pred)
        out_mask = masking.get(values)
        mask = in_mask
        if in_mask is not None and out_mask is not None:
            mask = ops.logical_and(in_mask, out_mask)
        elif out_mask is not None:
            mask = out_mask
        if values.dtype != dtype:
            values = ops.cast(values, dtype=dtype)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction, self.name)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "reduction": self.reduction,
            "dtype": None if self.dtype is None else self.dtype.name,
        }

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, reduction={self.reduction}>"


class LossFunctionWrapper(Loss):
    """A :class:`Loss` from a per-sample loss function and its keyword arguments.

    >>> from rillet import losses
    >>> loss = losses.LossFunctionWrapper(losses.huber, delta=0.5, reduction="sum")
    >>> float(loss([[0.0]], [[2.0]]))
    0.875
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise ArgumentTypeError(f"LossFunctionWrapper: received fn={fn!r}, expected a callable")
        super().__init__(
            name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype
        )
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is LossFunctionWrapper:
            config["fn"] = getattr(self.fn, "__name__", repr(self.fn))
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if cls is LossFunctionWrapper:
            from . import ALL_OBJECTS

            fn = config.pop("fn")
            config["fn"] = ALL_OBJECTS.get(fn, fn) if isinstance(fn, str) else fn
            if not callable(config["fn"]):
                raise ArgumentError(f"LossFunctionWrapper: unknown loss function fn={fn!r}")
        return cls(**config)


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
