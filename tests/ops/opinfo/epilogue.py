"""OpInfo rows for the fused epilogue ops, against NumPy and the naive conv loops."""

from __future__ import annotations

import numpy as np

from rillet.ops.epilogue import fused_conv2d, fused_matmul
from rillet.testing.opinfo import OpInfo, Sample, randn
from tests.ops.opinfo.conv import naive_conv


def _activate(z, activation):
    return np.maximum(z, 0) if activation == "relu" else z


def matmul_reference(x, w, b, activation=None):
    return _activate(x @ w + b, activation)


def conv2d_reference(x, w, b, activation=None, **conv):
    return _activate(naive_conv(x, w, **conv) + b, activation)


def _matmul_samples(rng, dtype):
    cases = [
        ((3, 5), (5, 4), {"activation": "relu"}),  # the small loop
        ((2, 1, 6), (6, 3), {}),  # N-d x, as a Dense on a sequence
        ((5,), (5, 2), {"activation": "relu"}),  # a vector x
        ((40, 30), (30, 40), {"activation": "relu"}),  # BLAS, then the bias pass
    ]
    return [
        Sample((randn(rng, x, dtype), randn(rng, w, dtype), randn(rng, w[-1:], dtype)), kw)
        for x, w, kw in cases
    ]


def _conv2d_samples(rng, dtype):
    cases = [
        ((2, 5, 5, 1), (3, 3, 1, 4), {"activation": "relu"}),
        ((1, 4, 5, 2), (2, 3, 2, 3), {"strides": (1, 2), "padding": "same"}),
        ((1, 5, 5, 4), (2, 2, 2, 2), {"dilations": 2, "groups": 2, "activation": "relu"}),
    ]
    return [
        Sample((randn(rng, x, dtype), randn(rng, f, dtype), randn(rng, f[-1:], dtype)), kw)
        for x, f, kw in cases
    ]


OPS = [
    OpInfo("fused_matmul", fused_matmul, matmul_reference, _matmul_samples),
    OpInfo("fused_conv2d", fused_conv2d, conv2d_reference, _conv2d_samples),
]
