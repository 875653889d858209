"""Control-flow ops as table rows: each row stages its op (``stage_*``), so the registered
op's kernel, rule and gradient rule run eagerly, against a NumPy loop as the reference.

The public functions (``rl.cond`` ...) run eagerly as Python and are tested, eager against
traced, in tests/graph/test_control.py.
"""

import numpy as np

import rillet as rl
from rillet.ops.control import stage_cond, stage_scan, stage_while_loop
from rillet.testing.opinfo import OpInfo, Sample, randn

# Low-precision rows run several ops in a loop, each rounded: a looser tolerance.
LOOP_TOLERANCE = {np.dtype(rl.float16): (2e-2, 2e-2), np.dtype(rl.bfloat16): (8e-2, 8e-2)}


# -- cond: x * sin(y) + y, or x - y * y -------------------------------------------------------


def _cond(pred, x, y):
    return stage_cond(pred, lambda a, b: a * rl.sin(b) + b, lambda a, b: a - b * b, [x, y])


def _cond_ref(pred, x, y):
    return x * np.sin(y) + y if pred else x - y * y


def _cond_samples(rng, dtype):
    x, y = randn(rng, (2, 3), dtype), randn(rng, (3,), dtype)
    return [Sample((np.array(flag), x, y)) for flag in (True, False)]


# -- while_loop: x <- x * w + sin(x), counted by an int loop variable --------------------------


def _while(i, x, w, limit=None):
    i, x = stage_while_loop(
        lambda i, x: i < 3, lambda i, x: (i + 1, x * w + rl.sin(x)), [i, x], limit
    )
    return x


def _while_ref(i, x, w, limit=None):
    steps = 0
    while i < 3 and (limit is None or steps < limit):
        i, x, steps = i + 1, x * w + np.sin(x), steps + 1
    return x


def _while_samples(rng, dtype):
    x, w = randn(rng, (4,), dtype), randn(rng, (4,), dtype, scale=0.5)
    return [
        Sample((np.array(0), x, w), {"limit": 5}),  # stops by cond
        Sample((np.array(1), x, w), {"limit": 1}),  # stops by maximum_iterations
        Sample((np.array(3), x, w), {"limit": 4}),  # no iteration
    ]


# -- scan: carry <- tanh(carry * w + x_t), y_t = carry * x_t; reverse too -----------------------


def _scan(c, xs, w, reverse=False):
    def step(carry, x, k):
        new = rl.tanh(carry[0] * k[0] + x[0])
        return [new], [new * x[0]]

    final, ys, history = stage_scan(step, [c], [xs], [w], reverse=reverse)
    return final[0], ys[0], history[0]


def _scan_ref(c, xs, w, reverse=False):
    ys, history = np.zeros_like(xs), np.zeros_like(xs)
    for t in range(len(xs))[::-1] if reverse else range(len(xs)):
        c = np.tanh(c * w + xs[t])
        ys[t], history[t] = c * xs[t], c
    return c, ys, history


def _scan_samples(rng, dtype):
    c, xs, w = randn(rng, (3,), dtype), randn(rng, (4, 3), dtype), randn(rng, (3,), dtype)
    return [Sample((c, xs, w), {"reverse": reverse}) for reverse in (False, True)]


OPS = [
    OpInfo("cond", _cond, _cond_ref, _cond_samples, grad2=True),
    OpInfo(
        "while_loop",
        _while,
        _while_ref,
        _while_samples,
        grad2=True,
        tolerance=LOOP_TOLERANCE,
    ),
    OpInfo("scan", _scan, _scan_ref, _scan_samples, grad2=True, tolerance=LOOP_TOLERANCE),
]
