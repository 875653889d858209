"""The gate math of an unmasked LSTM sequence as compiled loops (``rillet/ops/_jit.py``).

Between its GEMMs, a step of the NumPy kernels in ``_rnn_gate_major.py`` makes a dozen
elementwise calls on ``(4 * units, batch)`` blocks, each a few microseconds of call
overhead: at batch 32 and 128 units they cost about as much as the step's GEMMs. Here each
step is one GEMM (NumPy's ``matmul``, so NumPy's BLAS and its threads) and one call of a
compiled loop that does all of the step's gate math in a few flat loops over contiguous
blocks, which vectorize. The forward step's GEMM multiplies both kernels side by side,
``[U' | W']``, with ``[h_{t-1}; x_t]``, stacked for every step in one buffer.

The loops keep the gate-major layout, the halved sigmoid rows and the reserve of the NumPy
kernels (``o, i, f, c~, c_{t-1}, act(c_t), h_{t-1}`` a step), so either backward reads
either forward's reserve. Only ``tanh`` as the activation and ``sigmoid`` as the recurrent
one (Keras's defaults), in float32, run here. ``tanh`` is a rational approximation, the one
Eigen (TensorFlow's CPU kernels) and ONNX Runtime's MLAS use: within 7 ulp (4e-7) of the
exact value, against 1.4 ulp for NumPy's, because the C library's tanh is a scalar call that
costs 20 times the approximation's vectorized loop. The backward loop has no transcendental
function. The two paths agree to float32 rounding, not bit for bit.

Timing (one BLAS thread, CPU time, medians of 25 interleaved rounds; batch 32, 50 steps, 64
features, 128 units): the forward takes 2.4 ms against 2.8 ms with the NumPy kernels, forward
and backward (weight gradients included) 6.0 ms against 7.4 ms, of which GEMMs 1.65 ms and
4.6 ms; the whole training step of ``benchmarks/rnn_step.py`` 6.9 ms against 8.9 ms.
"""

from __future__ import annotations

import numpy as np

from ._jit import loop_kernel, tanh32

__all__: list[str] = []

_F32 = np.dtype(np.float32)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


def applies(x, recurrent_kernel, defaults: bool) -> bool:
    """Whether the compiled loops run this unmasked LSTM: NumPy arrays in float32, the
    default activations (``defaults``: tanh, and sigmoid as the recurrent one) and compiled
    loops on."""
    return (
        defaults
        and isinstance(x, np.ndarray)
        and x.dtype == _F32
        and recurrent_kernel.dtype == _F32
        and _forward_step.compiled is not None
        and _backward_step.compiled is not None
    )


@loop_kernel(aot=("in:f4[:, ::1], in:f4[::1], f4[:, :, ::1], f4[:, :, ::1], i8",))
def _forward_step(z, bias, res, hx, t):
    """Step ``t`` after its GEMM: ``z`` ``(4 * units, batch)`` the gates' pre-activations
    without the bias, ``bias`` ``(4 * units * batch,)`` each row's bias repeated over the
    batch (the sigmoid rows, like their weights, halved). Fills the reserve ``res[t]``, the
    next step's ``c_t, h_t`` in ``res[t + 1]`` and ``h_t`` in the first rows of ``hx[t +
    1]``."""
    ub = z.shape[1] * (res.shape[1] // 7)  # z.size // 4 here keeps the loops from vectorizing
    zf, rf, nxt, h_next = z.reshape(-1), res[t].reshape(-1), res[t + 1].reshape(-1), hx[t + 1]
    h_next = h_next.reshape(-1)

    for i in range(3 * ub):  # o, i, f: sigmoid(z) = 0.5 * tanh(z / 2) + 0.5
        rf[i] = _HALF * tanh32(zf[i] + bias[i]) + _HALF
    for i in range(ub):  # c~ (a loop from 0: one from 3 * ub does not vectorize)
        j = 3 * ub + i
        rf[j] = tanh32(zf[j] + bias[j])
    for i in range(ub):
        c = rf[ub + i] * rf[3 * ub + i] + rf[2 * ub + i] * rf[4 * ub + i]
        nxt[4 * ub + i] = c
        a = tanh32(c)
        rf[5 * ub + i] = a
        h = rf[i] * a
        nxt[6 * ub + i] = h
        h_next[i] = h


@loop_kernel(
    aot=(
        "in:f4[:, :, ::1], in:f4[:, :, ::1], f4[:, ::1], f4[:, ::1], f4[:, ::1], f4[:, :, ::1], i8",
    )
)
def _backward_step(g_run, res, dh, dc, d, d_pre, t):
    """Step ``t`` of the backpropagation before its GEMM: from ``g_run[t]`` (the output's
    gradient), the reserve ``res[t]`` and the gradients ``dh, dc`` ``(units, batch)`` of
    ``h_t, c_t``, the pre-activation gradients ``d`` ``(4 * units, batch)``, also copied to
    ``d_pre[:, t]``; ``dc`` becomes ``c_{t-1}``'s gradient."""
    ub = dh.size
    rf, gf, df = res[t].reshape(-1), g_run[t].reshape(-1), d.reshape(-1)
    dhf, dcf = dh.reshape(-1), dc.reshape(-1)
    for i in range(ub):
        o, ig, f, g = rf[i], rf[ub + i], rf[2 * ub + i], rf[3 * ub + i]
        a = rf[5 * ub + i]
        dht = dhf[i] + gf[i]
        df[i] = dht * a * ((_ONE - o) * o)  # o: dh * act(c_t) * sigmoid'
        cell = dht * o * (_ONE - a * a) + dcf[i]  # c_t: through h, plus the carried dc
        df[ub + i] = cell * g * ((_ONE - ig) * ig)  # i: dc * c~
        df[2 * ub + i] = cell * rf[4 * ub + i] * ((_ONE - f) * f)  # f: dc * c_{t-1}
        df[3 * ub + i] = cell * ig * (_ONE - g * g)  # c~: dc * i
        dcf[i] = cell * f
    for k in range(d.shape[0]):  # row copies: the slice assignment is slower
        row, dst = d[k], d_pre[k, t]
        for b in range(row.size):
            dst[b] = row[b]


def lstm_forward(xp, x, h0, c0, kernel_t, rec_t, bias_t, go_backwards: bool) -> tuple:
    """``(reserve, h, c)`` of the sequence: the reserve ``(steps, 7 * units, batch)``, the
    last states ``(units, batch)``; the weights as ``_rnn_gate_major`` prepares them
    (``bias_t`` a ``(4 * units, 1)`` column, or None). Each step is one GEMM, of both kernels
    side by side with ``h_{t-1}`` stacked on ``x_t``, and one call of :func:`_forward_step`."""
    batch, steps, features = x.shape
    u = rec_t.shape[1]
    weights = xp.concatenate([rec_t, kernel_t], axis=1)
    hx = xp.empty((steps + 1, u + features, batch), _F32)  # [h_{t-1}; x_t] for each step
    hx[:steps, u:] = x.transpose(1, 2, 0)[::-1] if go_backwards else x.transpose(1, 2, 0)
    hx[0, :u] = h0.T
    if bias_t is None:
        bias = xp.zeros(4 * u * batch, _F32)
    else:
        bias = xp.ascontiguousarray(xp.broadcast_to(bias_t, (4 * u, batch))).reshape(-1)
    res = xp.empty((steps + 1, 7 * u, batch), _F32)
    res[0, 4 * u : 5 * u] = c0.T
    res[0, 6 * u :] = h0.T
    z = xp.empty((4 * u, batch), _F32)
    step = _forward_step.resolve(z, bias, res, hx, 0)  # the same arrays at every step
    for t in range(steps):
        xp.matmul(weights, hx[t], out=z)
        step(z, bias, res, hx, t)
    return res[:steps], res[steps, 6 * u :], res[steps, 4 * u : 5 * u]


def lstm_backward(xp, g_seq, g_h, g_c, rec, res) -> tuple:
    """``(d_pre, dh_0, dc_0)`` of the sequence whose reserve is ``res``: ``d_pre`` ``(4 *
    units, steps, batch)``, the states' gradients ``(units, batch)``. Each step is one call
    of :func:`_backward_step` and one GEMM."""
    steps, width, batch = res.shape
    g_run = xp.ascontiguousarray(g_seq.transpose(1, 2, 0), dtype=_F32)
    dh = xp.array(g_h.T, dtype=_F32, order="C")
    dc = xp.array(g_c.T, dtype=_F32, order="C")
    d_pre = xp.empty((4 * width // 7, steps, batch), _F32)
    d = xp.empty((4 * width // 7, batch), _F32)
    step = _backward_step.resolve(g_run, res, dh, dc, d, d_pre, 0)  # the same at every step
    for t in reversed(range(steps)):
        step(g_run, res, dh, dc, d, d_pre, t)
        xp.matmul(rec, d, out=dh)
    return d_pre, dh, dc
