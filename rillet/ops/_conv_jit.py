"""The window copies of the 2-D convolutions as compiled loops (``rillet/ops/_jit.py``).

A convolution is GEMMs around two copies: im2col (every window of the input, padding
included, as one row of an ``(N*Ho*Wo, kh*kw*C)`` matrix) before the forward GEMM and the
filter-gradient GEMM, and col2im (each row of the input-gradient GEMM added back onto the
pixels its window read) after the input-gradient GEMM. NumPy does the first through a
strided view and the second one tap at a time; the loops below do each in one pass over
runs of C contiguous channels, and take the padding as bounds, so that no padded copy of
the input is made.

Both run a slice of the batch at a time (a few MB of window rows), so that the GEMM reads
the rows, or col2im adds them back, while they are in cache, and a large batch never holds
the whole matrix. Timings (float32, N=64, 13x13x32 input, 3x3 kernel to 64 channels, one
thread, CPU time): forward 1.48ms against 1.6ms (NumPy's copy of the window view, then one
GEMM), filter gradient 1.6ms against 1.75ms, input gradient 1.55ms against 2.3ms (one GEMM
per tap added into the window view). Results agree with the NumPy kernels of ``conv.py`` to
float rounding (sums run in another order).
"""

from __future__ import annotations

import numpy as np

from ._jit import flat_floats, loop_kernel

__all__: list[str] = []

_CHUNK = 1 << 19  # elements of the window matrix per slice of the batch (2 MB of float32)


def applies(*arrays) -> bool:
    """Whether the loops run: C-contiguous NumPy arrays of one floating dtype, none empty,
    and compiled loops on."""
    return (
        flat_floats(*arrays) and all(a.size for a in arrays) and _im2col_loop.compiled is not None
    )


def forward(x, filters, out_size: tuple, strides, dilations, pads, out) -> None:
    """Write into ``out`` (N*Ho*Wo, O) the conv2d (groups 1) of ``x`` (N, H, W, C): the
    window rows of ``x`` times ``filters`` as ``(kh*kw*C, O)``."""
    weights = filters.reshape(-1, filters.shape[-1])
    pixels = out_size[0] * out_size[1]
    for start, stop, rows in _window_rows(x, filters.shape, out_size, strides, dilations, pads):
        np.matmul(rows, weights, out=out[start * pixels : stop * pixels])


def filter_gradient(x, dy, f_shape: tuple, strides, dilations, pads) -> np.ndarray:
    """The gradient ``(kh*kw*C, O)`` of a conv2d (groups 1) with respect to its filters:
    the window rows of ``x`` transposed times the output gradient ``dy`` (N, Ho, Wo, O)."""
    out_size, o = dy.shape[1:3], dy.shape[-1]
    dy = dy.reshape(x.shape[0], -1, o)
    grad = np.zeros((f_shape[0] * f_shape[1] * x.shape[-1], o), dy.dtype)
    part = np.empty_like(grad)
    for start, stop, rows in _window_rows(x, f_shape, out_size, strides, dilations, pads):
        grad += np.matmul(rows.T, dy[start:stop].reshape(-1, o), out=part)
    return grad


def input_gradient(filters, dy, strides, dilations, pads, d_x) -> None:
    """Write into ``d_x`` (N, H, W, C) the gradient of a conv2d (groups 1) with respect to
    its input: ``dy @ filters^T`` (one row per window), added back onto the window's pixels."""
    kh, kw, c, o = filters.shape
    n, ho, wo = dy.shape[:3]
    weights_t = filters.reshape(kh * kw * c, o).T
    chunk = max(1, _CHUNK // (ho * wo * kh * kw * c))
    rows = np.empty((min(chunk, n), ho, wo, kh, kw, c), dy.dtype)
    d_x[...] = 0
    for start in range(0, n, chunk):
        part = dy[start : start + chunk]
        taps = rows[: part.shape[0]]
        np.matmul(part.reshape(-1, o), weights_t, out=taps.reshape(-1, kh * kw * c))
        _col2im_loop.compiled(
            taps, d_x[start : start + chunk], *strides, *dilations, pads[0][0], pads[1][0]
        )


def _window_rows(x, f_shape: tuple, out_size: tuple, strides, dilations, pads):
    """``(start, stop, rows)``: the window rows ``(images * Ho * Wo, kh*kw*C)`` of the images
    ``start:stop`` of ``x`` with zero ``pads``, one slice of the batch after another."""
    n, c = x.shape[0], x.shape[-1]
    kh, kw = f_shape[:2]
    chunk = max(1, _CHUNK // (out_size[0] * out_size[1] * kh * kw * c))
    cols = np.empty((min(chunk, n), *out_size, kh, kw, c), x.dtype)
    for start in range(0, n, chunk):
        part = cols[: min(chunk, n - start)]
        _im2col_loop.compiled(
            x[start : start + chunk], part, *strides, *dilations, pads[0][0], pads[1][0]
        )
        yield start, start + part.shape[0], part.reshape(-1, kh * kw * c)


@loop_kernel(aot=("in:{f}[:, :, :, ::1], {f}[:, :, :, :, :, ::1], i8, i8, i8, i8, i8, i8",))
def _im2col_loop(x, cols, s_h, s_w, d_h, d_w, top, left):
    """``cols[n, a, b, i, j] = x[n, a*s_h + i*d_h - top, b*s_w + j*d_w - left]``, or zeros
    where that pixel lies in the padding."""
    batch, rows, width, kh, kw, channels = cols.shape
    height, x_width = x.shape[1], x.shape[2]
    for n in range(batch):
        for a in range(rows):
            for b in range(width):
                for i in range(kh):
                    r = a * s_h + i * d_h - top
                    for j in range(kw):
                        s = b * s_w + j * d_w - left
                        dst = cols[n, a, b, i, j]
                        if 0 <= r < height and 0 <= s < x_width:
                            src = x[n, r, s]
                            for c in range(channels):
                                dst[c] = src[c]
                        else:
                            for c in range(channels):
                                dst[c] = 0


@loop_kernel(aot=("in:{f}[:, :, :, :, :, ::1], {f}[:, :, :, ::1], i8, i8, i8, i8, i8, i8",))
def _col2im_loop(cols, d_x, s_h, s_w, d_h, d_w, top, left):
    """The adjoint of :func:`_im2col_loop`: each window row of ``cols`` added onto the
    pixels of ``d_x`` it was read from (the padding is dropped)."""
    batch, rows, width, kh, kw, channels = cols.shape
    height, x_width = d_x.shape[1], d_x.shape[2]
    for n in range(batch):
        for a in range(rows):
            for b in range(width):
                for i in range(kh):
                    r = a * s_h + i * d_h - top
                    if r < 0 or r >= height:
                        continue
                    for j in range(kw):
                        s = b * s_w + j * d_w - left
                        if s < 0 or s >= x_width:
                            continue
                        src = cols[n, a, b, i, j]
                        dst = d_x[n, r, s]
                        for c in range(channels):
                            dst[c] += src[c]
