"""A GRU sequence of a single unmasked step, the call a streaming model makes for each frame.

At batch 1 a step is a handful of vector-matrix products and ufuncs on a few hundred
numbers, so the call costs what its NumPy calls cost: this kernel makes as few as it can
(``dot`` with ``out=``, the results written straight into the reserve) and skips what the
sequence loop sets up (the step closure, output and mask buffers). It fills the reserve
exactly as ``rillet.ops.rnn``'s loop does, so the backward op serves both.
"""

from __future__ import annotations


def gru_single_step(xp, x, h0, kernel, recurrent_kernel, bias, act, ract, reset_after: bool):
    """``(outputs, h, reserve)`` of a GRU over ``x`` of shape ``(batch, 1, features)``."""
    batch, u = h0.shape
    x_proj = xp.dot(x[:, 0], kernel)
    reserve = xp.empty((1, batch, (5 if reset_after else 4) * u), x_proj.dtype)
    res = reserve[0]
    zr, hh = res[:, : 2 * u], res[:, 2 * u : 3 * u]
    res[:, -u:] = h0
    if reset_after:
        inner = xp.dot(h0, recurrent_kernel)
        if bias is not None:
            x_proj += bias[0]
            inner += bias[1]
        xp.add(x_proj[:, : 2 * u], inner[:, : 2 * u], out=zr)
        ract(xp, zr)
        res[:, 3 * u : 4 * u] = inner[:, 2 * u :]  # the recurrent candidate h @ R_h + b_h
        xp.multiply(zr[:, u:], inner[:, 2 * u :], out=hh)
    else:
        if bias is not None:
            x_proj += bias
        xp.matmul(h0, recurrent_kernel[:, : 2 * u], out=zr)
        zr += x_proj[:, : 2 * u]
        ract(xp, zr)
        xp.matmul(zr[:, u:] * h0, recurrent_kernel[:, 2 * u :], out=hh)
    hh += x_proj[:, 2 * u :]
    act(xp, hh)
    h = h0 - hh  # h' = z * h + (1 - z) * h~ = h~ + z * (h - h~)
    h *= zr[:, :u]
    h += hh
    return h.reshape(batch, 1, u), xp.array(h, copy=True), reserve
