"""Activations: values against NumPy formulas and PyTorch, gradients, look-up, errors."""

import numpy as np
import pytest
from scipy.special import erf

import rillet as rl
from rillet import activations as A
from rillet.errors import ArgumentError, ArgumentTypeError
from rillet.testing import check_grads

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.log1p(np.exp(x))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _hard_sigmoid(x):
    return np.clip(x / 6 + 0.5, 0, 1)


# name -> (function, NumPy reference)
REFERENCES = {
    "relu": (A.relu, lambda x: np.maximum(x, 0)),
    "relu6": (A.relu6, lambda x: np.clip(x, 0, 6)),
    "leaky_relu": (A.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (A.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    "selu": (A.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))),
    "celu": (A.celu, lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0))),
    "gelu": (A.gelu, lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2)))),
    "silu": (A.silu, lambda x: x * _sigmoid(x)),
    "hard_silu": (A.hard_silu, lambda x: x * _hard_sigmoid(x)),
    "mish": (A.mish, lambda x: x * np.tanh(_softplus(x))),
    "sigmoid": (A.sigmoid, _sigmoid),
    "hard_sigmoid": (A.hard_sigmoid, _hard_sigmoid),
    "log_sigmoid": (A.log_sigmoid, lambda x: np.log(_sigmoid(x))),
    "softmax": (A.softmax, _softmax),
    "log_softmax": (A.log_softmax, lambda x: np.log(_softmax(x))),
    "softplus": (A.softplus, _softplus),
    "softsign": (A.softsign, lambda x: x / (1 + np.abs(x))),
    "sparse_plus": (
        A.sparse_plus,
        lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
    ),
    "squareplus": (A.squareplus, lambda x: (x + np.sqrt(x**2 + 4)) / 2),
    "tanh": (A.tanh, np.tanh),
    "hard_tanh": (A.hard_tanh, lambda x: np.clip(x, -1, 1)),
    "tanh_shrink": (A.tanh_shrink, lambda x: x - np.tanh(x)),
    "soft_shrink": (
        A.soft_shrink,
        lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
    ),
    "hard_shrink": (A.hard_shrink, lambda x: np.where(np.abs(x) > 0.5, x, 0)),
    "glu": (A.glu, lambda x: x[..., :2] * _sigmoid(x[..., 2:])),
    "exponential": (A.exponential, np.exp),
    "linear": (A.linear, lambda x: x),
}

# Inputs away from the kinks (0, +-0.5, +-1, +-3, 6), so finite differences are valid.
X = np.array([[-7.1, -3.4, -1.3, -0.73], [-0.21, 0.37, 0.81, 1.6], [2.4, 3.7, 5.2, 6.9]])


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_and_gradients(name):
    fn, reference = REFERENCES[name]
    np.testing.assert_allclose(fn(rl.asarray(X)).numpy(), reference(X), rtol=1e-10, atol=1e-12)
    check_grads(fn, [X])
    assert A.get(name) is fn
    assert A.serialize(fn) == name


# name -> a function of torch and a tensor
TORCH = {
    "relu": lambda t, x: t.relu(x),
    "relu6": lambda t, x: t.nn.functional.relu6(x),
    "leaky_relu": lambda t, x: t.nn.functional.leaky_relu(x, 0.2),
    "elu": lambda t, x: t.nn.functional.elu(x),
    "selu": lambda t, x: t.selu(x),
    "celu": lambda t, x: t.celu(x),
    "gelu": lambda t, x: t.nn.functional.gelu(x),
    "silu": lambda t, x: t.nn.functional.silu(x),
    "hard_silu": lambda t, x: t.nn.functional.hardswish(x),
    "mish": lambda t, x: t.nn.functional.mish(x),
    "sigmoid": lambda t, x: t.sigmoid(x),
    "hard_sigmoid": lambda t, x: t.nn.functional.hardsigmoid(x),
    "log_sigmoid": lambda t, x: t.nn.functional.logsigmoid(x),
    "softmax": lambda t, x: t.softmax(x, -1),
    "log_softmax": lambda t, x: t.log_softmax(x, -1),
    "softplus": lambda t, x: t.nn.functional.softplus(x),
    "softsign": lambda t, x: t.nn.functional.softsign(x),
    "tanh": lambda t, x: t.tanh(x),
    "hard_tanh": lambda t, x: t.nn.functional.hardtanh(x),
    "tanh_shrink": lambda t, x: t.nn.functional.tanhshrink(x),
    "soft_shrink": lambda t, x: t.nn.functional.softshrink(x, 0.5),
    "hard_shrink": lambda t, x: t.nn.functional.hardshrink(x, 0.5),
    "glu": lambda t, x: t.nn.functional.glu(x, -1),
}


def test_agree_with_torch():
    torch = pytest.importorskip("torch")
    for name, torch_fn in TORCH.items():
        expected = torch_fn(torch, torch.from_numpy(X)).numpy()
        got = REFERENCES[name][0](rl.asarray(X)).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=name)
    gelu_tanh = torch.nn.functional.gelu(torch.from_numpy(X), approximate="tanh").numpy()
    np.testing.assert_allclose(A.gelu(X, approximate=True).numpy(), gelu_tanh, rtol=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"negative_slope": 0.1},
        {"max_value": 2.5},
        {"max_value": 6.0},
        {"threshold": 1.0},
        {"negative_slope": 0.1, "max_value": 4.0, "threshold": 0.5},
        {"negative_slope": 0.3, "threshold": -1.0},
        {"threshold": -1.0, "max_value": 2.0},
    ],
)
def test_relu_arguments(kwargs):
    slope, top, threshold = (kwargs.get(k, d) for k, d in [
        ("negative_slope", 0.0), ("max_value", None), ("threshold", 0.0)
    ])  # fmt: skip
    above = np.where(X > threshold, X, 0.0)
    expected = np.clip(above, 0, top) if top is not None else above
    expected = expected + np.where(X > threshold, 0.0, slope * (X - threshold))
    np.testing.assert_allclose(A.relu(X, **kwargs).numpy(), expected, rtol=1e-12)
    check_grads(lambda v: A.relu(v, **kwargs), [X])


def test_softmax_over_several_axes(rng):
    x = rng.standard_normal((2, 3, 4))
    expected = np.exp(x) / np.exp(x).sum(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(A.softmax(x, axis=(1, 2)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(A.log_softmax(x, axis=(1, 2)).numpy(), np.log(expected), rtol=1e-12)
    np.testing.assert_allclose(A.softmax(x, axis=1).numpy(), _softmax(x, 1), rtol=1e-12)


def test_activations_trace():
    fn = rl.function(lambda v: A.mish(v) + A.hard_silu(v) + A.relu(v, max_value=2.0))
    expected = A.mish(X) + A.hard_silu(X) + A.relu(X, max_value=2.0)
    np.testing.assert_allclose(fn(rl.asarray(X)).numpy(), expected.numpy(), rtol=1e-12)


def test_get_and_serialize():
    assert A.get(None) is A.linear
    assert A.get("swish") is A.silu and A.get("hard_swish") is A.hard_silu
    assert A.serialize(A.swish) == "silu"
    config = {"module": "keras.activations", "class_name": "function", "config": "relu"}
    assert A.get(config) is A.relu
    assert A.deserialize("gelu") is A.gelu

    def custom(x):
        return x * 2

    assert A.get(custom) is custom and A.serialize(custom) == "custom"
    assert A.deserialize("custom", custom_objects={"custom": custom}) is custom


def test_errors():
    with pytest.raises(ArgumentError, match="'reluu'"):
        A.get("reluu")
    with pytest.raises(ArgumentTypeError, match="could not interpret"):
        A.get(3)
    with pytest.raises(ArgumentError, match="max_value=-1"):
        A.relu(X, max_value=-1)
    with pytest.raises(ArgumentError, match="must be even"):
        A.glu(rl.ones((2, 3)))
