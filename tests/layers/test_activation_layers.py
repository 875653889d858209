"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax against NumPy formulas and
PyTorch, with the harness (shapes, config round trip, eager == traced, gradients)."""

import json

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet import constraints, initializers, regularizers
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError
from rillet.layers import masking
from rillet.testing import check_grads
from tests.layers.core_harness import check_layer_grads, run_layer_test


def _torch():
    return pytest.importorskip("torch")


def _away_from_kinks(rng, shape, kinks=(0.0,)):
    """Normal values at least 0.05 from every kink, so finite differences stay on one side."""
    x = 2.0 * rng.standard_normal(shape)
    for kink in kinks:
        near = np.abs(x - kink) < 0.05
        x[near] = kink + np.where(x[near] >= kink, 0.1, -0.1)
    return x


def _keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 3's ReLU, written out: x in [threshold, max_value], the slope below."""
    y = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    return y + np.where(x > threshold, 0.0, negative_slope * (x - threshold))


# --- ReLU ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"max_value": 6.0},
        {"negative_slope": 0.1},
        {"threshold": 0.5},
        {"max_value": 2.0, "negative_slope": 0.2, "threshold": 1.0},
        {"threshold": -0.5},
    ],
)
def test_relu_matches_keras_formula(rng, kwargs):
    kinks = (0.0, kwargs.get("threshold", 0.0), kwargs.get("max_value") or 0.0)
    x = _away_from_kinks(rng, (3, 4), kinks)
    layer, y = run_layer_test(L.ReLU, kwargs, x, expected_shape=(3, 4))
    np.testing.assert_allclose(y.numpy(), _keras_relu(x, **kwargs), rtol=1e-12)
    assert layer.weights == []


def test_relu_defaults_and_config_follow_keras():
    config = L.ReLU().get_config()
    assert {k: config[k] for k in ("max_value", "negative_slope", "threshold")} == {
        "max_value": None,
        "negative_slope": 0.0,
        "threshold": 0.0,
    }
    assert L.ReLU.from_config(json.loads(json.dumps(config))).get_config() == config


def test_relu_matches_torch(rng):
    torch = _torch()
    x = rng.standard_normal((4, 5)).astype(np.float32)
    expected = torch.nn.ReLU()(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(L.ReLU()(x).numpy(), expected)
    capped = torch.nn.Hardtanh(0.0, 1.5)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(L.ReLU(max_value=1.5)(x).numpy(), capped)


@pytest.mark.parametrize(
    "kwargs, bad",
    [
        ({"max_value": -1.0}, "max_value=-1.0"),
        ({"negative_slope": -0.1}, "negative_slope=-0.1"),
        ({"negative_slope": None}, "negative_slope=None"),
        ({"threshold": None}, "threshold=None"),
        ({"threshold": "0"}, "threshold='0'"),
    ],
)
def test_relu_rejects_bad_arguments(kwargs, bad):
    with pytest.raises((ArgumentError, ArgumentTypeError), match=bad):
        L.ReLU(**kwargs)


# --- LeakyReLU and ELU -----------------------------------------------------------------------


def test_leaky_relu_default_slope_is_keras_0_3(rng):
    x = _away_from_kinks(rng, (2, 3, 4))
    layer, y = run_layer_test(L.LeakyReLU, {}, x)
    assert layer.negative_slope == 0.3
    np.testing.assert_allclose(y.numpy(), np.where(x >= 0, x, 0.3 * x), rtol=1e-12)


def test_leaky_relu_matches_torch(rng):
    torch = _torch()
    x = rng.standard_normal((3, 6)).astype(np.float32)
    expected = torch.nn.LeakyReLU(0.15)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(L.LeakyReLU(negative_slope=0.15)(x).numpy(), expected, rtol=1e-6)


def test_leaky_relu_takes_keras2_alpha_with_a_warning():
    with pytest.warns(DeprecationWarning, match="negative_slope"):
        layer = L.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1 and "alpha" not in layer.get_config()


def test_leaky_relu_rejects_negative_slope():
    with pytest.raises(ArgumentError, match="LeakyReLU: received negative_slope=-1"):
        L.LeakyReLU(negative_slope=-1)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_elu_matches_formula_and_torch(rng, alpha):
    x = _away_from_kinks(rng, (3, 5))
    layer, y = run_layer_test(L.ELU, {"alpha": alpha}, x)
    np.testing.assert_allclose(y.numpy(), np.where(x > 0, x, alpha * np.expm1(x)), rtol=1e-12)
    torch = _torch()
    expected = torch.nn.ELU(alpha)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    assert L.ELU().alpha == 1.0 and layer.get_config()["alpha"] == alpha


def test_elu_rejects_a_non_number():
    with pytest.raises(ArgumentTypeError, match="ELU: received alpha='1'"):
        L.ELU(alpha="1")


# --- PReLU -----------------------------------------------------------------------------------


def test_prelu_starts_as_relu_with_zero_alpha(rng):
    x = _away_from_kinks(rng, (3, 4))
    layer, y = run_layer_test(L.PReLU, {}, x)
    assert layer.alpha.shape == (4,) and not layer.alpha.numpy().any()
    np.testing.assert_allclose(y.numpy(), np.maximum(x, 0.0))


def test_prelu_learned_alpha_gradients_and_shared_axes(rng):
    x = _away_from_kinks(rng, (2, 3, 4, 2))
    init = initializers.RandomUniform(0.1, 0.5, seed=1)
    kwargs = {"alpha_initializer": init, "shared_axes": [1, 2]}
    layer, y = run_layer_test(L.PReLU, kwargs, x)
    assert layer.alpha.shape == (1, 1, 2)
    alpha = layer.alpha.numpy()
    np.testing.assert_allclose(y.numpy(), np.where(x >= 0, x, alpha * x), rtol=1e-12)


def test_prelu_matches_torch_per_channel(rng):
    torch = _torch()
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)  # (batch, steps, channels)
    layer = L.PReLU(alpha_initializer=initializers.Constant(0.25), shared_axes=1)
    y = layer(x)
    assert layer.alpha.shape == (1, 3)
    reference = torch.nn.PReLU(num_parameters=3)
    with torch.no_grad():
        reference.weight.copy_(torch.tensor([0.25, -0.5, 1.5]))
    layer.alpha.assign(np.array([[0.25, -0.5, 1.5]], np.float32))
    channels_first = torch.from_numpy(np.moveaxis(x, -1, 1).copy())
    expected = np.moveaxis(reference(channels_first).detach().numpy(), 1, -1)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)
    assert y.shape == (2, 5, 3)


def test_prelu_regularizer_constraint_and_config():
    layer = L.PReLU(
        alpha_initializer="ones", alpha_regularizer=regularizers.L2(0.5),
        alpha_constraint="non_neg", shared_axes=(1,),
    )  # fmt: skip
    layer(np.ones((2, 3, 2), np.float32))
    np.testing.assert_allclose([float(loss) for loss in layer.losses], [0.5 * 2.0])
    assert isinstance(layer.alpha.constraint, constraints.NonNeg)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["shared_axes"] == [1]
    clone = L.PReLU.from_config(config)
    assert clone.get_config() == layer.get_config()
    assert L.PReLU().get_config()["alpha_initializer"]["class_name"] == "Zeros"


def test_prelu_trains_inside_a_model(rng):
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = np.where(x >= 0, x, 0.5 * x).sum(axis=1, keepdims=True)
    rl.utils.set_random_seed(0)
    model = rl.Sequential([rl.Input((3,)), L.PReLU(), L.Dense(1, kernel_initializer="ones")])
    model.layers[-1].trainable = False
    model.compile(optimizer=rl.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, epochs=60, batch_size=64, verbose=0)
    np.testing.assert_allclose(model.layers[0].alpha.numpy(), [0.5] * 3, atol=0.05)


@pytest.mark.parametrize(
    "kwargs, shape, error, text",
    [
        ({"shared_axes": [0]}, None, ArgumentError, r"shared_axes=\[0\]"),
        ({"shared_axes": [3]}, (2, 3), ShapeError, r"shared_axes=\[3\]"),
        ({}, (4,), ShapeError, r"\(4,\)"),
    ],
)
def test_prelu_rejects_bad_shared_axes(kwargs, shape, error, text):
    with pytest.raises(error, match=text):
        L.PReLU(**kwargs)(np.ones(shape, np.float32))


def test_prelu_rejects_an_input_that_does_not_fit_alpha():
    layer = L.PReLU()
    layer(np.ones((2, 3), np.float32))
    with pytest.raises(ShapeError, match=r"alpha has shape \(3,\).*\(2, 4\)"):
        layer(np.ones((2, 4), np.float32))


# --- Softmax ---------------------------------------------------------------------------------


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 1, (1, 2)])
def test_softmax_matches_numpy(rng, axis):
    x = rng.standard_normal((2, 3, 4))
    layer, y = run_layer_test(L.Softmax, {"axis": axis}, x)
    np.testing.assert_allclose(y.numpy(), _np_softmax(x, axis), rtol=1e-12)
    config = json.loads(json.dumps(layer.get_config()))
    assert L.Softmax.from_config(config).axis == axis


def test_softmax_matches_torch(rng):
    torch = _torch()
    x = rng.standard_normal((3, 5)).astype(np.float32)
    expected = torch.nn.Softmax(dim=0)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(L.Softmax(axis=0)(x).numpy(), expected, rtol=1e-6)


def test_softmax_mask_gives_masked_positions_zero_probability(rng):
    x = rng.standard_normal((2, 4))
    mask = np.array([[True, True, False, True], [False, True, True, True]])
    layer = L.Softmax(dtype="float64")
    y = layer(x, mask=mask).numpy()
    expected = _np_softmax(np.where(mask, x, -np.inf), -1)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=0)
    traced = rl.function(lambda v, m: layer(v, mask=m))(rl.asarray(x), rl.asarray(mask))
    np.testing.assert_allclose(traced.numpy(), expected, rtol=1e-12)
    check_grads(lambda v: layer(v, mask=rl.asarray(mask)), [rl.asarray(x)])


def test_softmax_fully_masked_row_is_zero_not_nan():
    y = L.Softmax()(np.ones((1, 3), np.float32), mask=np.zeros((1, 3), bool))
    assert y.numpy().tolist() == [[0.0, 0.0, 0.0]]


def test_softmax_mask_broadcasts_like_attention_scores(rng):
    scores = rng.standard_normal((2, 3, 4)).astype(np.float32)  # (batch, queries, keys)
    keys = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], bool)[:, None, :]
    y = L.Softmax()(scores, mask=keys).numpy()
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-6)
    assert not y[0, :, 2:].any() and not y[1, :, 3].any()


def test_softmax_takes_a_propagated_embedding_mask():
    tokens = np.array([[3, 5, 0], [2, 0, 0]])
    embedded = L.Embedding(8, 4, mask_zero=True)(tokens)
    y = L.Softmax()(embedded)
    rows = y.numpy().sum(axis=-1)
    np.testing.assert_allclose(rows, (tokens != 0).astype(np.float32), rtol=1e-6)
    assert masking.get(y).numpy().tolist() == (tokens != 0).tolist()


def test_softmax_rejects_a_bad_axis():
    with pytest.raises(ArgumentTypeError, match="Softmax: received axis='x'"):
        L.Softmax(axis="x")


# --- shared behaviour -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [L.ReLU, L.LeakyReLU, L.PReLU, L.ELU, L.Softmax])
def test_activation_layers_pass_masks_and_serialize_in_a_model(cls, rng):
    model = rl.Sequential([rl.Input((3,)), L.Dense(4), cls()])
    clone = rl.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), rtol=1e-6)
    assert type(clone.layers[-1]) is cls and cls().supports_masking


def test_activation_layers_keep_float16():
    x = rl.asarray(np.array([[-1.0, 2.0]], np.float16))
    for layer in (L.ReLU(dtype="float16"), L.ELU(dtype="float16"), L.Softmax(dtype="float16")):
        assert layer(x).dtype == rl.float16
    masked = L.Softmax(dtype="float16")(x, mask=np.array([[False, True]]))
    assert masked.numpy().tolist() == [[0.0, 1.0]]


def test_prelu_gradient_on_its_weight_matches_finite_differences(rng):
    layer = L.PReLU(alpha_initializer=initializers.Constant(0.3), dtype="float64")
    x = rl.asarray(_away_from_kinks(rng, (3, 2)))
    layer(x)
    check_layer_grads(layer, x)
