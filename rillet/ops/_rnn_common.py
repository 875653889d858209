"""What the fused recurrent ops (``rillet/ops/rnn.py``) share: the activations whose
derivative follows from their output, the shape rules and checks, and the step loops
forward and backward that the LSTM, GRU and SimpleRNN kernels drive with their own step."""

from __future__ import annotations

from .. import dtypes as _dtypes
from ..errors import ArgumentError, DTypeError, ShapeError
from ._registry import Spec
from ._rules import fmt, same_shape

__all__: list[str] = []


# --- activations whose derivative is a function of their output ------------------------------


def _tanh(xp, z):
    xp.tanh(z, out=z)


def _sigmoid(xp, z):
    # 1 / (1 + e^-z) = (1 + tanh(z / 2)) / 2: no overflow for any z, and all in place
    z *= 0.5
    xp.tanh(z, out=z)
    z *= 0.5
    z += 0.5


def _hard_sigmoid(xp, z):  # relu6(z + 3) / 6, as Keras 3
    z *= 1.0 / 6.0
    z += 0.5
    xp.clip(z, 0.0, 1.0, out=z)


def _relu(xp, z):
    xp.maximum(z, 0.0, out=z)


def _linear(xp, z):
    pass


def _softsign(xp, z):
    z /= xp.abs(z) + 1.0


def _tanh_grad(xp, g, y):  # g *= 1 - y^2
    d = y * y
    xp.subtract(1.0, d, out=d)
    g *= d


def _sigmoid_grad(xp, g, y):  # g *= y (1 - y)
    d = 1.0 - y
    d *= y
    g *= d


def _hard_sigmoid_grad(xp, g, y):  # slope 1/6 strictly between the flat parts
    g *= (y > 0.0) & (y < 1.0)
    g *= 1.0 / 6.0


def _relu_grad(xp, g, y):
    g *= y > 0.0


def _linear_grad(xp, g, y):
    pass


def _softsign_grad(xp, g, y):  # d/dz z / (1 + |z|) = 1 / (1 + |z|)^2 = (1 - |y|)^2
    d = xp.abs(y)
    xp.subtract(1.0, d, out=d)
    d *= d
    g *= d


_ACTIVATIONS = {
    "tanh": (_tanh, _tanh_grad),
    "sigmoid": (_sigmoid, _sigmoid_grad),
    "hard_sigmoid": (_hard_sigmoid, _hard_sigmoid_grad),
    "relu": (_relu, _relu_grad),
    "linear": (_linear, _linear_grad),
    "softsign": (_softsign, _softsign_grad),
}
FUSED_ACTIVATIONS = frozenset(_ACTIVATIONS)


# --- rules -------------------------------------------------------------------------------------


def _check_activation(name: str, value) -> None:
    if not isinstance(value, str) or value not in _ACTIVATIONS:
        known = ", ".join(sorted(_ACTIVATIONS))
        raise ArgumentError(f"{name}={value!r} has no fused kernel; expected one of {known}")


def _check_flags(attrs: dict) -> None:
    for key in ("go_backwards", "zero_output_for_mask", "reset_after"):
        if key in attrs and not isinstance(attrs[key], bool):
            raise ArgumentError(f"{key} must be a bool, got {attrs[key]!r}")
    for key in ("activation", "recurrent_activation"):
        if key in attrs:
            _check_activation(key, attrs[key])


def _expect(t, shape: tuple, name: str, meaning: str) -> None:
    if not same_shape(tuple(t.shape), shape):
        raise ShapeError(f"{name}{fmt(t.shape)} must have shape {fmt(shape)} {meaning}")


def _check_floating(t, name: str) -> None:
    if not _dtypes.is_floating(t.dtype):
        raise DTypeError(f"{name} has dtype {t.dtype}, expected a floating dtype")


def _sequence_geometry(x, recurrent_kernel, gates: int) -> tuple:
    """(batch, steps, features, units) from x and the recurrent kernel, checked."""
    _check_floating(x, "x")
    if len(x.shape) != 3:
        raise ShapeError(f"x must have rank 3 (batch, steps, features), got shape {fmt(x.shape)}")
    if len(recurrent_kernel.shape) != 2:
        raise ShapeError(
            f"recurrent_kernel must have rank 2 (units, {gates} * units), got shape "
            f"{fmt(recurrent_kernel.shape)}"
        )
    units = recurrent_kernel.shape[0]
    _expect(recurrent_kernel, (units, _times(gates, units)), "recurrent_kernel",
            f"(units, {gates} * units)")  # fmt: skip
    return (*x.shape, units)


def _check_common(x, states, kernel, recurrent_kernel, bias, mask, gates, bias_shape):
    batch, steps, features, units = _sequence_geometry(x, recurrent_kernel, gates)
    _expect(kernel, (features, _times(gates, units)), "kernel", f"(features, {gates} * units)")
    for name, state in states.items():
        _expect(state, (batch, units), name, "(batch, units)")
    weights = {"kernel": kernel, "recurrent_kernel": recurrent_kernel, "bias": bias, **states}
    for name, t in weights.items():
        if t is not None:
            _check_floating(t, name)
    if bias is not None:
        _expect(bias, bias_shape(units), "bias", "(the gates' biases)")
    _check_mask(mask, batch, steps)
    return batch, steps, units


def _check_mask(mask, batch, steps) -> None:
    if mask is None:
        return
    if mask.dtype != _dtypes.bool_:
        raise DTypeError(f"mask has dtype {mask.dtype}, expected bool")
    _expect(mask, (batch, steps), "mask", "(batch, steps)")


def _times(n: int, units):
    return None if units is None else n * units


def _forward_specs(x, batch, steps, units, n_states: int, width: int) -> tuple:
    state = Spec((batch, units), x.dtype)
    reserve = Spec((steps, batch, _times(width, units)), x.dtype)
    return (Spec((batch, steps, units), x.dtype), *([state] * n_states), reserve)


def _backward_specs(x, kernel, recurrent_kernel, n_states: int, bias_shape) -> tuple:
    batch, units = x.shape[0], recurrent_kernel.shape[0]
    return (
        Spec(tuple(x.shape), x.dtype),
        *([Spec((batch, units), x.dtype)] * n_states),
        Spec(tuple(kernel.shape), x.dtype),
        Spec(tuple(recurrent_kernel.shape), x.dtype),
        Spec(bias_shape(units), x.dtype),
    )


def _check_backward(g_seq, g_states, x, kernel, recurrent_kernel, reserve, mask, gates, width):
    batch, steps, features, units = _sequence_geometry(x, recurrent_kernel, gates)
    _expect(kernel, (features, _times(gates, units)), "kernel", f"(features, {gates} * units)")
    _expect(g_seq, (batch, steps, units), "g_seq", "(batch, steps, units)")
    for i, g in enumerate(g_states):
        _expect(g, (batch, units), f"g_state{i}", "(batch, units)")
    _expect(reserve, (steps, batch, _times(width, units)), "reserve", "(the forward op's)")
    _check_mask(mask, batch, steps)


# --- the shared loops --------------------------------------------------------------------------


def _project(xp, x, kernel, bias):
    """``x @ kernel + bias`` for every step at once: one GEMM, shape (batch, steps, k*units)."""
    batch, steps, features = x.shape
    proj = xp.matmul(x.reshape(batch * steps, features), kernel)
    if bias is not None:
        proj += bias
    return proj.reshape(batch, steps, -1)


def _run_forward(xp, step, proj, states: list, reserve, mask, go_backwards, zero_output):
    """Run ``step(proj_t, states, reserve_t) -> new states`` over the steps; the output of a
    step is its first state. Returns the outputs (batch, steps, units) and the last states."""
    batch, steps, _ = proj.shape
    units = states[0].shape[-1]
    outputs = xp.empty((batch, steps, units), proj.dtype)
    shown = xp.zeros((batch, units), proj.dtype)  # the previous output, for masked steps
    for t in range(steps):
        source = steps - 1 - t if go_backwards else t
        new = step(proj[:, source], states, reserve[t])
        if mask is not None:
            keep = mask[:, source, None]
            new = [xp.where(keep, n, s) for n, s in zip(new, states)]
            shown = xp.where(keep, new[0], 0.0 if zero_output else shown)
            outputs[:, t] = shown
        else:
            outputs[:, t] = new[0]
        states = new
    return outputs, states


def _run_backward(xp, step_back, g_seq, g_states, reserve, buffers, mask, go_backwards, zero_out):
    """Walk the steps in reverse: ``step_back(d_states, reserve_t, buffers_t) -> d_states``
    before the step, writing the step's gate gradients into ``buffers[k][t]``. Returns the
    gradients of the initial states."""
    batch, steps, units = g_seq.shape
    d_states = [xp.array(g, copy=True) for g in g_states]
    carried = xp.zeros((batch, units), g_seq.dtype)  # gradient of a copied-forward output
    for t in reversed(range(steps)):
        source = steps - 1 - t if go_backwards else t
        if mask is None:
            d_states[0] += g_seq[:, t]
            d_states = step_back(d_states, reserve[t], [b[t] for b in buffers])
            continue
        keep = mask[:, source, None]
        total = g_seq[:, t] if zero_out else g_seq[:, t] + carried
        if not zero_out:  # a masked step showed the previous output: its gradient goes there
            carried = xp.where(keep, 0.0, total)
        d_states[0] += xp.where(keep, total, 0.0)
        before = step_back(d_states, reserve[t], [b[t] for b in buffers])
        for b in buffers:
            b[t] *= keep  # masked rows: the step did not happen
        d_states = [xp.where(keep, p, d) for p, d in zip(before, d_states)]
    return d_states


def _input_grads(xp, d_pre, x, kernel, go_backwards):
    """Gradients of x and of the kernel from the pre-activation gradients (steps, batch,
    k*units) in run order: two GEMMs."""
    return _x_grad(xp, d_pre, kernel, go_backwards), _kernel_grad(xp, d_pre, x, go_backwards)


def _kernel_grad(xp, d_pre, x, go_backwards):
    """The kernel's gradient: x in run order (k times cheaper to transpose than the
    gradients) times the pre-activation gradients, one GEMM."""
    batch, steps, features = x.shape
    x_run = x.transpose(1, 0, 2)[::-1] if go_backwards else x.transpose(1, 0, 2)
    return xp.matmul(x_run.reshape(steps * batch, features).T, _flat(xp, d_pre))


def _x_grad(xp, d_pre, kernel, go_backwards):
    """x's gradient ``(batch, steps, features)``: one GEMM, then back from run order."""
    steps, batch = d_pre.shape[:2]
    d_x_run = xp.matmul(_flat(xp, d_pre), kernel.T).reshape(steps, batch, -1)
    if go_backwards:
        d_x_run = d_x_run[::-1]
    return xp.ascontiguousarray(d_x_run.transpose(1, 0, 2))


def _flat(xp, a):
    """(steps, batch, n) as (steps * batch, n); a view of the reserve's slices."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])
