"""State ops: reading and updating variables. They are what graphs use for ``rl.Variable``.

In eager code a variable is read and updated directly (``Variable._rillet_read`` and
``Variable.assign``); while tracing, the same calls become these stateful graph nodes, whose
kernels read and update the variable in place when executed.
"""

from __future__ import annotations

from .. import dtypes as _dtypes
from ..errors import DTypeError, ShapeError
from ._registry import Spec, defop
from ._rules import fmt

__all__: list[str] = []

_UPDATES = ("assign", "add", "sub")


def _read_rule(*, variable):
    return Spec(tuple(variable.shape), variable.dtype)


@defop(rule=_read_rule, differentiable=False, low_precision="native", stateful=True)
def read_variable(xp, *, variable, out=None):
    """The variable's current value (its buffer: never written while a reader is alive)."""
    return variable._array


def _assign_rule(value, *, variable, mode="assign"):
    if mode not in _UPDATES:
        raise ShapeError(f"mode={mode!r} must be one of {', '.join(_UPDATES)}")
    if tuple(value.shape) != tuple(variable.shape):
        raise ShapeError(
            f"variable '{variable.name}' has shape {fmt(variable.shape)}, "
            f"got a value of shape {fmt(value.shape)}"
        )
    if _dtypes.is_floating(value.dtype) and not _dtypes.is_floating(variable.dtype):
        raise DTypeError(
            f"variable '{variable.name}' has dtype {variable.dtype}, "
            f"got a value of dtype {value.dtype}"
        )
    return Spec(tuple(variable.shape), variable.dtype)


@defop(rule=_assign_rule, differentiable=False, low_precision="native", stateful=True)
def assign_variable(xp, value, *, variable, mode="assign", out=None):
    """Set (``mode="assign"``), add to or subtract from the variable; returns its new value."""
    variable._write(value, mode)
    return variable._array
