"""Losses (``keras.losses``): per-sample loss functions and ``Loss`` objects that weight and
reduce them.

A function such as :func:`mean_squared_error` returns one value per sample (the last axis
reduced); a class such as :class:`MeanSquaredError` applies ``sample_weight``, the mask of
``y_pred`` if it has one, and its ``reduction`` ("sum_over_batch_size" by default, "sum",
"mean_with_sample_weight" or "none"). Everything is written with rillet ops, so losses
trace into compiled training steps.

>>> import rillet as rl
>>> from rillet import losses
>>> loss = losses.MeanSquaredError()
>>> float(loss([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]))
0.5
>>> losses.mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]]).numpy().tolist()
[0.5]
"""

from __future__ import annotations

from ..errors import ArgumentError, ArgumentTypeError
from .hinge import CategoricalHinge, Hinge, SquaredHinge, categorical_hinge, hinge, squared_hinge
from .loss import (
    REDUCTIONS,
    Loss,
    LossFunctionWrapper,
    apply_mask,
    divide_no_nan,
    reduce_values,
    reduce_weighted_values,
    squeeze_or_expand_to_same_rank,
)
from .probabilistic import (
    BCE,
    KLD,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
    bce,
    binary_crossentropy,
    categorical_crossentropy,
    kl_divergence,
    kld,
    poisson,
    sparse_categorical_crossentropy,
)
from .regression import (
    MAE,
    MAPE,
    MSE,
    MSLE,
    CosineSimilarity,
    Huber,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    cosine_similarity,
    huber,
    log_cosh,
    logcosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
)

_CLASSES = (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, Huber, LogCosh, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence, Poisson, CosineSimilarity, Hinge,
    SquaredHinge, CategoricalHinge, LossFunctionWrapper,
)  # fmt: skip
_FUNCTIONS = {
    fn.__name__: fn
    for fn in (
        mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
        mean_squared_logarithmic_error, huber, log_cosh, binary_crossentropy,
        categorical_crossentropy, sparse_categorical_crossentropy, kl_divergence, poisson,
        cosine_similarity, hinge, squared_hinge, categorical_hinge,
    )
}  # fmt: skip
ALL_OBJECTS = {
    **{cls.__name__: cls for cls in _CLASSES},
    **_FUNCTIONS,
    "mse": mse, "MSE": mse, "mae": mae, "MAE": mae, "mape": mape, "MAPE": mape,
    "msle": msle, "MSLE": msle, "kld": kld, "KLD": kld, "bce": bce, "BCE": bce,
    "logcosh": log_cosh, "huber_loss": huber,
}  # fmt: skip


def serialize(loss) -> dict | str:
    """A Keras-style config dict for a :class:`Loss`, or the name of a loss function."""
    if isinstance(loss, Loss):
        return {
            "module": "rillet.losses",
            "class_name": type(loss).__name__,
            "config": loss.get_config(),
            "registered_name": None,
        }
    name = getattr(loss, "__name__", None)
    if name in _FUNCTIONS and _FUNCTIONS[name] is loss:
        return name
    raise ArgumentTypeError(f"losses.serialize: cannot serialize {loss!r}")


def deserialize(config, custom_objects: dict | None = None):
    """The loss described by ``config`` (a dict from :func:`serialize`, or a name)."""
    objects = {**ALL_OBJECTS, **(custom_objects or {})}
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or config.get("class_name") not in objects:
        known = ", ".join(sorted(k for k in ALL_OBJECTS if not k[0].isupper()))
        raise ArgumentError(f"losses: unknown loss {config!r}; expected one of {known}")
    cls = objects[config["class_name"]]
    return cls.from_config(config.get("config") or {})


def get(identifier):
    """A loss from its Keras name ("mse", "categorical_crossentropy", "Huber", ...), a
    config dict, a callable or a :class:`Loss`. Names of classes give instances; names of
    functions give the function.

    >>> from rillet import losses
    >>> losses.get("mse") is losses.mean_squared_error
    True
    >>> losses.get("CategoricalCrossentropy").name
    'categorical_crossentropy'
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        obj = ALL_OBJECTS.get(identifier)
        if obj is None:
            known = ", ".join(sorted(k for k in ALL_OBJECTS if not k[0].isupper()))
            raise ArgumentError(
                f"losses: unknown loss {identifier!r}; expected a Loss, a callable or one of "
                f"{known}"
            )
        return obj() if isinstance(obj, type) else obj
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return identifier
    raise ArgumentTypeError(f"losses: could not interpret loss identifier: {identifier!r}")


__all__ = [
    "Loss", "LossFunctionWrapper",
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "Huber", "LogCosh", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "Poisson",
    "CosineSimilarity", "Hinge", "SquaredHinge", "CategoricalHinge",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "huber", "log_cosh", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "poisson",
    "cosine_similarity", "hinge", "squared_hinge", "categorical_hinge",
    "mse", "MSE", "mae", "MAE", "mape", "MAPE", "msle", "MSLE", "kld", "KLD", "bce", "BCE",
    "logcosh", "get", "serialize", "deserialize", "reduce_weighted_values",
]  # fmt: skip
