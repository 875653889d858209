"""Weight constraints, with the names, arguments and defaults of Keras 3.

A constraint maps a weight to its projection onto the allowed set; optimizers apply
``variable.constraint`` right after each update.

>>> import rillet as rl
>>> from rillet import constraints
>>> constraints.NonNeg()(rl.asarray([-1.0, 2.0])).tolist()
[0.0, 2.0]
>>> w = constraints.get("unit_norm")(rl.asarray([[3.0], [4.0]]))
>>> [round(v, 4) for v in w.numpy().ravel().tolist()]
[0.6, 0.8]
"""

from __future__ import annotations

from . import _objects
from .errors import ArgumentError
from .ops.elementwise import clip, sqrt, square, where
from .ops.reduction import sum

__all__ = [
    "Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm", "min_max_norm",
    "non_neg", "unit_norm", "get", "serialize", "deserialize",
]  # fmt: skip

EPSILON = 1e-7  # Keras's backend.epsilon(): keeps zero columns finite


def _norms(w, axis):
    return sqrt(sum(square(w), axis=axis, keepdims=True))


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


class Constraint:
    """Base class: subclasses implement ``__call__(w)`` returning the projected weight."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Rescales each slice along ``axis`` whose L2 norm exceeds ``max_value`` down to it.

    ``axis=0`` constrains each column of a Dense kernel ``(in, out)``: each unit's incoming
    weights; use ``axis=[0, 1, 2]`` for a Conv2D kernel ``(h, w, in, out)``.
    """

    def __init__(self, max_value=2, axis=0):
        if not max_value >= 0:
            raise ArgumentError(f"MaxNorm: received max_value={max_value!r}, expected >= 0")
        self.max_value, self.axis = max_value, _axis(axis)

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = clip(norms, 0.0, float(self.max_value))
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each slice's L2 norm into ``[min_value, max_value]``, at the fraction ``rate``
    of the way (``rate=1``: exactly into the interval)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        if not 0 <= min_value <= max_value:
            raise ArgumentError(
                f"MinMaxNorm: received min_value={min_value!r}, max_value={max_value!r}, "
                "expected 0 <= min_value <= max_value"
            )
        if not 0 <= rate <= 1:
            raise ArgumentError(f"MinMaxNorm: received rate={rate!r}, expected in [0, 1]")
        self.min_value, self.max_value = min_value, max_value
        self.rate, self.axis = rate, _axis(axis)

    def __call__(self, w):
        norms = _norms(w, self.axis)
        clipped = clip(norms, float(self.min_value), float(self.max_value))
        desired = self.rate * clipped + (1.0 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    def __call__(self, w):
        return where(w >= 0.0, w, 0.0)


class UnitNorm(Constraint):
    """Scales each slice along ``axis`` to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = _axis(axis)

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}


# Keras 3's lower-case aliases of the classes.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

_NAMES = _objects.table((Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm))


def serialize(constraint) -> dict | None:
    """The Keras 3 config dict ``{"module", "class_name", "config", "registered_name"}``."""
    return _objects.serialize(constraint, "rillet.constraints")


def deserialize(config, custom_objects=None) -> Constraint:
    """A constraint from a name or a ``{"class_name", "config"}`` dict."""
    return _objects.deserialize(config, _NAMES, "constraints", custom_objects)


def get(identifier):
    """A constraint from None (None), a name (``"non_neg"``), a config dict, a class, an
    instance or a callable ``fn(weight) -> weight``."""
    return _objects.get(identifier, _NAMES, "constraints", Constraint)
