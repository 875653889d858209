import numpy as np
import scipy.special

import rillet as rl
from rillet.ops import activations
from rillet.testing.opinfo import OpInfo, Sample, away_from, randn, uniform

SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (2, 3))]
LOW = {np.dtype(np.float16): (1e-2, 1e-2), rl.bfloat16: (5e-2, 5e-2)}  # several roundings


def binary_samples(y_away_from_zero=False, make_x=randn):
    def samples(rng, dtype):
        out = []
        for xs, ys in SHAPES:
            x = make_x(rng, xs, dtype)
            y = randn(rng, ys, dtype)
            if y_away_from_zero:
                y = (np.sign(y) + (y == 0)) * (np.abs(y) + 0.5)
                y = y.astype(dtype)
            out.append(Sample((x, y)))
        out.append(Sample((make_x(rng, (3,), dtype), 2.0)))
        return out

    return samples


def unary_samples(make=randn):
    def samples(rng, dtype):
        return [Sample((make(rng, s, dtype),)) for s in [(5,), (3, 4), ()]]

    return samples


def between(low, high):
    return lambda rng, shape, dtype: uniform(rng, shape, dtype, low, high)


def kinks(*points, scale=1.0):
    """Samples spread by ``scale`` and kept 0.1 away from each kink."""

    def make(rng, shape, dtype):
        x = away_from(rng, shape, np.float64, points=[p / scale for p in points])
        return np.asarray(x * scale).astype(dtype)

    return make


def away_from_integers(rng, shape, dtype, scale=3.0):
    """Values at least 0.1 from every integer and half-integer (round's and floor's jumps)."""
    x = rng.uniform(-scale, scale, shape)
    x = np.floor(x * 2) / 2 + rng.uniform(0.1, 0.4, shape)
    return np.asarray(x).astype(dtype)


def remainder_samples(rng, dtype):
    """Operands whose quotient stays 0.1 away from an integer (remainder's jumps)."""
    out = []
    for shape, y_shape in [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 5), (1, 5)), ((2, 3), ())]:
        y = np.where(rng.uniform(size=y_shape) > 0.5, 1.0, -1.0) * rng.uniform(0.5, 2.0, y_shape)
        x = away_from_integers(rng, shape, np.float64) * y
        out.append(Sample((x.astype(dtype), y.astype(dtype))))
    q = away_from_integers(rng, (2, 3), np.float64)
    out.append(Sample((np.asarray(1.3, dtype), (1.3 / q).astype(dtype))))  # x broadcast
    return out


def power_samples(rng, dtype):
    out = []
    for xs, ys in SHAPES:
        out.append(Sample((uniform(rng, xs, dtype, 0.5, 2.0), uniform(rng, ys, dtype, -2, 2))))
    out.append(Sample((uniform(rng, (3,), dtype, 0.5, 2.0), 3.0)))
    return out


def clip_samples(rng, dtype):
    x = kinks(-0.5, 0.5)(rng, (3, 4), dtype)
    lo = np.full((1, 4), -0.5, dtype)
    hi = uniform(rng, (3, 1), dtype, 0.45, 0.55)
    return [
        Sample((x, -0.5, 0.5)),
        Sample((x, None, 0.5)),
        Sample((x, -0.5, None)),
        Sample((x, lo, hi)),
    ]


def where_samples(rng, dtype):
    cond = rng.uniform(size=(3, 4)) > 0.5
    return [
        Sample((cond, randn(rng, (3, 4), dtype), randn(rng, (3, 4), dtype))),
        Sample((cond[:, :1], randn(rng, (4,), dtype), randn(rng, (3, 1), dtype))),
        Sample((cond, randn(rng, (3, 4), dtype), 0.0)),
    ]


def comparison_samples(rng, dtype):
    x = randn(rng, (3, 4), dtype)
    y = np.where(rng.uniform(size=(3, 4)) > 0.5, x, randn(rng, (3, 4), dtype)).astype(dtype)
    return [Sample((x, y)), Sample((x, x[0])), Sample((x, 0.0))]


def logical_samples(rng, dtype):
    a = rng.uniform(size=(3, 4)) > 0.5
    b = rng.uniform(size=(4,)) > 0.5
    numbers = np.where(a, randn(rng, (3, 4), dtype), 0).astype(dtype)  # nonzero is true
    return [Sample((a, b)), Sample((numbers, b)), Sample((a, True))]


def special_values(rng, shape, dtype):
    x = randn(rng, shape, dtype).reshape(-1)
    x[: min(3, x.size)] = [np.nan, np.inf, -np.inf][: min(3, x.size)]
    return x.reshape(shape)


def gelu_ref(x, approximate=False):
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return x * scipy.special.ndtr(x)


def gelu_samples(rng, dtype):
    x = uniform(rng, (3, 4), dtype, -4, 4)
    return [Sample((x,), {"approximate": a}) for a in (False, True)]


def erf_samples(rng, dtype):
    # every range of Cody's approximation: |x| <= 0.46875, <= 4, > 4
    wide = np.asarray([-5.0, -4.2, -2.0, -0.3, 0.0, 0.2, 0.46, 0.6, 3.9, 4.5, 6.5])
    return [Sample((wide.astype(dtype),)), Sample((randn(rng, (3, 4), dtype),))]


def alpha_samples(default):
    def samples(rng, dtype):
        x = kinks(0.0)(rng, (3, 4), dtype)
        return [Sample((x,)), Sample((x,), {"alpha": default * 0.5})]

    return samples


def elu_ref(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def selu_ref(x):
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return scale * elu_ref(x, alpha)


def clip_ref(x, lo, hi):
    return np.clip(x, lo, hi)


POSITIVE = between(0.5, 3.0)

OPS = [
    # arithmetic
    OpInfo("add", rl.add, np.add, binary_samples(), grad2=True),
    OpInfo("subtract", rl.subtract, np.subtract, binary_samples(), grad2=True),
    OpInfo("multiply", rl.multiply, np.multiply, binary_samples(), grad2=True),
    OpInfo("divide", rl.divide, np.divide, binary_samples(y_away_from_zero=True), grad2=True),
    OpInfo(
        "floor_divide",
        rl.floor_divide,
        np.floor_divide,
        remainder_samples,
        grad2=True,
        tolerance=LOW,
    ),
    OpInfo("remainder", rl.remainder, np.remainder, remainder_samples, grad2=True, tolerance=LOW),
    OpInfo("power", rl.power, np.power, power_samples, grad2=True, tolerance=LOW),
    OpInfo("negative", rl.negative, np.negative, unary_samples(), grad2=True),
    OpInfo("abs", rl.abs, np.abs, unary_samples(kinks(0.0)), grad2=True),
    OpInfo("sign", rl.sign, np.sign, unary_samples(kinks(0.0)), grad2=True),
    OpInfo("square", rl.square, np.square, unary_samples(), grad2=True),
    OpInfo(
        "reciprocal",
        rl.reciprocal,
        np.reciprocal,
        unary_samples(kinks(0.0)),
        grad2=True,
        tolerance=LOW,
    ),
    OpInfo("maximum", rl.maximum, np.maximum, binary_samples(), grad2=True),
    OpInfo("minimum", rl.minimum, np.minimum, binary_samples(), grad2=True),
    OpInfo("clip", rl.clip, clip_ref, clip_samples, grad2=True),
    OpInfo("floor", rl.floor, np.floor, unary_samples(away_from_integers), grad2=True),
    OpInfo("ceil", rl.ceil, np.ceil, unary_samples(away_from_integers), grad2=True),
    OpInfo("round", rl.round, np.round, unary_samples(away_from_integers), grad2=True),
    # math functions
    OpInfo("exp", rl.exp, np.exp, unary_samples(), grad2=True),
    OpInfo("expm1", rl.expm1, np.expm1, unary_samples(), grad2=True),
    OpInfo("log", rl.log, np.log, unary_samples(POSITIVE), grad2=True),
    OpInfo("log1p", rl.log1p, np.log1p, unary_samples(between(-0.5, 2.0)), grad2=True),
    OpInfo("sqrt", rl.sqrt, np.sqrt, unary_samples(POSITIVE), grad2=True),
    OpInfo("rsqrt", rl.rsqrt, lambda x: 1 / np.sqrt(x), unary_samples(POSITIVE), grad2=True),
    OpInfo("sin", rl.sin, np.sin, unary_samples(), grad2=True),
    OpInfo("cos", rl.cos, np.cos, unary_samples(), grad2=True),
    OpInfo("tan", rl.tan, np.tan, unary_samples(between(-1.2, 1.2)), grad2=True, tolerance=LOW),
    OpInfo("tanh", rl.tanh, np.tanh, unary_samples(between(-2, 2)), grad2=True),
    OpInfo("erf", rl.erf, scipy.special.erf, erf_samples, grad2=True),
    # activations
    OpInfo("sigmoid", rl.sigmoid, scipy.special.expit, unary_samples(between(-6, 6)), grad2=True),
    OpInfo("relu", rl.relu, lambda x: np.maximum(x, 0), unary_samples(kinks(0.0)), grad2=True),
    OpInfo(
        "relu6",
        rl.relu6,
        lambda x: np.clip(x, 0, 6),
        unary_samples(kinks(0.0, 6.0, scale=4)),
        grad2=True,
    ),
    OpInfo(
        "leaky_relu",
        rl.leaky_relu,
        lambda x, alpha=0.2: np.where(x > 0, x, alpha * x),
        alpha_samples(0.2),
        grad2=True,
    ),
    OpInfo("elu", rl.elu, elu_ref, alpha_samples(1.0), grad2=True),
    OpInfo("selu", rl.selu, selu_ref, unary_samples(kinks(0.0)), grad2=True),
    OpInfo("gelu", rl.gelu, gelu_ref, gelu_samples, grad2=True),
    OpInfo(
        "silu",
        rl.silu,
        lambda x: x * scipy.special.expit(x),
        unary_samples(between(-6, 6)),
        grad2=True,
    ),
    OpInfo(
        "softplus",
        rl.softplus,
        lambda x: np.logaddexp(0, x),
        unary_samples(between(-8, 8)),
        grad2=True,
    ),
    OpInfo(
        "softsign",
        rl.softsign,
        lambda x: x / (1 + np.abs(x)),
        unary_samples(kinks(0.0)),
        grad2=True,
    ),
    # selection and tests
    OpInfo("where", rl.where, np.where, where_samples, grad2=True),
    OpInfo("stop_gradient", rl.stop_gradient, lambda x: x, unary_samples(), grad=False),
    OpInfo("isnan", rl.isnan, np.isnan, unary_samples(special_values), grad=False),
    OpInfo("isinf", rl.isinf, np.isinf, unary_samples(special_values), grad=False),
    OpInfo("isfinite", rl.isfinite, np.isfinite, unary_samples(special_values), grad=False),
    # comparisons and logic
    OpInfo("equal", rl.equal, np.equal, comparison_samples, grad=False),
    OpInfo("not_equal", rl.not_equal, np.not_equal, comparison_samples, grad=False),
    OpInfo("less", rl.less, np.less, comparison_samples, grad=False),
    OpInfo("less_equal", rl.less_equal, np.less_equal, comparison_samples, grad=False),
    OpInfo("greater", rl.greater, np.greater, comparison_samples, grad=False),
    OpInfo("greater_equal", rl.greater_equal, np.greater_equal, comparison_samples, grad=False),
    OpInfo("logical_and", rl.logical_and, np.logical_and, logical_samples, grad=False),
    OpInfo("logical_or", rl.logical_or, np.logical_or, logical_samples, grad=False),
    OpInfo("logical_xor", rl.logical_xor, np.logical_xor, logical_samples, grad=False),
    OpInfo(
        "logical_not",
        rl.logical_not,
        np.logical_not,
        unary_samples(lambda r, s, d: np.where(randn(r, s, d) > 0, randn(r, s, d), 0).astype(d)),
        grad=False,
    ),
]


def _relu_grad_samples(rng, dtype):
    g = randn(rng, (3, 4), dtype)
    y = np.maximum(away_from(rng, (3, 4), dtype), 0).astype(dtype)
    return [Sample((g, y), grad_args=(0,)), Sample((g, y[0]), grad_args=(0,))]


OPS.append(
    OpInfo(
        "relu_grad",
        activations.relu_grad,
        lambda g, y: g * (y > 0),
        _relu_grad_samples,
        grad2=True,
    )
)
