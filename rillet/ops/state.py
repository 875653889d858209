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


def _update_rule(gradient, scalar, slots, scalar_name):
    """The rule of the fused updates: the gradient, the variable and its slots share one
    floating shape and dtype; ``scalar`` (a step size) is a scalar of that dtype."""
    for slot in slots:
        if tuple(slot.shape) != tuple(gradient.shape) or slot.dtype != gradient.dtype:
            raise ShapeError(
                f"variable '{slot.name}' is {slot.dtype}{fmt(slot.shape)}, "
                f"got a gradient of {gradient.dtype}{fmt(gradient.shape)}"
            )
    if not _dtypes.is_floating(gradient.dtype):
        raise DTypeError(f"expected a floating gradient, got {gradient.dtype}")
    if tuple(scalar.shape) != () or scalar.dtype != gradient.dtype:
        raise ShapeError(
            f"{scalar_name} must be a {gradient.dtype} scalar, "
            f"got {scalar.dtype}{fmt(scalar.shape)}"
        )
    return Spec(tuple(gradient.shape), gradient.dtype)


def _adam_rule(gradient, alpha, *, variable, momentum, velocity, beta_1, beta_2, epsilon):
    return _update_rule(gradient, alpha, (variable, momentum, velocity), "alpha")


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
    scalars = (alpha, 1.0 - beta_1, 1.0 - beta_2, epsilon)
    _update(xp, _adam_loop, _adam_numpy, gradient, (variable, momentum, velocity), scalars)
    return variable._array


def _update(xp, loop, numpy_path, gradient, variables, scalars) -> None:
    """Run ``loop`` (compiled) or else ``numpy_path`` on the variables' buffers, made safe to
    write, with the scalars in their dtype."""
    arrays = [v._own_buffer() for v in variables]
    dtype = arrays[0].dtype
    scalars = [dtype.type(s) for s in scalars]
    run = loop.compiled
    if run is not None:
        if not gradient.flags.c_contiguous:  # a transposed view, say: one copy, still one pass
            gradient = np.ascontiguousarray(gradient)
        run(gradient.reshape(-1), *[a.reshape(-1) for a in arrays], *scalars)
        return
    # Never warn halfway through (warnings may be errors): the update must not stop or run
    # twice. Infinities and NaNs propagate as IEEE says, as in the compiled loop.
    with np.errstate(all="ignore"):
        numpy_path(xp, gradient, *arrays, *scalars)


def _adam_numpy(xp, g, w, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
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


@loop_kernel(aot=("in:{f}[::1], {f}[::1], {f}[::1], {f}[::1], {f}, {f}, {f}, {f}",))
def _adam_loop(g, w, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    w, g, m, v = w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    for i in range(w.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_beta_1
        vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2
        m[i] = mi
        v[i] = vi
        w[i] -= (mi * alpha) / (np.sqrt(vi) + epsilon)


def _rmsprop_rule(gradient, learning_rate, *, variable, velocity, rho, epsilon):
    return _update_rule(gradient, learning_rate, (variable, velocity), "learning_rate")


@defop(
    rule=_rmsprop_rule,
    differentiable=False,
    low_precision="native",
    writes=("variable", "velocity"),
)
def apply_rmsprop(xp, gradient, learning_rate, *, variable, velocity, rho, epsilon, out=None):
    """RMSprop's update in place (Keras's, not centered, no momentum):
    ``v = v * rho + g**2 * (1 - rho)``, ``variable -= (lr * g) / sqrt(v + epsilon)``, the
    op-by-op update's operations in its order. Returns the variable's new value."""
    scalars = (learning_rate, rho, 1.0 - rho, epsilon)
    _update(xp, _rmsprop_loop, _rmsprop_numpy, gradient, (variable, velocity), scalars)
    return variable._array


def _rmsprop_numpy(xp, g, w, v, lr, rho, one_minus_rho, epsilon):
    v *= rho
    scratch = xp.square(g)
    scratch *= one_minus_rho
    v += scratch
    xp.add(v, epsilon, out=scratch)
    xp.sqrt(scratch, out=scratch)
    step = xp.multiply(g, lr)
    step /= scratch
    w -= step


@loop_kernel(aot=("in:{f}[::1], {f}[::1], {f}[::1], {f}, {f}, {f}, {f}",))
def _rmsprop_loop(g, w, v, lr, rho, one_minus_rho, epsilon):
    g, w, v = g.reshape(-1), w.reshape(-1), v.reshape(-1)
    for i in range(w.size):
        gi = g[i]
        vi = v[i] * rho + (gi * gi) * one_minus_rho
        v[i] = vi
        w[i] -= (gi * lr) / np.sqrt(vi + epsilon)


def _momentum_rule(gradient, learning_rate, *, variable, accumulator, momentum, nesterov):
    return _update_rule(gradient, learning_rate, (variable, accumulator), "learning_rate")


@defop(
    rule=_momentum_rule,
    differentiable=False,
    low_precision="native",
    writes=("variable", "accumulator"),
)
def apply_momentum(
    xp, gradient, learning_rate, *, variable, accumulator, momentum, nesterov=False, out=None
):
    """SGD with momentum in place (Keras's form): ``m = m * momentum - g * lr``, then
    ``variable += m`` (or ``+= m * momentum - g * lr`` with ``nesterov``), the op-by-op
    update's operations in its order. Returns the variable's new value."""
    loop, numpy_path = (
        (_nesterov_loop, _nesterov_numpy) if nesterov else (_momentum_loop, _momentum_numpy)
    )
    scalars = (learning_rate, momentum)
    _update(xp, loop, numpy_path, gradient, (variable, accumulator), scalars)
    return variable._array


def _momentum_numpy(xp, g, w, m, lr, momentum):
    m *= momentum
    m -= xp.multiply(g, lr)
    w += m


def _nesterov_numpy(xp, g, w, m, lr, momentum):
    step = xp.multiply(g, lr)
    m *= momentum
    m -= step
    ahead = xp.multiply(m, momentum)
    ahead -= step
    w += ahead


@loop_kernel(aot=("in:{f}[::1], {f}[::1], {f}[::1], {f}, {f}",))
def _momentum_loop(g, w, m, lr, momentum):
    g, w, m = g.reshape(-1), w.reshape(-1), m.reshape(-1)
    for i in range(w.size):
        mi = m[i] * momentum - g[i] * lr
        m[i] = mi
        w[i] += mi


@loop_kernel(aot=("in:{f}[::1], {f}[::1], {f}[::1], {f}, {f}",))
def _nesterov_loop(g, w, m, lr, momentum):
    g, w, m = g.reshape(-1), w.reshape(-1), m.reshape(-1)
    for i in range(w.size):
        step = g[i] * lr
        mi = m[i] * momentum - step
        m[i] = mi
        w[i] += mi * momentum - step
