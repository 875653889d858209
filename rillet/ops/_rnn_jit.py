"""A GRU sequence as one compiled loop (``rillet/ops/_jit.py``), for small batches.

At batch 1 a GRU step is a vector-matrix product and a few hundred gate values: NumPy does
each in a few microseconds of call overhead, a dozen calls a step. This kernel runs every
step in one compiled call: the inputs of all steps are projected first (one GEMM, outside
the loop; a single step, a streaming frame, is projected inside it), then each step
accumulates ``h @ recurrent_kernel`` four rows of the kernel at a time (flat loops over
contiguous rows, which vectorize; each row is read once a step for all the batch rows) and
computes the gates with the values in registers.

It computes what :func:`rillet.ops.rnn.gru_forward`'s NumPy loop computes (Keras 3's GRU,
``reset_after`` either way, masks, ``go_backwards``) and fills the same reserve, so the same
backward op serves both. Only ``tanh`` and ``sigmoid`` (as the activation and the
recurrent activation, Keras's defaults) in float32 run here; anything else takes the NumPy
loop. The sums of the product run in another order than BLAS's, and ``tanh`` is a rational
approximation (the one Eigen and ONNX Runtime's MLAS use: within 6 ulp of the exact value
for float32, against 2 ulp for NumPy's own), because the C library's tanh is a scalar call
that costs 20 times the approximation's vectorized loop: the two paths agree to float32
rounding, not bit for bit.

Timing (one BLAS thread, CPU time, 128 units on 64 features, float32, the op's whole kernel
against the NumPy loop's): 98 steps at batch 1, 0.23 ms against 1.0 ms; 50 steps at batch
1, 4 and 8, 0.14, 0.46 and 0.84 ms against 0.54, 1.07 and 1.29 ms; the two are even near
batch 16 (:data:`MAX_BATCH` is 8). A streaming frame (one unmasked step) has a loop of its
own, :func:`_gru_frame`, writing into arrays the caller makes (the sequence loop makes six
and returns three): at batch 1, 4.1 us for the op's kernel against 13.6 us for the NumPy
loop, of which the two vector-matrix products take ~2.6 (about BLAS's time for them); a
compiled graph calls it through :func:`specialize_frame`, the checks done once.
"""

from __future__ import annotations

import numpy as np

from ._jit import loop_helper, loop_kernel, tanh32

__all__: list[str] = []

# Batches up to this size run compiled: the loop reads each recurrent row once a step for
# every batch row, while BLAS's GEMM in the NumPy loop wins once there are enough rows.
MAX_BATCH = 8

_F32 = np.dtype(np.float32)

# The loop reads the recurrent kernel row by row: another layout (the orthogonal
# initializer's is column-major) is copied first, once a call, which costs about as much as
# five steps of the NumPy loop (whose BLAS reads either layout): short sequences skip it.
MIN_STEPS_TO_COPY = 6


def applies(x, h0, recurrent_kernel, activation: str, recurrent_activation: str) -> bool:
    """Whether the compiled loop runs this GRU: float32, the default activations, a small
    batch, a row-major recurrent kernel or enough steps to pay for a copy, and compiled
    loops on."""
    return (
        activation == "tanh"
        and recurrent_activation == "sigmoid"
        and x.dtype == _F32
        and h0.dtype == _F32
        and 0 < x.shape[0] <= MAX_BATCH
        and (recurrent_kernel.flags.c_contiguous or x.shape[1] >= MIN_STEPS_TO_COPY)
        and _gru_loop.compiled is not None
    )


def gru_forward(xp, x, h0, kernel, recurrent_kernel, bias, mask, go_backwards: bool,
                zero_output: bool, reset_after: bool) -> tuple:  # fmt: skip
    """``(outputs, h, reserve)`` as :func:`rillet.ops.rnn.gru_forward` returns them."""
    batch, steps, features = x.shape
    units = recurrent_kernel.shape[0]
    biases = _biases(xp, bias, units, reset_after)
    if steps == 1 and mask is None and reset_after:  # a streaming frame
        outputs, h = xp.empty((batch, 1, units), _F32), xp.empty((batch, units), _F32)
        reserve = xp.empty((1, batch, 5 * units), _F32)
        _gru_frame.compiled(
            xp.ascontiguousarray(x).reshape(batch, features), xp.ascontiguousarray(kernel),
            xp.ascontiguousarray(h0), xp.ascontiguousarray(recurrent_kernel), biases,
            outputs, h, reserve,
        )  # fmt: skip
        return outputs, h, reserve
    if steps == 1:  # the loop projects a single step's input, saving two NumPy calls
        proj = _NO_PROJECTION
    else:  # every step's input at once, in one GEMM
        proj = xp.matmul(x.reshape(batch * steps, features), kernel)
        proj += biases[0]
        proj = proj.reshape(batch, steps, 3 * units)
    return _gru_loop.compiled(
        xp.ascontiguousarray(x), xp.ascontiguousarray(kernel), proj, xp.ascontiguousarray(h0),
        xp.ascontiguousarray(recurrent_kernel), biases,
        _NO_MASK if mask is None else xp.ascontiguousarray(mask),
        go_backwards, zero_output, reset_after,
    )  # fmt: skip


def specialize_frame(x, h0, kernel, recurrent_kernel, bias, mask, *, go_backwards=False,
                     zero_output_for_mask=False, activation="tanh",
                     recurrent_activation="sigmoid", reset_after=True):  # fmt: skip
    """For a compiled graph: ``run(x, h0, kernel, recurrent_kernel, bias, mask, out)`` doing
    what ``gru_forward``'s kernel does on arrays of these static specs (anything with
    ``.shape`` and ``.dtype``; ``None`` for an absent input) when they are a streaming frame
    that :func:`_gru_frame` takes, else None (``out`` is unused: the three outputs are new
    arrays). The kernel's checks are done here, once: on a frame they cost a fifth of the
    step."""
    specs = [v for v in (x, h0, kernel, recurrent_kernel, bias) if v is not None]
    if (
        (activation, recurrent_activation) != ("tanh", "sigmoid")
        or not reset_after
        or mask is not None
        or any(v.dtype != _F32 or None in v.shape for v in specs)
        or len(x.shape) != 3
        or x.shape[1] != 1
        or not 0 < x.shape[0] <= MAX_BATCH
        or _gru_frame.compiled is None
    ):
        return None
    batch, _, features = x.shape
    units = recurrent_kernel.shape[0]
    if bias is not None and tuple(bias.shape) != (2, 3 * units):
        return None
    # What gru_forward's frame branch does, with the shapes bound now: a call less per frame.
    # The arrays run passes are C-contiguous float32 of these shapes, so the loop's compiled
    # form for such arrays is bound now too (its argument checks cost a quarter of a frame).
    no_bias = np.zeros((2, 3 * units), _F32)
    o_shape, h_shape, r_shape = (batch, 1, units), (batch, units), (1, batch, 5 * units)
    shapes = ((batch, features), kernel.shape, h0.shape, recurrent_kernel.shape, no_bias.shape)
    shapes += (o_shape, h_shape, r_shape)
    frame = _gru_frame.resolve(*[np.empty(tuple(shape), _F32) for shape in shapes])
    contiguous, empty = np.ascontiguousarray, np.empty

    def run(x, h0, kernel, recurrent_kernel, bias, mask, out=None):
        outputs, h, reserve = empty(o_shape, _F32), empty(h_shape, _F32), empty(r_shape, _F32)
        frame(
            contiguous(x).reshape(batch, features), contiguous(kernel), contiguous(h0),
            contiguous(recurrent_kernel), no_bias if bias is None else contiguous(bias),
            outputs, h, reserve,
        )  # fmt: skip
        return outputs, h, reserve

    return run


def _biases(xp, bias, units: int, reset_after: bool):
    """``(2, 3 * units)``: the input bias, then the recurrent one (zeros where there is
    none)."""
    if bias is not None and reset_after:
        return xp.ascontiguousarray(bias)
    biases = xp.zeros((2, 3 * units), _F32)
    if bias is not None:
        biases[0] = bias
    return biases


_NO_MASK = np.ones((0, 0), bool)
_NO_PROJECTION = np.empty((0, 0, 0), np.float32)
_HALF = np.float32(0.5)
_ZERO = np.float32(0.0)


@loop_kernel(
    aot=(
        "in:f4[:, :, ::1], in:f4[:, ::1], in:f4[:, :, ::1], in:f4[:, ::1], in:f4[:, ::1], "
        "in:f4[:, ::1], in:b1[:, ::1], b1, b1, b1"
        " -> Tuple((f4[:, :, ::1], f4[:, ::1], f4[:, :, ::1]))",
    )
)
def _gru_loop(x, kernel, proj, h0, rk, biases, mask, go_backwards, zero_output, reset_after):
    """``(outputs, h, reserve)``, as the NumPy loop gives them, of the GRU over every step of
    ``x`` ``(batch, steps, features)`` from ``h0`` ``(batch, units)``: ``proj`` ``(batch,
    steps, 3 * units)`` holds the projected inputs, input bias included, or is empty for the
    loop to project each step's input with ``kernel`` ``(features, 3 * units)``; ``rk``
    ``(units, 3 * units)``; ``biases`` ``(2, 3 * units)`` the input and recurrent biases;
    ``mask`` ``(batch, steps)`` or ``(0, 0)`` for none."""
    batch, steps, features = x.shape
    u = rk.shape[0]
    n = 3 * u
    width = (5 if reset_after else 4) * u
    h = h0.copy()
    outputs = np.empty((batch, steps, u), rk.dtype)
    reserve = np.empty((steps, batch, width), rk.dtype)
    inner = np.empty((batch, n), rk.dtype)
    x_proj = np.empty((batch, n), rk.dtype)
    shown = np.zeros((batch, u), rk.dtype)

    for t in range(steps):
        source = steps - 1 - t if go_backwards else t
        if proj.size == 0:
            _accumulate(x_proj, x[:, source], kernel, 0, n)
            for b in range(batch):
                for j in range(n):
                    x_proj[b, j] += biases[0, j]
        _accumulate(inner, h, rk, 0, n if reset_after else 2 * u)
        for b in range(batch):
            p = x_proj[b] if proj.size == 0 else proj[b, source]
            res, hb, a = reserve[t, b], h[b], inner[b]
            res[width - u :] = hb
            if reset_after:
                for j in range(n):
                    a[j] += biases[1, j]
            for j in range(2 * u):  # z and r: sigmoid(x) = 0.5 * tanh(0.5 * x) + 0.5
                res[j] = _HALF * tanh32(_HALF * (p[j] + a[j])) + _HALF
            if reset_after:  # h~ = tanh(x_h + r * (h @ R_h + b_h))
                for j in range(u):
                    res[3 * u + j] = a[2 * u + j]
                    res[2 * u + j] = tanh32(p[2 * u + j] + res[u + j] * a[2 * u + j])
        if not reset_after:  # h~ = tanh(x_h + (r * h) @ R_h)
            for b in range(batch):
                for j in range(u):
                    inner[b, 2 * u + j] = reserve[t, b, u + j] * h[b, j]
            _accumulate(inner[:, :u], inner[:, 2 * u :], rk, 2 * u, n)
            for b in range(batch):
                p = x_proj[b] if proj.size == 0 else proj[b, source]
                res = reserve[t, b]
                for j in range(u):
                    res[2 * u + j] = tanh32(p[2 * u + j] + inner[b, j])
        for b in range(batch):
            res, hb = reserve[t, b], h[b]
            keep = mask.shape[0] == 0 or mask[b, source]
            for j in range(u):
                hh = res[2 * u + j]
                h_new = hh + res[j] * (hb[j] - hh)  # z * h + (1 - z) * h~
                if keep:
                    hb[j] = h_new
                    shown[b, j] = h_new
                elif zero_output:
                    shown[b, j] = _ZERO
                outputs[b, t, j] = shown[b, j]
    return outputs, h, reserve


@loop_kernel(
    aot=(
        "in:f4[:, ::1], in:f4[:, ::1], in:f4[:, ::1], in:f4[:, ::1], in:f4[:, ::1], "
        "f4[:, :, ::1], f4[:, ::1], f4[:, :, ::1]",
    )
)
def _gru_frame(x, kernel, h0, rk, biases, outputs, h, reserve):
    """Fills ``outputs, h, reserve`` of one step of a ``reset_after`` GRU without a mask (a
    streaming frame) as :func:`_gru_loop` computes them; ``x`` ``(batch, features)``."""
    batch = x.shape[0]
    u = rk.shape[0]
    n = 3 * u
    p, a = np.empty(n, rk.dtype), np.empty(n, rk.dtype)
    for b in range(batch):
        res = reserve[0, b]
        _vector_matrix(p, x[b], kernel)
        _vector_matrix(a, h0[b], rk)
        for j in range(n):
            p[j] += biases[0, j]
            a[j] += biases[1, j]
        for j in range(u):
            res[4 * u + j] = h0[b, j]
            res[3 * u + j] = a[2 * u + j]
        for j in range(2 * u):  # z and r: sigmoid(x) = 0.5 * tanh(0.5 * x) + 0.5
            res[j] = _HALF * tanh32(_HALF * (p[j] + a[j])) + _HALF
        for j in range(u):  # h~ = tanh(x_h + r * (h @ R_h + b_h))
            hh = tanh32(p[2 * u + j] + res[u + j] * a[2 * u + j])
            res[2 * u + j] = hh
            h[b, j] = hh + res[j] * (h0[b, j] - hh)  # z * h + (1 - z) * h~
            outputs[b, 0, j] = h[b, j]


@loop_helper
def _accumulate(acc, v, m, lo, hi):
    """``acc[:, : hi - lo] = v @ m[:, lo:hi]`` for every row of ``v``, four rows of ``m`` at
    a time (flat loops over contiguous rows, which vectorize; each read once for all the
    rows of ``v``)."""
    batch = v.shape[0]
    acc[:, : hi - lo] = _ZERO
    rows = m.shape[0]
    quads = rows - rows % 4
    for i in range(0, quads, 4):
        r0, r1, r2, r3 = m[i, lo:hi], m[i + 1, lo:hi], m[i + 2, lo:hi], m[i + 3, lo:hi]
        for b in range(batch):
            a = acc[b]
            v0, v1, v2, v3 = v[b, i], v[b, i + 1], v[b, i + 2], v[b, i + 3]
            for j in range(hi - lo):
                a[j] += (v0 * r0[j] + v1 * r1[j]) + (v2 * r2[j] + v3 * r3[j])
    for i in range(quads, rows):
        for b in range(batch):
            for j in range(hi - lo):
                acc[b, j] += v[b, i] * m[i, lo + j]


@loop_helper
def _vector_matrix(acc, v, m):
    """``acc[:] = v @ m`` for one vector ``v``: :func:`_accumulate`'s sums in its order, on
    whole rows without the batch and column slices, which cost a frame (batch 1, 128
    units) 3.7 us against 3.2."""
    acc[:] = _ZERO
    rows = m.shape[0]
    quads = rows - rows % 4
    for i in range(0, quads, 4):
        r0, r1, r2, r3 = m[i], m[i + 1], m[i + 2], m[i + 3]
        v0, v1, v2, v3 = v[i], v[i + 1], v[i + 2], v[i + 3]
        for j in range(acc.shape[0]):
            acc[j] += (v0 * r0[j] + v1 * r1[j]) + (v2 * r2[j] + v3 * r3[j])
    for i in range(quads, rows):
        for j in range(acc.shape[0]):
            acc[j] += v[i] * m[i, j]
