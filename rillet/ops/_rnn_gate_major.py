"""The LSTM kernels of ``rillet.ops.rnn`` for unmasked sequences, in a gate-major layout.

Each step works on transposed, ``(rows, batch)`` blocks: the gate pre-activations of one step
are ``U' @ h`` with ``U'`` the recurrent kernel transposed, ``(4 * units, batch)``, so that
every gate is one contiguous block. NumPy runs an elementwise op on a contiguous block in a
single inner loop, against one loop per batch row on a column slice of ``(batch, 4 * units)``
(several times the cost at these sizes), and the blocks are laid out so that a few ops cover
several gates at once:

- the gates are kept in the order ``o, i, f, c~`` (the weights' columns are permuted once per
  call), so the three recurrent-activation gates are one block;
- with the sigmoid recurrent activation, its gates' weights and bias are halved once per call
  (exact in binary floating point), so that ``sigmoid(z) = 0.5 * tanh(z / 2) + 0.5`` needs a
  single ``tanh`` over all four gates, then one multiply and one add;
- the reserve of a step holds ``o, i, f, c~, c_{t-1}, act(c_t), h_{t-1}`` (``7 * units``
  rows): ``[i, f] * [c~, c_{t-1}]`` is one op, and the step writes its new ``c`` and ``h``
  straight into the next step's reserve, so the recurrence copies nothing.

Each step projects its own input with one GEMM before its recurrent one; the backward
loop keeps the pre-activation gradients of every step and finds the weight gradients with one
GEMM after it (x's gradient is a separate op, :func:`lstm_input_grad`). The reserve is
returned with the shape the op declares, ``(steps, batch, 7 * units)``; only these kernels
read it, as ``(steps, 7 * units, batch)``.

In float32 with the default activations (tanh, and the sigmoid as the recurrent one) and
compiled loops on, each step's gate math runs as one compiled loop instead of a dozen NumPy
calls (``_rnn_lstm_jit.py``), in the same layout and with the same reserve; the weight
gradients and x's are the same GEMMs.
"""

from __future__ import annotations

from . import _rnn_lstm_jit as _lstm_jit


def _gate_major(xp, a):
    """``a`` ``(n, 4 * units)`` with its column blocks moved from Keras's order ``i, f, c, o``
    to ``o, i, f, c`` (block copies: a column gather costs ten times as much)."""
    u = a.shape[-1] // 4
    out = xp.empty_like(a)
    out[..., :u] = a[..., 3 * u :]
    out[..., u:] = a[..., : 3 * u]
    return out


def _gate_major_t(xp, a):
    """``a`` ``(n, 4 * units)`` transposed, ``(4 * units, n)``, its rows in the order of
    :func:`_gate_major`. Copied 32 rows of ``a`` at a time: NumPy's transposing copy of a
    whole matrix strides through memory and takes three times as long."""
    u = a.shape[-1] // 4
    out = xp.empty((a.shape[-1], a.shape[0]), a.dtype)
    for i in range(0, a.shape[0], 32):
        out[:u, i : i + 32] = a[i : i + 32, 3 * u :].T
        out[u:, i : i + 32] = a[i : i + 32, : 3 * u].T
    return out


def _keras_order(xp, a):
    """The inverse of :func:`_gate_major`: column blocks ``o, i, f, c`` back to ``i, f, c,
    o``."""
    u = a.shape[-1] // 4
    out = xp.empty_like(a)
    out[..., : 3 * u] = a[..., u:]
    out[..., 3 * u :] = a[..., :u]
    return out


def _halve_sigmoid_rows(a, units: int, sigmoid: bool):
    if sigmoid:
        a[: 3 * units] *= 0.5
    return a


def _input_weights(xp, x, kernel, bias, sigmoid, go_backwards):
    """``(kernel', x_run, bias')``: the kernel transposed in gate-major order, x as ``(steps,
    features, batch)`` in run order (a view), and the bias as a column, or None. Each step
    projects its own input (``kernel' @ x_run[t]``, a GEMM on data the step is about to use)
    rather than all steps up front: the same products, without a ``(steps, 4 * units,
    batch)`` buffer to fill and read back from memory."""
    units = kernel.shape[1] // 4
    kernel_t = _halve_sigmoid_rows(_gate_major_t(xp, kernel), units, sigmoid)
    x_run = x.transpose(1, 2, 0)[::-1] if go_backwards else x.transpose(1, 2, 0)
    if bias is None:
        return kernel_t, x_run, None
    return kernel_t, x_run, _halve_sigmoid_rows(_gate_major(xp, bias), units, sigmoid)[:, None]


def lstm_forward(xp, x, h0, c0, kernel, recurrent_kernel, bias, acts, go_backwards):
    """``(outputs, h, c, reserve)`` of an unmasked LSTM sequence of at least one step;
    ``acts`` are ``(act, ract, sigmoid, tanh)``: the in-place activation and recurrent
    activation, whether the recurrent one is the sigmoid and whether the activation is tanh.
    With both in float32, each step's gate math is one compiled loop (``_rnn_lstm_jit``)."""
    act, ract, sigmoid, tanh = acts
    batch, steps, _ = x.shape
    u = h0.shape[-1]
    kernel_t, x_run, bias_t = _input_weights(xp, x, kernel, bias, sigmoid, go_backwards)
    rec_t = _halve_sigmoid_rows(_gate_major_t(xp, recurrent_kernel), u, sigmoid)
    if _lstm_jit.applies(x, recurrent_kernel, sigmoid and tanh):
        res, h_last, c_last = _lstm_jit.lstm_forward(
            xp, x, h0, c0, kernel_t, rec_t, bias_t, go_backwards
        )
    else:
        res = xp.empty((steps, 7 * u, batch), rec_t.dtype)
        h_last, c_last = _forward_steps(xp, x_run, h0, c0, kernel_t, rec_t, bias_t, acts, res)
    outputs = xp.empty((batch, steps, u), res.dtype)
    for t in range(steps - 1):  # a step at a time: faster than one transposing copy
        outputs[:, t] = res[t + 1, 6 * u :].T
    outputs[:, steps - 1] = h_last.T
    h, c = xp.ascontiguousarray(h_last.T), xp.ascontiguousarray(c_last.T)
    return outputs, h, c, res.reshape(steps, batch, 7 * u)


def _forward_steps(xp, x_run, h0, c0, kernel_t, rec_t, bias_t, acts, res):
    """The recurrence as a loop of NumPy calls: fills the reserve ``res`` and returns the
    last ``(h, c)`` as ``(units, batch)``."""
    act, ract, sigmoid, tanh = acts
    steps, _, batch = res.shape
    u = rec_t.shape[1]
    dtype = res.dtype
    res[0, 4 * u : 5 * u] = c0.T
    res[0, 6 * u :] = h0.T
    last = xp.empty((2 * u, batch), dtype)  # the final c and h
    products = xp.empty((2 * u, batch), dtype)
    proj = xp.empty((4 * u, batch), dtype)
    for t in range(steps):
        r = res[t]
        nxt = res[t + 1, 4 * u :] if t + 1 < steps else None
        c_new = last[:u] if nxt is None else nxt[:u]
        h_new = last[u:] if nxt is None else nxt[2 * u :]
        gates = r[: 4 * u]
        xp.matmul(rec_t, r[6 * u :], out=gates)
        xp.matmul(kernel_t, x_run[t], out=proj)
        gates += proj
        if bias_t is not None:
            gates += bias_t
        _gate_activations(xp, gates, u, act, ract, sigmoid, tanh)
        xp.multiply(r[u : 3 * u], r[3 * u : 5 * u], out=products)  # [i * c~, f * c_{t-1}]
        xp.add(products[:u], products[u:], out=c_new)
        a = r[5 * u : 6 * u]
        if tanh:
            xp.tanh(c_new, out=a)
        else:
            a[...] = c_new
            act(xp, a)
        xp.multiply(r[:u], a, out=h_new)
    return last[u:], last[:u]


def _gate_activations(xp, gates, u, act, ract, sigmoid, tanh):
    """The gates' activations in place: ``o, i, f`` through the recurrent activation, ``c~``
    through the activation. With the sigmoid (rows pre-halved) and tanh: one tanh, then the
    affine map ``0.5 * t + 0.5`` on the sigmoid rows."""
    if sigmoid and tanh:
        xp.tanh(gates, out=gates)
    else:
        act(xp, gates[3 * u :])
        if not sigmoid:
            ract(xp, gates[: 3 * u])
            return
        xp.tanh(gates[: 3 * u], out=gates[: 3 * u])
    s = gates[: 3 * u]
    s *= 0.5
    s += 0.5


def lstm_backward(xp, g_seq, g_h, g_c, x, kernel, recurrent_kernel, reserve, grads, go_backwards):
    """``(d_gates, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias)`` of an unmasked
    sequence run by :func:`lstm_forward`; ``grads`` are ``(act_grad, ract_grad, sigmoid,
    tanh)``: the in-place derivative functions of the activation and the recurrent
    activation, and the flags of :func:`lstm_forward`'s ``acts``. ``d_gates`` holds the
    pre-activation gradients for :func:`lstm_input_grad`."""
    batch, steps, features = x.shape
    u = recurrent_kernel.shape[0]
    res = reserve.reshape(steps, 7 * u, batch)
    rec = _gate_major(xp, recurrent_kernel)
    if _lstm_jit.applies(x, recurrent_kernel, grads[2] and grads[3]):
        d_pre, dh, dc = _lstm_jit.lstm_backward(xp, g_seq, g_h, g_c, rec, res)
    else:
        d_pre, dh, dc = _backward_steps(xp, g_seq, g_h, g_c, rec, res, grads[:2])
    d_kernel, d_recurrent, d_bias = _weight_grads(xp, d_pre, res, x, go_backwards)
    d_h0, d_c0 = xp.ascontiguousarray(dh.T), xp.ascontiguousarray(dc.T)
    d_gates = d_pre.reshape(steps, batch, 4 * u)  # for lstm_input_grad, which knows the layout
    return d_gates, d_h0, d_c0, d_kernel, d_recurrent, d_bias


def _backward_steps(xp, g_seq, g_h, g_c, rec, res, grads):
    """The backward recurrence as a loop of NumPy calls: ``(d_pre, dh_0, dc_0)``, every
    step's pre-activation gradients ``(4 * units, steps, batch)`` and the first states'
    gradients ``(units, batch)``."""
    act_grad, ract_grad = grads
    steps, _, batch = res.shape
    u = rec.shape[0]
    g_run = xp.ascontiguousarray(g_seq.transpose(1, 2, 0))
    d_pre = xp.empty((4 * u, steps, batch), g_run.dtype)  # the GEMMs after the loop want it so
    d = xp.empty((4 * u, batch), g_run.dtype)  # this step's, contiguous for the ops below
    dh, dc = xp.array(g_h.T, order="C"), xp.array(g_c.T, order="C")
    d_cell = xp.empty((u, batch), g_run.dtype)
    for t in reversed(range(steps)):
        r = res[t]
        dh += g_run[t]
        xp.multiply(dh, r[5 * u : 6 * u], out=d[:u])  # o: dh * act(c_t)
        xp.multiply(dh, r[:u], out=d_cell)  # c_t: dh * o * act'(c_t) + the carried dc
        act_grad(xp, d_cell, r[5 * u : 6 * u])
        d_cell += dc
        pairs = d[u : 3 * u].reshape(2, u, batch)  # i: dc * c~, f: dc * c_{t-1}
        xp.multiply(d_cell, r[3 * u : 5 * u].reshape(2, u, batch), out=pairs)
        xp.multiply(d_cell, r[u : 2 * u], out=d[3 * u :])  # c~: dc * i
        ract_grad(xp, d[: 3 * u], r[: 3 * u])
        act_grad(xp, d[3 * u :], r[3 * u : 4 * u])
        xp.multiply(d_cell, r[2 * u : 3 * u], out=dc)
        xp.matmul(rec, d, out=dh)
        d_pre[:, t] = d
    return d_pre, dh, dc


def _weight_grads(xp, d_pre, res, x, go_backwards):
    """``d_kernel, d_recurrent_kernel, d_bias`` from every step's pre-activation gradients
    ``(4 * units, steps, batch)``: one GEMM over all steps at once for both kernels (x and
    the previous h stacked, so the gradients are packed once) and a matrix-vector product for
    the bias (a row of ones in the GEMM made its row count odd: 8% slower), with the columns
    put back in Keras order."""
    batch, steps, features = x.shape
    u = d_pre.shape[0] // 4
    d_flat = d_pre.reshape(4 * u, steps * batch)
    inputs = xp.empty((features + u, steps, batch), d_flat.dtype)
    x_run = x.transpose(2, 1, 0)
    inputs[:features] = x_run[:, ::-1] if go_backwards else x_run
    inputs[features:] = res[:, 6 * u :].transpose(1, 0, 2)  # h_{t-1}
    stacked = inputs.reshape(features + u, steps * batch)
    d_all = xp.empty((features + u + 1, 4 * u), d_flat.dtype)
    xp.matmul(stacked, d_flat.T, out=d_all[:-1])
    xp.matmul(d_flat, xp.ones(steps * batch, d_flat.dtype), out=d_all[-1])  # the sum
    d_all = _keras_order(xp, d_all)
    return d_all[:features], d_all[features:-1], d_all[-1]


def lstm_input_grad(xp, d_gates, kernel, go_backwards):
    """x's gradient from the ``d_gates`` that :func:`lstm_backward` returns (its
    ``(4 * units, steps, batch)`` pre-activation gradients, seen as ``(steps, batch, 4 *
    units)``): one GEMM, then back from run order."""
    steps, batch, width = d_gates.shape
    d_flat = d_gates.reshape(width, steps * batch)
    d_x_run = xp.matmul(d_flat.T, _gate_major_t(xp, kernel)).reshape(steps, batch, len(kernel))
    if go_backwards:
        d_x_run = d_x_run[::-1]
    return xp.ascontiguousarray(d_x_run.transpose(1, 0, 2))
