"""The fused elementwise op: programs as the fusion pass writes them, against NumPy."""

import numpy as np

from rillet.ops.fused import fused_elementwise
from rillet.testing.opinfo import OpInfo, Sample, away_from, randn, uniform

# Each program with an independent NumPy reference of the same expression.
TANH_SIGMOID = (("tanh", (0,), ()), ("sigmoid", (1,), ()), ("multiply", (3, 4), ()))
TANH_SIGMOID += (("add", (5, 2), ()),)
RELU_AFFINE = (("multiply", (0, 1), ()), ("add", (3, 2), ()), ("relu", (4,), ()))
# p - lr * (0.9 m + 0.1 g) / (sqrt(v) + eps), the scalars as 0-d inputs 4..6
ADAM = (
    ("multiply", (4, 2), ()),  # 7: 0.9 m
    ("subtract", (4, 4), ()),  # 8: 0 (a register read twice)
    ("add", (8, 5), ()),  # 9: 0.1
    ("multiply", (9, 1), ()),  # 10: 0.1 g
    ("add", (7, 10), ()),  # 11: m'
    ("sqrt", (3,), ()),  # 12
    ("add", (12, 6), ()),  # 13: sqrt(v) + eps
    ("divide", (11, 13), ()),  # 14
    ("multiply", (14, 6), ()),  # 15: lr = eps here, to keep inputs few
    ("subtract", (0, 15), ()),  # 16
)
SELECT = (("greater", (0, 2), ()), ("exp", (0,), ()), ("multiply", (0, 1), ()))
SELECT += (("where", (3, 4, 5), ()),)
LEAKY_CLIP = (("leaky_relu", (0,), (("alpha", 0.1),)), ("clip", (2, None, 1), ()))
SQUARE_TWICE = (("multiply", (0, 0), ()), ("add", (2, 1), ()), ("square", (3,), ()))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


REFERENCES = {
    TANH_SIGMOID: lambda a, b, c: np.tanh(a) * _sigmoid(b) + c,
    RELU_AFFINE: lambda x, w, b: np.maximum(x * w + b, 0),
    ADAM: lambda p, g, m, v, b1, b0, eps: p - eps * (b1 * m + b0 * g) / (np.sqrt(v) + eps),
    SELECT: lambda x, y, zero: np.where(x > zero, np.exp(x), x * y),
    LEAKY_CLIP: lambda x, hi: np.clip(np.where(x > 0, x, 0.1 * x), None, hi),
    SQUARE_TWICE: lambda x, s: (x * x + s) ** 2,
}


def fused(*inputs, program):
    return fused_elementwise(list(inputs), program=program)


def reference(*inputs, program):
    return REFERENCES[program](*inputs)


def _samples(rng, dtype):
    x = away_from(rng, (3, 4), dtype, gap=0.2)  # |x * w| >= 0.04: relu far from its kink
    w = away_from(rng, (3, 4), dtype, gap=0.2)
    b = uniform(rng, (4,), dtype, -0.01, 0.01)
    p, g, m = (randn(rng, (2, 3), dtype) for _ in range(3))
    v = uniform(rng, (2, 3), dtype, 0.5, 2.0)
    kinked = away_from(rng, (3, 4), dtype, points=(0.0, 0.5))  # leaky_relu's and clip's
    scalars = [np.asarray(s, dtype) for s in (0.9, 0.1, 1e-3)]
    return [
        Sample((randn(rng, (3, 4), dtype), randn(rng, (3, 4), dtype), randn(rng, (4,), dtype)),
               {"program": TANH_SIGMOID}),
        Sample((x, w, b), {"program": RELU_AFFINE}),
        Sample((p, g, m, v, *scalars), {"program": ADAM}),
        Sample((x, randn(rng, (3, 1), dtype), np.asarray(0, dtype)), {"program": SELECT}),
        Sample((kinked, np.asarray(0.5, dtype)), {"program": LEAKY_CLIP}),
        Sample((randn(rng, (2, 3), dtype), randn(rng, (), dtype)), {"program": SQUARE_TWICE}),
    ]  # fmt: skip


OPS = [
    OpInfo(
        "fused_elementwise",
        fused,
        reference,
        _samples,
        grad2=True,
        # low precision is computed in float32 and rounded once, so no looser than one op
        tolerance={np.dtype(np.float16): (5e-3, 5e-3)},
    )
]
