"""Compiled loops for the fused epilogue ops (``rillet.ops.epilogue``).

Each loop writes ``act(product + bias)`` into ``out`` in one pass over the output: the
product is accumulated from zero in each output row (which stays in L1), then the bias is
added and the activation applied, in the unfused ops' order (product, add, relu), so that
results differ from the unfused chain only by the summation order of the product.
``relu`` writes ``+0`` for every ``v <= 0`` and keeps NaN, as ``np.maximum(v, 0)`` does.
The loops index 2-D arrays of any layout; C-contiguous ones vectorize over the last axis.
"""

from __future__ import annotations

from ._jit import loop_kernel

__all__: list[str] = []


@loop_kernel(aot=("{f}[:, ::1], in:{f}[::1], b1",))
def bias_activation_loop(y, bias, relu):
    """``y[r] = act(y[r] + bias)`` in place, for ``y`` (rows, N) and ``bias`` (N,)."""
    for r in range(y.shape[0]):
        for n in range(y.shape[1]):
            v = y[r, n] + bias[n]
            if relu and v <= 0:
                y[r, n] = 0
            else:
                y[r, n] = v


@loop_kernel(
    aot=(
        "in:{f}[:, :, ::1], in:{f}[:, ::1], in:{f}[::1], {f}[:, :, ::1], b1",
        "in:{f}[:, :, :], in:{f}[:, :], in:{f}[:], {f}[:, :, :], b1",
    )
)
def linear_loop(x, w, bias, out, relu):
    """``out = act(x @ w + bias)`` for ``x`` (B, R, K), ``w`` (K, N), ``out`` (B, R, N)."""
    n_size = w.shape[1]
    for a in range(x.shape[0]):
        for r in range(x.shape[1]):
            row = out[a, r]
            for n in range(n_size):
                row[n] = 0
            for k in range(x.shape[2]):
                xv = x[a, r, k]
                for n in range(n_size):
                    row[n] += xv * w[k, n]
            for n in range(n_size):
                v = row[n] + bias[n]
                if relu and v <= 0:
                    row[n] = 0
                else:
                    row[n] = v
