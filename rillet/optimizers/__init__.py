"""Optimizers (``keras.optimizers``): SGD, Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad,
Adadelta and Lion, learning-rate schedules, and ``get``/``serialize``/``deserialize``.

>>> from rillet import optimizers
>>> optimizers.get("adam").name, optimizers.get("SGD").learning_rate.numpy().item()
('adam', 0.009999999776482582)
"""

from __future__ import annotations

from ..errors import ArgumentError, ArgumentTypeError
from . import schedules
from .adam import Adam, Adamax, AdamW, Nadam
from .optimizer import Optimizer, clip_by_global_norm, clip_by_norm, global_norm
from .rmsprop import Adadelta, Adagrad, RMSprop
from .sgd import SGD, Lion

_CLASSES = (SGD, Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Adadelta, Lion)
_BY_NAME = {cls.__name__: cls for cls in _CLASSES} | {cls.__name__.lower(): cls for cls in _CLASSES}


def serialize(optimizer: Optimizer) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` as Keras writes it."""
    if not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(
            f"optimizers.serialize: expected an Optimizer, got {type(optimizer).__name__}"
        )
    return {
        "module": "rillet.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """The optimizer described by ``config`` (from :func:`serialize`)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ArgumentError(f"optimizers.deserialize: received config={config!r}")
    name = config["class_name"]
    classes = {**_BY_NAME, **(custom_objects or {})}
    cls = classes.get(name) or classes.get(str(name).lower())
    if cls is None:
        raise ArgumentError(
            f"optimizers: unknown optimizer {name!r}; expected one of "
            f"{', '.join(sorted(c.__name__.lower() for c in _CLASSES))}"
        )
    return cls.from_config(config.get("config") or {})


def get(identifier) -> Optimizer | None:
    """An optimizer from a name ("adam", "SGD", ...), a config dict, or an instance.

    >>> from rillet import optimizers
    >>> optimizers.get("rmsprop")
    <RMSprop name=rmsprop, built=False>
    """
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    raise ArgumentTypeError(f"optimizers: could not interpret optimizer identifier: {identifier!r}")


__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Lion",
    "schedules",
    "get",
    "serialize",
    "deserialize",
    "clip_by_norm",
    "clip_by_global_norm",
    "global_norm",
]
