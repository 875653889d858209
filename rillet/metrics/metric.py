"""The metric base class and helpers shared by the metrics."""

from __future__ import annotations

import re

import numpy as np

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ShapeError
from ..layers.layer import unique_name
from ..losses import loss as _loss
from ..variable import Variable

EPSILON = _loss.EPSILON
NEG_INF = -1e10


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _tensor(value, dtype=None):
    """``value`` as a tensor (of ``dtype`` if given)."""
    value = _loss._tensor(value)
    if dtype is not None and value.dtype != dtype:
        value = ops.cast(value, dtype=dtype)
    return value


def _check_shapes(owner: str, y_true, y_pred) -> None:
    if not _loss._compatible(tuple(y_true.shape), tuple(y_pred.shape)):
        raise ShapeError(
            f"y_true and y_pred have incompatible shapes: y_true.shape={tuple(y_true.shape)}, "
            f"y_pred.shape={tuple(y_pred.shape)}",
            op=owner,
        )


# -- the base class ------------------------------------------------------------------------


class Metric:
    """Base class: subclasses create variables with ``add_variable`` in ``__init__`` and
    implement ``update_state`` and ``result``."""

    def __init__(self, dtype=None, name: str | None = None):
        self.name = name or unique_name(_snake(type(self).__name__))
        self.dtype = _dtypes.float32 if dtype is None else _dtypes.as_dtype(dtype)
        self._variables: list[Variable] = []

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="sum", name=None):
        """Create and track a state variable (zeros unless ``initializer`` is a number)."""
        dtype = self.dtype if dtype is None else _dtypes.as_dtype(dtype)
        fill = 0 if initializer == "zeros" else initializer
        value = np.full(tuple(shape), fill, dtype)
        variable = Variable(value, trainable=False, name=f"{self.name}/{name or 'variable'}")
        self._variables.append(variable)
        return variable

    @property
    def variables(self) -> list[Variable]:
        return list(self._variables)

    def reset_state(self) -> None:
        """Set every state variable to zero."""
        for variable in self._variables:
            variable.assign(np.zeros(variable.shape, variable.dtype))

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state()")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result()")

    def __call__(self, *args, **kwargs):
        """Update the state with one batch and return the new result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"
