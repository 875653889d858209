"""State ops: reading and updating variables. They are what graphs use for ``rl.Variable``.

In eager code a variable is read and updated directly (``Variable._rillet_read`` and
``Variable.assign``); while tracing, the same calls become these stateful graph nodes, whose
kernels read and update the variable in place when executed.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dtypes
from ..errors import DTypeError, ShapeError
from ._jit import loop_kernel
from ._registry import Spec, defop
from ._rules import fmt

__all__: list[str] = []  # graph-level ops: layers and optimizers reach them as ops.state.*

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


@defop(rule=_assign_rule, differentiable=False, low_precision="native", writes=("variable",))
def assign_variable(xp, value, *, variable, mode="assign", out=None):
    """Set (``mode="assign"``), add to or subtract from the variable; returns its new value."""
    variable._write(value, mode)
    return variable._array


# --- fused optimizer updates --------------------------------------------------------------


def _adam_rule(gradient, alpha, *, variable, momentum, velocity, beta_1, beta_2, epsilon):
    for slot in (variable, momentum, velocity):
        if tuple(slot.shape) != tuple(gradient.shape) or slot.dtype != gradient.dtype:
            raise ShapeError(
                f"variable '{slot.name}' is {slot.dtype}{fmt(slot.shape)}, "
                f"got a gradient of {gradient.dtype}{fmt(gradient.shape)}"
            )
    if not _dtypes.is_floating(gradient.dtype):
        raise DTypeError(f"expected a floating gradient, got {gradient.dtype}")
    if tuple(alpha.shape) != () or alpha.dtype != gradient.dtype:
        raise ShapeError(
            f"alpha must be a {gradient.dtype} scalar, got {alpha.dtype}{fmt(alpha.shape)}"
        )
    return Spec(tuple(variable.shape), variable.dtype)


@defop(
    rule=_adam_rule,
    differentiable=False,
    low_precision="native",
    writes=("variable", "momentum", "velocity"),
)
def apply_adam(
    xp, gradient, alpha, *, variable, momentum, velocity, beta_1, beta_2, epsilon, out=None
):
    """Adam's update of ``variable`` and its moments in place, in one pass where compiled
    loops are on (``rillet/ops/_jit.py``): ``m += (g - m) * (1 - beta_1)``,
    ``v += (g**2 - v) * (1 - beta_2)``, ``variable -= (m * alpha) / (sqrt(v) + epsilon)``,
    the same operations in the same order as the op-by-op update (so the same bits).
    Returns the variable's new value."""
    arrays = [_writable(v) for v in (variable, momentum, velocity)]
    dtype = arrays[0].dtype
    scalars = [dtype.type(s) for s in (1.0 - beta_1, 1.0 - beta_2, epsilon)]
    loop = _adam_loop.compiled
    if loop is not None:
        if not gradient.flags.c_contiguous:  # a transposed view, say: one copy, still one pass
            gradient = np.ascontiguousarray(gradient)
        loop(arrays[0], gradient, arrays[1], arrays[2], dtype.type(alpha), *scalars)
    else:
        # Never warn halfway through (warnings may be errors): the update must not stop or
        # run twice. Infinities and NaNs propagate as IEEE says, as in the compiled loop.
        with np.errstate(all="ignore"):
            _adam_numpy(xp, gradient, dtype.type(alpha), *arrays, *scalars)
    return variable._array


def _writable(variable):
    """The variable's buffer, safe to update in place: copied first when a tensor elsewhere
    still holds it (a read that must keep the old value) or when it is not contiguous."""
    if not (variable._exclusive() and variable._array.flags.c_contiguous):
        variable._replace(np.array(variable._array, order="C", copy=True))
    return variable._array


def _adam_numpy(xp, g, alpha, w, m, v, one_minus_beta_1, one_minus_beta_2, epsilon):
    scratch = xp.subtract(g, m)
    scratch *= one_minus_beta_1
    m += scratch
    xp.square(g, out=scratch)
    scratch -= v
    scratch *= one_minus_beta_2
    v += scratch
    xp.sqrt(v, out=scratch)
    scratch += epsilon
    step = xp.multiply(m, alpha)
    step /= scratch
    w -= step


@loop_kernel
def _adam_loop(w, g, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    w, g, m, v = w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    for i in range(w.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_beta_1
        vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2
        m[i] = mi
        v[i] = vi
        w[i] -= (mi * alpha) / (np.sqrt(vi) + epsilon)
