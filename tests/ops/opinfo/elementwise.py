import numpy as np

import rillet as rl
from rillet.testing.opinfo import OpInfo, Sample, randn, uniform

SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (2, 3))]


def binary_samples(low=None, y_away_from_zero=False):
    def samples(rng, dtype):
        out = []
        for xs, ys in SHAPES:
            x = randn(rng, xs, dtype)
            y = randn(rng, ys, dtype)
            if y_away_from_zero:
                y = (np.sign(y) + (y == 0)) * (np.abs(y) + 0.5)
                y = y.astype(dtype)
            out.append(Sample((x, y)))
        out.append(Sample((randn(rng, (3,), dtype), 2.0)))
        return out

    return samples


def unary_samples(make=randn):
    def samples(rng, dtype):
        return [Sample((make(rng, s, dtype),)) for s in [(5,), (3, 4), ()]]

    return samples


OPS = [
    OpInfo("add", rl.add, np.add, binary_samples(), grad2=True),
    OpInfo("subtract", rl.subtract, np.subtract, binary_samples(), grad2=True),
    OpInfo("multiply", rl.multiply, np.multiply, binary_samples(), grad2=True),
    OpInfo("divide", rl.divide, np.divide, binary_samples(y_away_from_zero=True), grad2=True),
    OpInfo("negative", rl.negative, np.negative, unary_samples(), grad2=True),
    OpInfo("exp", rl.exp, np.exp, unary_samples(), grad2=True),
    OpInfo("tanh", rl.tanh, np.tanh, unary_samples(lambda r, s, d: uniform(r, s, d, -2, 2)),
           grad2=True),
]
