"""Weight regularizers, with the names, arguments and defaults of Keras 3.

A regularizer maps a weight to a scalar penalty; ``layer.losses`` holds the penalties of a
layer's regularized weights, and training adds them to the loss.

>>> import rillet as rl
>>> from rillet import regularizers
>>> float(regularizers.L2(0.5)(rl.asarray([1.0, -2.0])))
2.5
>>> regularizers.get({"class_name": "L1L2", "config": {"l1": 0.1}}).get_config()
{'l1': 0.1, 'l2': 0.0}
"""

from __future__ import annotations

import math

from . import _objects
from .errors import ArgumentError, ShapeError
from .ops.creation import eye
from .ops.elementwise import abs, maximum, rsqrt, square
from .ops.linalg import matmul, matrix_transpose
from .ops.reduction import sum

__all__ = [
    "Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
    "orthogonal_regularizer", "get", "serialize", "deserialize",
]  # fmt: skip


def _factor(who: str, name: str, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ArgumentError(f"{who}: received {name}={value!r}, expected a non-negative float")
    return float(value)


class Regularizer:
    """Base class: subclasses implement ``__call__(x)`` returning a scalar."""

    def __call__(self, x):
        return 0.0

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """``l1 * sum(|x|)``."""

    def __init__(self, l1=0.01):
        self.l1 = _factor("L1", "l1", 0.01 if l1 is None else l1)

    def __call__(self, x):
        return self.l1 * sum(abs(x))

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x ** 2)``."""

    def __init__(self, l2=0.01):
        self.l2 = _factor("L2", "l2", 0.01 if l2 is None else l2)

    def __call__(self, x):
        return self.l2 * sum(square(x))

    def get_config(self) -> dict:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x ** 2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("L1L2", "l1", 0.0 if l1 is None else l1)
        self.l2 = _factor("L1L2", "l2", 0.0 if l2 is None else l2)

    def __call__(self, x):
        total = 0.0
        if self.l1:
            total = total + self.l1 * sum(abs(x))
        if self.l2:
            total = total + self.l2 * sum(square(x))
        return total

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


def _l2_normalize(x, axis: int):
    # x / max(|x|, 1e-6): rsqrt of the clamped sum of squares, so zero rows stay finite.
    return x * rsqrt(maximum(sum(square(x), axis=axis, keepdims=True), 1e-12))


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns (``"columns"``) of a 2-D weight towards
    orthogonality: ``factor * mean |cos(angle)|`` over the pairs of distinct rows/columns."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ArgumentError(
                f"OrthogonalRegularizer: received mode={mode!r}, expected 'rows' or 'columns'"
            )
        self.mode = mode

    def __call__(self, x):
        if len(x.shape) != 2:
            raise ShapeError(
                f"OrthogonalRegularizer: received an input of shape {tuple(x.shape)}, "
                "expected a 2-D weight"
            )
        if self.mode == "rows":
            unit = _l2_normalize(x, axis=1)
            product = matmul(unit, matrix_transpose(unit))
        else:
            unit = _l2_normalize(x, axis=0)
            product = matmul(matrix_transpose(unit), unit)
        size = product.shape[0]
        off_diagonal = product * (1.0 - eye(size, dtype=product.dtype))
        pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * sum(abs(off_diagonal)) / max(pairs, 1.0)

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


# Keras 3's lower-case aliases of the classes.
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_NAMES = _objects.table((Regularizer, L1, L2, L1L2, OrthogonalRegularizer), {"l1l2": L1L2})


def serialize(regularizer) -> dict | None:
    """The Keras 3 config dict ``{"module", "class_name", "config", "registered_name"}``."""
    return _objects.serialize(regularizer, "rillet.regularizers")


def deserialize(config, custom_objects=None) -> Regularizer:
    """A regularizer from a name or a ``{"class_name", "config"}`` dict."""
    return _objects.deserialize(config, _NAMES, "regularizers", custom_objects)


def get(identifier):
    """A regularizer from None (None), a name (``"l2"``), a config dict, a class, an instance
    or a callable ``fn(weight) -> scalar``."""
    return _objects.get(identifier, _NAMES, "regularizers", Regularizer)
