"""Fused recurrent ops: a whole LSTM, GRU or SimpleRNN sequence in one kernel, and its
backpropagation through time in another.

Layouts and gate orders are those of Keras 3: ``x`` is ``(batch, steps, features)``, a state
is ``(batch, units)``, ``kernel`` is ``(features, k * units)`` and ``recurrent_kernel`` is
``(units, k * units)`` with the gates side by side along the last axis:

- LSTM (k=4): ``i, f, c, o``; ``bias`` ``(4 * units,)``;
  ``c' = f * c + i * act(c~)``, ``h' = o * act(c')``, the gates through ``recurrent_activation``.
- GRU (k=3): ``z, r, h``; with ``reset_after=True`` (Keras 3's default) ``bias`` is
  ``(2, 3 * units)``, an input and a recurrent row, and ``h~ = act(x_h + r * (h @ R_h + b_h))``;
  with ``reset_after=False`` ``bias`` is ``(3 * units,)`` and ``h~ = act(x_h + (r * h) @ R_h)``.
  ``h' = z * h + (1 - z) * h~``.
- SimpleRNN (k=1): ``h' = act(x @ W + h @ R + b)``.

``mask`` ``(batch, steps)`` (bool) marks the steps to use: at a masked step the state is
carried over unchanged and the output is the previous step's output (zeros before any step
was used), or zeros with ``zero_output_for_mask=True``, as Keras's RNN loop does. With
``go_backwards=True`` the steps run from last to first and the outputs come in that order
(``outputs[:, 0]`` is the step on ``x[:, -1]``), again as in Keras.

The kernel projects the inputs of every step at once (one GEMM), then loops over the steps
with one small GEMM each and the gate math done in place, saving the gate values in a
``reserve`` output (as cuDNN does) for the backward op: ``lstm_forward``/``lstm_backward``,
``gru_forward``/``gru_backward``, ``simple_rnn_forward``/``simple_rnn_backward``. The
backward op walks the steps in reverse with one GEMM each, then finds the weight gradients
with large GEMMs over all steps. The LSTM's backward op leaves x's gradient to a third op,
``lstm_input_grad``, so that a training graph, whose x is data, drops that GEMM. Their own
gradients are not implemented (second-order gradients of these ops raise GradientError).
The public functions :func:`lstm_sequence`, :func:`gru_sequence` and
:func:`simple_rnn_sequence` return the outputs and final states.

Fast paths: an unmasked LSTM runs in a gate-major layout (``rillet/ops/_rnn_gate_major.py``:
every gate a contiguous block, one tanh for all four gates, no copies along the
recurrence), each step's gate math one compiled loop in float32 with the default
activations (``rillet/ops/_rnn_lstm_jit.py``).
A float32 GRU with the default activations at a small batch runs in one
compiled loop over all its steps (``rillet/ops/_rnn_jit.py``, masks included); otherwise a
GRU over a single unmasked step, a streaming frame, runs in a kernel of a few NumPy calls
(``rillet/ops/_rnn_step.py``). Masked sequences take the general loop below.

Activations are those whose derivative follows from their output: ``tanh``, ``sigmoid``,
``hard_sigmoid``, ``relu``, ``linear`` and ``softsign`` (:data:`FUSED_ACTIVATIONS`); the
layers run a step-by-step loop of ops for any other.

Timing: an LSTM of batch 32, 50 steps, 64 features and 128 units, float32, one BLAS thread
(CPU time, medians of 25 interleaved rounds on a busy 2-core machine whose OpenBLAS runs its
AVX-512 kernels, about 190 GFLOP/s): the forward kernel takes 2.4 ms, of which its GEMMs take
1.65 ms, and forward and backward 6.0 ms, of which GEMMs 4.6 ms (7.4 ms without the compiled
loops). Against the same LSTM as a Python loop of ops (``RNN(LSTMCell)``), forward and
backward under a GradientTape, eager: 8.1 ms against 36 ms.
``benchmarks/rnn_step.py`` times the whole training step against PyTorch's, and (``--only
layer``) the eager fused layer against the loop of ops.
"""

from __future__ import annotations

from ..errors import GradientError
from . import _rnn_gate_major as _gate_major
from . import _rnn_jit
from ._registry import Spec, defop
from ._rnn_common import (
    _ACTIVATIONS,
    _backward_specs,
    _check_backward,
    _check_common,
    _check_flags,
    _check_mask,
    _flat,
    _forward_specs,
    _input_grads,
    _kernel_grad,
    _project,
    _run_backward,
    _run_forward,
    _times,
    _x_grad,
)
from ._rnn_common import FUSED_ACTIVATIONS as FUSED_ACTIVATIONS  # the layers ask which fuse
from ._rnn_step import gru_single_step

__all__: list[str] = []


# --- LSTM --------------------------------------------------------------------------------------

# Reserve, per step: the gates i, f, c~, o after their activations (4 units), c_{t-1},
# act(c_t) and h_{t-1}: 7 units.
_LSTM_WIDTH = 7


def _gate_major_applies(steps: int, mask) -> bool:
    """Whether the gate-major kernels run the sequence (unmasked, at least one step); the
    LSTM's forward, backward and input-gradient ops decide alike, so that each reads the
    others' reserve and gradients."""
    return mask is None and steps > 0


def _lstm_bias_shape(units):
    return (_times(4, units),)


def _lstm_rule(
    x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
):  # fmt: skip
    _check_flags(locals())
    states = {"h0": h0, "c0": c0}
    batch, steps, units = _check_common(
        x, states, kernel, recurrent_kernel, bias, mask, 4, _lstm_bias_shape
    )
    return _forward_specs(x, batch, steps, units, 2, _LSTM_WIDTH)


def _lstm_step(xp, recurrent_kernel, act, ract):
    u = recurrent_kernel.shape[0]

    def step(p, states, res):
        h, c = states
        res[:, 4 * u : 5 * u] = c
        res[:, 6 * u :] = h
        gates = res[:, : 4 * u]
        xp.matmul(h, recurrent_kernel, out=gates)
        gates += p
        ract(xp, gates[:, : 2 * u])
        act(xp, gates[:, 2 * u : 3 * u])
        ract(xp, gates[:, 3 * u :])
        i, f, g, o = (gates[:, k * u : (k + 1) * u] for k in range(4))
        c_new = f * c
        c_new += i * g
        a = res[:, 5 * u : 6 * u]
        a[...] = c_new
        act(xp, a)
        return [o * a, c_new]

    return step


@defop(rule=_lstm_rule, promote=(0, 1, 2, 3, 4, 5))
def lstm_forward(
    xp, x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid", out=None,
):  # fmt: skip
    """A whole LSTM sequence: ``(outputs, h, c, reserve)``; see the module docstring and
    :func:`lstm_sequence` (which leaves out the reserve)."""
    act, ract = _ACTIVATIONS[activation][0], _ACTIVATIONS[recurrent_activation][0]
    if _gate_major_applies(x.shape[1], mask):
        acts = (act, ract, recurrent_activation == "sigmoid", activation == "tanh")
        return _gate_major.lstm_forward(
            xp, x, h0, c0, kernel, recurrent_kernel, bias, acts, go_backwards
        )
    proj = _project(xp, x, kernel, bias)
    steps, batch, units = x.shape[1], x.shape[0], h0.shape[-1]
    reserve = xp.empty((steps, batch, _LSTM_WIDTH * units), proj.dtype)
    step = _lstm_step(xp, recurrent_kernel, act, ract)
    outputs, (h, c) = _run_forward(
        xp, step, proj, [h0, c0], reserve, mask, go_backwards, zero_output_for_mask
    )
    return outputs, xp.array(h, copy=True), xp.array(c, copy=True), reserve


@lstm_forward.defvjp
def _lstm_forward_vjp(g, y, x, h0, c0, kernel, recurrent_kernel, bias, mask, **attrs):
    d = lstm_backward(g[0], g[1], g[2], x, kernel, recurrent_kernel, y[3], mask, **attrs)
    d_gates, d_h0, d_c0, d_kernel, d_recurrent, d_bias = d
    # A separate op, so that a graph whose x needs no gradient (the input data) drops it.
    d_x = lstm_input_grad(d_gates, kernel, mask, go_backwards=attrs.get("go_backwards", False))
    return (d_x, d_h0, d_c0, d_kernel, d_recurrent, None if bias is None else d_bias, None)


def _lstm_backward_rule(
    g_seq, g_h, g_c, x, kernel, recurrent_kernel, reserve, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
):  # fmt: skip
    _check_flags(locals())
    _check_backward(g_seq, (g_h, g_c), x, kernel, recurrent_kernel, reserve, mask, 4, _LSTM_WIDTH)
    _, *weights = _backward_specs(x, kernel, recurrent_kernel, 2, _lstm_bias_shape)
    batch, steps = x.shape[:2]
    gates = Spec((steps, batch, _times(4, recurrent_kernel.shape[0])), x.dtype)
    return (gates, *weights)


def _lstm_step_back(xp, recurrent_kernel, act_grad, ract_grad):
    u = recurrent_kernel.shape[0]
    recurrent_t = recurrent_kernel.T

    def step_back(d_states, res, buffers):
        dh, dc = d_states
        (d_pre,) = buffers
        i, f, g, o = (res[:, k * u : (k + 1) * u] for k in range(4))
        c_prev, a = res[:, 4 * u : 5 * u], res[:, 5 * u : 6 * u]
        d_i, d_f, d_g, d_o = (d_pre[:, k * u : (k + 1) * u] for k in range(4))
        xp.multiply(dh, a, out=d_o)
        ract_grad(xp, d_o, o)
        d_c = dh * o  # through h = o * act(c), then the carried gradient of c
        act_grad(xp, d_c, a)
        d_c += dc
        xp.multiply(d_c, g, out=d_i)
        ract_grad(xp, d_i, i)
        xp.multiply(d_c, c_prev, out=d_f)
        ract_grad(xp, d_f, f)
        xp.multiply(d_c, i, out=d_g)
        act_grad(xp, d_g, g)
        d_c *= f
        return [xp.matmul(d_pre, recurrent_t), d_c]

    return step_back


@defop(rule=_lstm_backward_rule, promote=(0, 1, 2, 3, 4, 5, 6))
def lstm_backward(
    xp, g_seq, g_h, g_c, x, kernel, recurrent_kernel, reserve, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid", out=None,
):  # fmt: skip
    """Backpropagation through an :func:`lstm_forward` sequence, from the gradients of its
    outputs, last h and last c: ``(d_gates, d_h0, d_c0, d_kernel, d_recurrent_kernel,
    d_bias)``; ``d_gates``, the gradients of every step's gate pre-activations (in a layout
    of the kernels' own), gives x's gradient through :func:`lstm_input_grad`."""
    act_grad = _ACTIVATIONS[activation][1]
    ract_grad = _ACTIVATIONS[recurrent_activation][1]
    if _gate_major_applies(x.shape[1], mask):
        grads = (act_grad, ract_grad, recurrent_activation == "sigmoid", activation == "tanh")
        return _gate_major.lstm_backward(
            xp, g_seq, g_h, g_c, x, kernel, recurrent_kernel, reserve, grads, go_backwards
        )
    steps, batch, units = reserve.shape[0], x.shape[0], recurrent_kernel.shape[0]
    d_pre = xp.empty((steps, batch, 4 * units), g_seq.dtype)
    step_back = _lstm_step_back(xp, recurrent_kernel, act_grad, ract_grad)
    d_h0, d_c0 = _run_backward(
        xp, step_back, g_seq, [g_h, g_c], reserve, [d_pre], mask, go_backwards,
        zero_output_for_mask,
    )  # fmt: skip
    flat = _flat(xp, d_pre)
    d_recurrent = xp.matmul(_flat(xp, reserve[:, :, 6 * units :]).T, flat)
    d_kernel = _kernel_grad(xp, d_pre, x, go_backwards)
    return d_pre, d_h0, d_c0, d_kernel, d_recurrent, flat.sum(axis=0)


@lstm_backward.defvjp
def _lstm_backward_vjp(g, y, *inputs, **attrs):
    raise GradientError("second-order gradients of LSTM (lstm_sequence) are not supported")


def _lstm_input_grad_rule(d_gates, kernel, mask=None, *, go_backwards=False):
    _check_flags(locals())
    steps, batch = d_gates.shape[:2]
    _check_mask(mask, batch, steps)
    return Spec((batch, steps, kernel.shape[0]), d_gates.dtype)


@defop(rule=_lstm_input_grad_rule, promote=(0, 1))
def lstm_input_grad(xp, d_gates, kernel, mask=None, *, go_backwards=False, out=None):
    """x's gradient ``(batch, steps, features)`` from the ``d_gates`` of
    :func:`lstm_backward`: one GEMM."""
    if _gate_major_applies(d_gates.shape[0], mask):
        return _gate_major.lstm_input_grad(xp, d_gates, kernel, go_backwards)
    return _x_grad(xp, d_gates, kernel, go_backwards)


@lstm_input_grad.defvjp
def _lstm_input_grad_vjp(g, y, *inputs, **attrs):
    raise GradientError("second-order gradients of LSTM (lstm_sequence) are not supported")


def lstm_sequence(
    x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
):  # fmt: skip
    """An LSTM over every step of ``x`` in one fused kernel: ``(outputs, h, c)``, the outputs
    ``(batch, steps, units)`` and the last states ``(batch, units)``.

    Gates ``i, f, c, o`` as Keras 3; see the module docstring for masks and go_backwards.

    >>> import rillet as rl
    >>> from rillet.ops.rnn import lstm_sequence
    >>> x, h0 = rl.ones((2, 5, 3)), rl.zeros((2, 4))
    >>> outputs, h, c = lstm_sequence(x, h0, h0, rl.ones((3, 16)), rl.zeros((4, 16)))
    >>> outputs.shape, h.shape, bool(rl.all(outputs[:, -1] == h))
    ((2, 5, 4), (2, 4), True)
    """
    outputs, h, c, _ = lstm_forward(
        x, h0, c0, kernel, recurrent_kernel, bias, mask, go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask, activation=activation,
        recurrent_activation=recurrent_activation,
    )  # fmt: skip
    return outputs, h, c


# --- GRU ---------------------------------------------------------------------------------------

# Reserve, per step: z, r and h~ after their activations (3 units), then with reset_after
# the recurrent candidate h_{t-1} @ R_h + b_h, and h_{t-1}: 5 units (4 without reset_after).


def _gru_width(reset_after: bool) -> int:
    return 5 if reset_after else 4


def _gru_bias_shape(reset_after: bool):
    return lambda units: (2, _times(3, units)) if reset_after else (_times(3, units),)


def _gru_rule(
    x, h0, kernel, recurrent_kernel, bias=None, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
    reset_after=True,
):  # fmt: skip
    _check_flags(locals())
    bias_shape = _gru_bias_shape(reset_after)
    batch, steps, units = _check_common(
        x, {"h0": h0}, kernel, recurrent_kernel, bias, mask, 3, bias_shape
    )
    return _forward_specs(x, batch, steps, units, 1, _gru_width(reset_after))


def _gru_step(xp, recurrent_kernel, recurrent_bias, act, ract, reset_after: bool):
    u = recurrent_kernel.shape[0]
    r_zr, r_h = recurrent_kernel[:, : 2 * u], recurrent_kernel[:, 2 * u :]

    def step(p, states, res):
        (h,) = states
        res[:, -u:] = h
        zr, hh = res[:, : 2 * u], res[:, 2 * u : 3 * u]
        if reset_after:
            inner = xp.matmul(h, recurrent_kernel)
            if recurrent_bias is not None:
                inner += recurrent_bias
            xp.add(p[:, : 2 * u], inner[:, : 2 * u], out=zr)
            ract(xp, zr)
            res[:, 3 * u : 4 * u] = inner[:, 2 * u :]
            xp.multiply(zr[:, u:], inner[:, 2 * u :], out=hh)  # r * (h @ R_h + b_h)
        else:
            xp.matmul(h, r_zr, out=zr)
            zr += p[:, : 2 * u]
            ract(xp, zr)
            xp.matmul(zr[:, u:] * h, r_h, out=hh)  # (r * h) @ R_h
        hh += p[:, 2 * u :]
        act(xp, hh)
        h_new = h - hh  # h' = z * h + (1 - z) * h~ = h~ + z * (h - h~)
        h_new *= zr[:, :u]
        h_new += hh
        return [h_new]

    return step


def _gru_biases(bias, reset_after: bool) -> tuple:
    """(input bias, recurrent bias) from the bias weight."""
    if bias is None:
        return None, None
    return (bias[0], bias[1]) if reset_after else (bias, None)


@defop(rule=_gru_rule, promote=(0, 1, 2, 3, 4))
def gru_forward(
    xp, x, h0, kernel, recurrent_kernel, bias=None, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
    reset_after=True, out=None,
):  # fmt: skip
    """A whole GRU sequence: ``(outputs, h, reserve)``; see the module docstring and
    :func:`gru_sequence` (which leaves out the reserve)."""
    if _rnn_jit.applies(x, h0, recurrent_kernel, activation, recurrent_activation):
        return _rnn_jit.gru_forward(
            xp, x, h0, kernel, recurrent_kernel, bias, mask, go_backwards,
            zero_output_for_mask, reset_after,
        )  # fmt: skip
    act, ract = _ACTIVATIONS[activation][0], _ACTIVATIONS[recurrent_activation][0]
    if mask is None and x.shape[1] == 1:  # a streaming frame
        return gru_single_step(xp, x, h0, kernel, recurrent_kernel, bias, act, ract, reset_after)
    input_bias, recurrent_bias = _gru_biases(bias, reset_after)
    proj = _project(xp, x, kernel, input_bias)
    steps, batch, units = x.shape[1], x.shape[0], h0.shape[-1]
    reserve = xp.empty((steps, batch, _gru_width(reset_after) * units), proj.dtype)
    step = _gru_step(xp, recurrent_kernel, recurrent_bias, act, ract, reset_after)
    outputs, (h,) = _run_forward(
        xp, step, proj, [h0], reserve, mask, go_backwards, zero_output_for_mask
    )
    return outputs, xp.array(h, copy=True), reserve


@gru_forward.defvjp
def _gru_forward_vjp(g, y, x, h0, kernel, recurrent_kernel, bias, mask, **attrs):
    d = gru_backward(g[0], g[1], x, kernel, recurrent_kernel, y[2], mask, **attrs)
    d_x, d_h0, d_kernel, d_recurrent, d_bias = d
    return (d_x, d_h0, d_kernel, d_recurrent, None if bias is None else d_bias, None)


def _gru_backward_rule(
    g_seq, g_h, x, kernel, recurrent_kernel, reserve, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
    reset_after=True,
):  # fmt: skip
    _check_flags(locals())
    width = _gru_width(reset_after)
    _check_backward(g_seq, (g_h,), x, kernel, recurrent_kernel, reserve, mask, 3, width)
    return _backward_specs(x, kernel, recurrent_kernel, 1, _gru_bias_shape(reset_after))


def _gru_step_back(xp, recurrent_kernel, act_grad, ract_grad, reset_after: bool):
    u = recurrent_kernel.shape[0]
    recurrent_t = recurrent_kernel.T
    r_zr_t, r_h_t = recurrent_t[: 2 * u], recurrent_t[2 * u :]

    def step_back(d_states, res, buffers):
        (dh,) = d_states
        d_pre = buffers[0]
        z, r, hh, h = res[:, :u], res[:, u : 2 * u], res[:, 2 * u : 3 * u], res[:, -u:]
        d_z, d_r, d_hh = d_pre[:, :u], d_pre[:, u : 2 * u], d_pre[:, 2 * u :]
        xp.subtract(h, hh, out=d_z)
        d_z *= dh
        ract_grad(xp, d_z, z)
        xp.subtract(1.0, z, out=d_hh)
        d_hh *= dh
        act_grad(xp, d_hh, hh)
        d_h = dh * z
        if reset_after:  # r multiplies the recurrent candidate h @ R_h + b_h
            d_inner = buffers[1]
            xp.multiply(d_hh, res[:, 3 * u : 4 * u], out=d_r)
            ract_grad(xp, d_r, r)
            d_inner[:, : 2 * u] = d_pre[:, : 2 * u]
            xp.multiply(d_hh, r, out=d_inner[:, 2 * u :])
            d_h += xp.matmul(d_inner, recurrent_t)
        else:  # r multiplies h before R_h
            d_rh = xp.matmul(d_hh, r_h_t)
            xp.multiply(d_rh, h, out=d_r)
            ract_grad(xp, d_r, r)
            d_rh *= r
            d_h += d_rh
            d_h += xp.matmul(d_pre[:, : 2 * u], r_zr_t)
        return [d_h]

    return step_back


@defop(rule=_gru_backward_rule, promote=(0, 1, 2, 3, 4, 5))
def gru_backward(
    xp, g_seq, g_h, x, kernel, recurrent_kernel, reserve, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
    reset_after=True, out=None,
):  # fmt: skip
    """Backpropagation through a :func:`gru_forward` sequence, from the gradients of its
    outputs and last h: ``(d_x, d_h0, d_kernel, d_recurrent_kernel, d_bias)``."""
    act_grad = _ACTIVATIONS[activation][1]
    ract_grad = _ACTIVATIONS[recurrent_activation][1]
    steps, batch, u = reserve.shape[0], x.shape[0], recurrent_kernel.shape[0]
    buffers = [xp.empty((steps, batch, 3 * u), g_seq.dtype) for _ in range(1 + reset_after)]
    step_back = _gru_step_back(xp, recurrent_kernel, act_grad, ract_grad, reset_after)
    (d_h0,) = _run_backward(
        xp, step_back, g_seq, [g_h], reserve, buffers, mask, go_backwards, zero_output_for_mask
    )
    d_pre = _flat(xp, buffers[0])
    h_prev = _flat(xp, reserve[:, :, -u:])
    if reset_after:
        d_inner = _flat(xp, buffers[1])
        d_recurrent = xp.matmul(h_prev.T, d_inner)
        d_bias = xp.stack([d_pre.sum(axis=0), d_inner.sum(axis=0)])
    else:
        d_recurrent = xp.empty_like(recurrent_kernel)
        xp.matmul(h_prev.T, d_pre[:, : 2 * u], out=d_recurrent[:, : 2 * u])
        rh = _flat(xp, reserve[:, :, u : 2 * u]) * h_prev
        xp.matmul(rh.T, d_pre[:, 2 * u :], out=d_recurrent[:, 2 * u :])
        d_bias = d_pre.sum(axis=0)
    d_x, d_kernel = _input_grads(xp, buffers[0], x, kernel, go_backwards)
    return d_x, d_h0, d_kernel, d_recurrent, d_bias


@gru_backward.defvjp
def _gru_backward_vjp(g, y, *inputs, **attrs):
    raise GradientError("second-order gradients of GRU (gru_sequence) are not supported")


def gru_sequence(
    x, h0, kernel, recurrent_kernel, bias=None, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
    reset_after=True,
):  # fmt: skip
    """A GRU over every step of ``x`` in one fused kernel: ``(outputs, h)``.

    Gates ``z, r, h`` as Keras 3 (``reset_after=True``: ``bias`` is ``(2, 3 * units)``).

    >>> import rillet as rl
    >>> from rillet.ops.rnn import gru_sequence
    >>> outputs, h = gru_sequence(rl.ones((2, 5, 3)), rl.zeros((2, 4)), rl.ones((3, 12)),
    ...                           rl.zeros((4, 12)))
    >>> outputs.shape, h.shape
    ((2, 5, 4), (2, 4))
    """
    outputs, h, _ = gru_forward(
        x, h0, kernel, recurrent_kernel, bias, mask, go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask, activation=activation,
        recurrent_activation=recurrent_activation, reset_after=reset_after,
    )  # fmt: skip
    return outputs, h


# --- SimpleRNN ---------------------------------------------------------------------------------

# Reserve, per step: the new h before masking (1 unit) and h_{t-1}: 2 units.
_SIMPLE_WIDTH = 2


def _simple_bias_shape(units):
    return (units,)


def _simple_rnn_rule(
    x, h0, kernel, recurrent_kernel, bias=None, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh",
):  # fmt: skip
    _check_flags(locals())
    batch, steps, units = _check_common(
        x, {"h0": h0}, kernel, recurrent_kernel, bias, mask, 1, _simple_bias_shape
    )
    return _forward_specs(x, batch, steps, units, 1, _SIMPLE_WIDTH)


def _simple_step(xp, recurrent_kernel, act):
    u = recurrent_kernel.shape[0]

    def step(p, states, res):
        (h,) = states
        res[:, u:] = h
        h_new = res[:, :u]
        xp.matmul(h, recurrent_kernel, out=h_new)
        h_new += p
        act(xp, h_new)
        return [h_new]

    return step


@defop(rule=_simple_rnn_rule, promote=(0, 1, 2, 3, 4))
def simple_rnn_forward(
    xp, x, h0, kernel, recurrent_kernel, bias=None, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", out=None,
):  # fmt: skip
    """A whole SimpleRNN sequence: ``(outputs, h, reserve)``; see the module docstring and
    :func:`simple_rnn_sequence` (which leaves out the reserve)."""
    proj = _project(xp, x, kernel, bias)
    steps, batch, units = x.shape[1], x.shape[0], h0.shape[-1]
    reserve = xp.empty((steps, batch, _SIMPLE_WIDTH * units), proj.dtype)
    step = _simple_step(xp, recurrent_kernel, _ACTIVATIONS[activation][0])
    outputs, (h,) = _run_forward(
        xp, step, proj, [h0], reserve, mask, go_backwards, zero_output_for_mask
    )
    return outputs, xp.array(h, copy=True), reserve


@simple_rnn_forward.defvjp
def _simple_rnn_forward_vjp(g, y, x, h0, kernel, recurrent_kernel, bias, mask, **attrs):
    d = simple_rnn_backward(g[0], g[1], x, kernel, recurrent_kernel, y[2], mask, **attrs)
    d_x, d_h0, d_kernel, d_recurrent, d_bias = d
    return (d_x, d_h0, d_kernel, d_recurrent, None if bias is None else d_bias, None)


def _simple_rnn_backward_rule(
    g_seq, g_h, x, kernel, recurrent_kernel, reserve, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh",
):  # fmt: skip
    _check_flags(locals())
    _check_backward(g_seq, (g_h,), x, kernel, recurrent_kernel, reserve, mask, 1, _SIMPLE_WIDTH)
    return _backward_specs(x, kernel, recurrent_kernel, 1, _simple_bias_shape)


def _simple_step_back(xp, recurrent_kernel, act_grad):
    u = recurrent_kernel.shape[0]
    recurrent_t = recurrent_kernel.T

    def step_back(d_states, res, buffers):
        (d_pre,) = buffers
        d_pre[...] = d_states[0]
        act_grad(xp, d_pre, res[:, :u])
        return [xp.matmul(d_pre, recurrent_t)]

    return step_back


@defop(rule=_simple_rnn_backward_rule, promote=(0, 1, 2, 3, 4, 5))
def simple_rnn_backward(
    xp, g_seq, g_h, x, kernel, recurrent_kernel, reserve, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh", out=None,
):  # fmt: skip
    """Backpropagation through a :func:`simple_rnn_forward` sequence, from the gradients of
    its outputs and last h: ``(d_x, d_h0, d_kernel, d_recurrent_kernel, d_bias)``."""
    steps, batch, units = reserve.shape[0], x.shape[0], recurrent_kernel.shape[0]
    d_pre = xp.empty((steps, batch, units), g_seq.dtype)
    step_back = _simple_step_back(xp, recurrent_kernel, _ACTIVATIONS[activation][1])
    (d_h0,) = _run_backward(
        xp, step_back, g_seq, [g_h], reserve, [d_pre], mask, go_backwards, zero_output_for_mask
    )
    flat = _flat(xp, d_pre)
    d_recurrent = xp.matmul(_flat(xp, reserve[:, :, units:]).T, flat)
    d_x, d_kernel = _input_grads(xp, d_pre, x, kernel, go_backwards)
    return d_x, d_h0, d_kernel, d_recurrent, flat.sum(axis=0)


@simple_rnn_backward.defvjp
def _simple_rnn_backward_vjp(g, y, *inputs, **attrs):
    raise GradientError(
        "second-order gradients of SimpleRNN (simple_rnn_sequence) are not supported"
    )


def simple_rnn_sequence(
    x, h0, kernel, recurrent_kernel, bias=None, mask=None, *, go_backwards=False,
    zero_output_for_mask=False, activation="tanh",
):  # fmt: skip
    """A SimpleRNN over every step of ``x`` in one fused kernel: ``(outputs, h)``.

    >>> import rillet as rl
    >>> from rillet.ops.rnn import simple_rnn_sequence
    >>> outputs, h = simple_rnn_sequence(rl.ones((2, 5, 3)), rl.zeros((2, 4)),
    ...                                  rl.ones((3, 4)), rl.zeros((4, 4)))
    >>> outputs.shape, round(float(h[0, 0]), 4)
    ((2, 5, 4), 0.9951)
    """
    outputs, h, _ = simple_rnn_forward(
        x, h0, kernel, recurrent_kernel, bias, mask, go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask, activation=activation,
    )  # fmt: skip
    return outputs, h
