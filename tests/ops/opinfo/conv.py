"""OpInfo rows for the convolutions, with naive loop references written independently of
rillet's kernels (explicit loops over output pixels and kernel taps)."""

from __future__ import annotations

import itertools
import math

import numpy as np

import rillet as rl
from rillet.testing.opinfo import OpInfo, Sample, randn

# ------------------------------------------------------------------ independent references


def _pair(value, n=2):
    return (value,) * n if isinstance(value, int) else tuple(value)


def tf_pads(size, kernel, stride, dilation, padding):
    """(before, after) padding of one spatial axis, from TF's documented formulas."""
    extent = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (extent - 1, 0)
    if padding == "same":
        total = max((math.ceil(size / stride) - 1) * stride + extent - size, 0)
        return (total // 2, total - total // 2)
    raise ValueError(padding)


def _all_pads(spatial, kernel, strides, dilations, padding):
    if isinstance(padding, str):
        return [tf_pads(*a, padding) for a in zip(spatial, kernel, strides, dilations)]
    return [tuple(p) for p in padding]


def _setup(x_shape, w, strides, padding, dilations):
    n = w.ndim - 2
    strides, dilations = _pair(strides, n), _pair(dilations, n)
    pads = _all_pads(x_shape[1:-1], w.shape[:n], strides, dilations, padding)
    out = [
        (size + a + b - (k - 1) * d - 1) // s + 1
        for size, (a, b), k, s, d in zip(x_shape[1:-1], pads, w.shape[:n], strides, dilations)
    ]
    return strides, dilations, pads, out


def naive_conv(x, w, strides=1, padding="valid", dilations=1, groups=1):
    """1-D or 2-D grouped convolution by explicit loops (1-D runs as height 1)."""
    if x.ndim == 3:
        y = naive_conv(
            x[:, None],
            w[None],
            (1, *_pair(strides, 1)),
            _as_2d(padding),
            (1, *_pair(dilations, 1)),
            groups,
        )
        return y[:, 0]
    (sh, sw), (dh, dw), pads, (ho, wo) = _setup(x.shape, w, strides, padding, dilations)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    y = np.zeros((x.shape[0], ho, wo, w.shape[-1]))
    for n, h, v, i, j, cin, cout in _every_tap(y.shape, w.shape, groups):
        y[n, h, v, cout] += xp[n, h * sh + i * dh, v * sw + j * dw, cin] @ w[i, j, :, cout]
    return y


def _every_tap(y_shape, w_shape, groups):
    """Output pixel (n, h, v), kernel tap (i, j) and a group's input and output channels."""
    kh, kw, cg, o = w_shape
    og = o // groups
    for n, h, v, g, i, j in itertools.product(
        *map(range, y_shape[:3]), range(groups), range(kh), range(kw)
    ):
        yield n, h, v, i, j, slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)


def _as_2d(padding):
    return padding if isinstance(padding, str) else [(0, 0), *padding]


def naive_backprop_input(w, dy, input_shape, strides=1, padding="valid", dilations=1, groups=1):
    """Gradient of naive_conv w.r.t. its input: each output pixel scatters back through w."""
    (sh, sw), (dh, dw), pads, _ = _setup(input_shape, w, strides, padding, dilations)
    n_, h_, w_, c = input_shape
    dxp = np.zeros((n_, h_ + sum(pads[0]), w_ + sum(pads[1]), c))
    for n, h, v, i, j, cin, cout in _every_tap(dy.shape, w.shape, groups):
        dxp[n, h * sh + i * dh, v * sw + j * dw, cin] += w[i, j, :, cout] @ dy[n, h, v, cout]
    return dxp[:, pads[0][0] : pads[0][0] + h_, pads[1][0] : pads[1][0] + w_]


def naive_backprop_filter(x, dy, filter_shape, strides=1, padding="valid", dilations=1, groups=1):
    """Gradient of naive_conv w.r.t. its filters: input windows times output gradients."""
    w = np.zeros(filter_shape)
    (sh, sw), (dh, dw), pads, _ = _setup(x.shape, w, strides, padding, dilations)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    for n, h, v, i, j, cin, cout in _every_tap(dy.shape, w.shape, groups):
        pixel = xp[n, h * sh + i * dh, v * sw + j * dw, cin]
        w[i, j, :, cout] += np.outer(pixel, dy[n, h, v, cout])
    return w


def keras_transpose_size(size, kernel, stride, dilation, padding):
    """Keras ``deconv_output_length`` without output padding."""
    extent = (kernel - 1) * dilation + 1
    return size * stride if padding == "same" else size * stride + max(extent - stride, 0)


def naive_conv_transpose(x, w, output_shape=None, strides=1, padding="valid", dilations=1):
    """Transposed conv, filters (k..., out, in): the input-gradient of naive_conv."""
    if x.ndim == 3:
        shape = None if output_shape is None else (output_shape[0], 1, *output_shape[1:])
        y = naive_conv_transpose(
            x[:, None], w[None], shape, (1, *_pair(strides, 1)), padding, (1, *_pair(dilations, 1))
        )
        return y[:, 0]
    if output_shape is None:
        sizes = [
            keras_transpose_size(*a, padding)
            for a in zip(x.shape[1:3], w.shape[:2], _pair(strides), _pair(dilations))
        ]
        output_shape = (x.shape[0], *sizes, w.shape[2])
    return naive_backprop_input(w, x, tuple(output_shape), strides, padding, dilations)


def naive_depthwise(x, w, strides=1, padding="valid", dilations=1):
    """Depthwise conv by explicit loops: output channel c * m + k from input channel c."""
    lead = w.shape[:-2]
    c, m = w.shape[-2:]
    y = [
        naive_conv(
            x[..., ch : ch + 1], w[..., ch, :].reshape(*lead, 1, m), strides, padding, dilations
        )
        for ch in range(c)
    ]
    return np.concatenate(y, axis=-1)


# ------------------------------------------------------------------------------ sample sets


def _conv2d_samples(rng, dtype):
    cases = [
        ((1, 4, 5, 2), (2, 3, 2, 3), {"strides": (1, 2)}),
        ((2, 5, 4, 2), (3, 2, 2, 2), {"strides": 2, "padding": "same"}),
        ((1, 5, 5, 4), (2, 2, 2, 2), {"dilations": 2, "padding": "same", "groups": 2}),
        ((1, 4, 4, 3), (2, 3, 1, 3), {"padding": "same", "groups": 3}),  # depthwise
        ((1, 3, 4, 2), (2, 2, 1, 4), {"padding": [[1, 0], [0, 2]], "groups": 2}),
    ]
    return [Sample((randn(rng, x, dtype), randn(rng, w, dtype)), kw) for x, w, kw in cases]


def _conv1d_samples(rng, dtype):
    cases = [
        ((2, 7, 2), (3, 2, 3), {"strides": 2}),
        ((1, 5, 3), (2, 3, 2), {"strides": 2, "padding": "same"}),
        ((1, 6, 2), (3, 2, 2), {"dilations": 2, "padding": "same"}),
        ((1, 6, 4), (2, 2, 4), {"dilations": 2, "padding": "causal", "groups": 2}),
    ]
    return [Sample((randn(rng, x, dtype), randn(rng, w, dtype)), kw) for x, w, kw in cases]


def _depthwise_conv2d_samples(rng, dtype):
    cases = [
        ((1, 5, 4, 2), (3, 2, 2, 2), {"strides": 2, "padding": "same"}),
        ((1, 4, 4, 3), (2, 2, 3, 1), {"dilations": 2}),
    ]
    return [Sample((randn(rng, x, dtype), randn(rng, w, dtype)), kw) for x, w, kw in cases]


def _depthwise_conv1d_samples(rng, dtype):
    return [
        Sample((randn(rng, (1, 6, 2), dtype), randn(rng, (3, 2, 2), dtype)), {"padding": "causal"})
    ]


def _conv2d_transpose_samples(rng, dtype):
    cases = [
        ((1, 3, 3, 2), (3, 3, 3, 2), {}),
        ((1, 3, 2, 2), (3, 3, 3, 2), {"strides": 2, "padding": "same"}),
        ((1, 2, 3, 2), (2, 2, 2, 2), {"strides": 2, "output_shape": (1, 5, 7, 2)}),
        ((1, 3, 3, 1), (2, 2, 2, 1), {"dilations": 2, "padding": "same"}),
    ]
    return [Sample((randn(rng, x, dtype), randn(rng, w, dtype)), kw) for x, w, kw in cases]


def _conv1d_transpose_samples(rng, dtype):
    cases = [
        ((1, 3, 2), (3, 3, 2), {"strides": 2, "padding": "same"}),
        ((2, 3, 2), (2, 1, 2), {"strides": 3}),
    ]
    return [Sample((randn(rng, x, dtype), randn(rng, w, dtype)), kw) for x, w, kw in cases]


def _backprop_input_samples(rng, dtype):
    cases = [
        (
            (3, 3, 2, 3),
            (1, 3, 3, 3),
            {"input_shape": (1, 5, 5, 2), "strides": 2, "padding": "same"},
        ),
        ((2, 2, 2, 4), (1, 3, 3, 4), {"input_shape": (1, 4, 4, 4), "groups": 2}),
    ]
    return [Sample((randn(rng, w, dtype), randn(rng, dy, dtype)), kw) for w, dy, kw in cases]


def _backprop_filter_samples(rng, dtype):
    cases = [
        (
            (1, 5, 5, 2),
            (1, 3, 3, 3),
            {"filter_shape": (3, 3, 2, 3), "strides": 2, "padding": "same"},
        ),
        ((1, 5, 5, 4), (1, 3, 3, 4), {"filter_shape": (2, 2, 2, 4), "dilations": 2, "groups": 2}),
    ]
    return [Sample((randn(rng, x, dtype), randn(rng, dy, dtype)), kw) for x, dy, kw in cases]


OPS = [
    OpInfo("conv2d", rl.conv2d, naive_conv, _conv2d_samples, grad2=True),
    OpInfo("conv1d", rl.conv1d, naive_conv, _conv1d_samples, grad2=True),
    OpInfo(
        "depthwise_conv2d",
        rl.depthwise_conv2d,
        naive_depthwise,
        _depthwise_conv2d_samples,
        grad2=True,
    ),
    OpInfo("depthwise_conv1d", rl.depthwise_conv1d, naive_depthwise, _depthwise_conv1d_samples),
    OpInfo(
        "conv2d_transpose",
        rl.conv2d_transpose,
        naive_conv_transpose,
        _conv2d_transpose_samples,
        grad2=True,
    ),
    OpInfo(
        "conv1d_transpose", rl.conv1d_transpose, naive_conv_transpose, _conv1d_transpose_samples
    ),
    OpInfo(
        "conv2d_backprop_input",
        rl.conv2d_backprop_input,
        naive_backprop_input,
        _backprop_input_samples,
        grad2=True,
    ),
    OpInfo(
        "conv2d_backprop_filter",
        rl.conv2d_backprop_filter,
        naive_backprop_filter,
        _backprop_filter_samples,
        grad2=True,
    ),
]
