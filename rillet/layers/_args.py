"""Argument checks shared by the layer modules, and activity regularization (a penalty on a
layer's outputs, replaced at each call)."""

from __future__ import annotations

import operator

from .. import ops, regularizers
from ..errors import ArgumentError, ArgumentTypeError, ShapeError


def positive_int(who: str, name: str, value) -> int:
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number <= 0:
        raise ArgumentError(f"{who}: received {name}={value!r}, expected a positive integer")
    return number


def rate_arg(who: str, rate) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ArgumentError(f"{who}: received rate={rate!r}, expected a float in [0, 1]")
    return float(rate)


def seed_arg(who: str, seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ArgumentTypeError(f"{who}: received seed={seed!r}, expected an int or None")
    return seed


def data_format_arg(who: str, data_format) -> str:
    data_format = "channels_last" if data_format is None else str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ArgumentError(
            f"{who}: received data_format={data_format!r}, "
            "expected 'channels_last' or 'channels_first'"
        )
    return data_format


def autocast(x, dtype):
    """``x`` in the layer's dtype (Keras casts a layer's inputs to its compute dtype)."""
    return x if x.dtype == dtype else ops.cast(x, dtype=dtype)


def set_activity_regularizer(layer, regularizer) -> None:
    layer.activity_regularizer = regularizers.get(regularizer)
    layer._activity_loss = None


def record_activity_loss(layer, outputs) -> None:
    """Replace the layer's activity penalty with the one of ``outputs`` (the latest call)."""
    if layer.activity_regularizer is None:
        return
    previous = layer._activity_loss
    layer._losses = [loss for loss in layer._losses if loss is not previous]
    layer._activity_loss = layer.activity_regularizer(outputs)
    layer._losses.append(layer._activity_loss)


def check_rank(who: str, shape, rank: int | None = None, min_rank: int | None = None) -> None:
    if rank is not None and len(shape) != rank:
        raise ShapeError(f"{who}: expected an input of rank {rank}, got shape {tuple(shape)}")
    if min_rank is not None and len(shape) < min_rank:
        raise ShapeError(f"{who}: expected an input of rank >= {min_rank}, got shape {shape}")
