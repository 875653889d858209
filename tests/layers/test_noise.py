"""Noise layers: GaussianNoise, GaussianDropout, AlphaDropout. The identity at inference;
while training, noise with the stated statistics, new at each step of a compiled function,
reproducible with rl.random.set_seed."""

import json
import math

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError
from rillet.layers import masking
from rillet.testing import check_grads
from tests.layers.core_harness import run_layer_test

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

LAYERS = [
    (L.GaussianNoise, {"stddev": 0.5}),
    (L.GaussianDropout, {"rate": 0.3}),
    (L.AlphaDropout, {"rate": 0.2}),
]


@pytest.mark.parametrize("cls, kwargs", LAYERS)
def test_noise_layers_are_the_identity_at_inference(rng, cls, kwargs):
    x = rng.standard_normal((2, 3, 4))
    layer, y = run_layer_test(cls, kwargs, x, expected_shape=(2, 3, 4))
    np.testing.assert_array_equal(y.numpy(), x)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    assert layer.weights == [] and layer.supports_masking


@pytest.mark.parametrize("cls, kwargs", LAYERS)
def test_noise_layers_config_round_trip(cls, kwargs):
    layer = cls(**kwargs, seed=3, name="noisy")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["seed"] == 3 and config["name"] == "noisy"
    assert cls.from_config(config).get_config() == layer.get_config()


@pytest.mark.parametrize("cls, kwargs", LAYERS)
def test_noise_layers_replay_with_the_seed_eager_and_compiled(cls, kwargs):
    layer = cls(**kwargs, seed=5)
    x = rl.ones((3, 4))
    step = rl.function(lambda v: layer(v, training=True))

    def draws(fn):
        rl.random.set_seed(11)
        return [fn(x).numpy() for _ in range(2)]

    eager = draws(lambda v: layer(v, training=True))
    compiled = draws(step)
    assert not np.array_equal(eager[0], eager[1])  # each step draws new noise
    for a, b in zip(eager, compiled):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls, kwargs", LAYERS)
def test_noise_layers_gradients_for_a_fixed_draw(rng, cls, kwargs):
    layer = cls(**kwargs, dtype="float64")
    x = rl.asarray(rng.standard_normal((3, 2)))

    def noisy(v):
        rl.random.set_seed(2)  # the same noise at every evaluation
        return layer(v, training=True)

    check_grads(noisy, [x])


@pytest.mark.parametrize("cls, kwargs", LAYERS)
def test_noise_layers_keep_the_input_dtype_and_mask(cls, kwargs):
    x = rl.asarray(np.ones((2, 3), np.float16))
    masking.attach(x, rl.asarray([[True, False, True]] * 2))
    layer = cls(**kwargs, dtype="float16")
    y = layer(x, training=True)
    assert y.dtype == rl.float16 and y.shape == (2, 3)
    assert masking.get(y).numpy().tolist() == [[True, False, True]] * 2


# --- statistics ------------------------------------------------------------------------------


def test_gaussian_noise_statistics(rng):
    rl.random.set_seed(0)
    x = rng.standard_normal((400, 500)).astype(np.float32)
    noise = L.GaussianNoise(0.3)(x, training=True).numpy() - x
    assert abs(noise.mean()) < 0.003 and abs(noise.std() - 0.3) < 0.003
    assert abs(np.corrcoef(noise.ravel(), x.ravel())[0, 1]) < 0.01


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_gaussian_dropout_statistics(rate):
    rl.random.set_seed(0)
    factor = L.GaussianDropout(rate)(rl.ones((400, 500)), training=True).numpy()
    std = math.sqrt(rate / (1 - rate))
    assert abs(factor.mean() - 1.0) < 0.01 and abs(factor.std() - std) < 0.01


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_alpha_dropout_keeps_selu_mean_and_variance(rng, rate):
    rl.random.set_seed(0)
    x = rng.standard_normal((400, 500)).astype(np.float32)
    y = L.AlphaDropout(rate)(x, training=True).numpy()
    a = ((1 - rate) * (1 + rate * (SELU_ALPHA * SELU_SCALE) ** 2)) ** -0.5
    b = a * SELU_ALPHA * SELU_SCALE * rate
    dropped = np.isclose(y, -a * SELU_ALPHA * SELU_SCALE + b, rtol=0, atol=1e-6)
    assert abs(dropped.mean() - rate) < 0.005
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-6)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1.0) < 0.01


def test_alpha_dropout_noise_shape_shares_the_mask(rng):
    x = rng.standard_normal((8, 5, 6)).astype(np.float32)
    layer = L.AlphaDropout(0.5, noise_shape=(None, 1, 6), seed=1)
    y = layer(x, training=True).numpy()
    rate = 0.5
    a = ((1 - rate) * (1 + rate * (SELU_ALPHA * SELU_SCALE) ** 2)) ** -0.5
    kept = np.isclose(y, a * x + a * SELU_ALPHA * SELU_SCALE * rate, atol=1e-5)
    assert (kept == kept[:, :1, :]).all()  # the same features dropped at every step
    assert 0 < kept.mean() < 1


def test_alpha_dropout_rejects_a_noise_shape_that_does_not_broadcast():
    layer = L.AlphaDropout(0.5, noise_shape=(None, 3))
    with pytest.raises(ShapeError, match=r"noise_shape=\(None, 3\).*\(2, 4\)"):
        layer(rl.ones((2, 4)), training=True)


def test_noise_needs_known_sizes_inside_a_function_with_unknown_batch():
    layer = L.GaussianNoise(0.1)
    step = rl.function(
        lambda v: layer(v, training=True), input_signature=[rl.TensorSpec((None, 3))]
    )
    with pytest.raises(ShapeError, match=r"gaussian_noise.*\(None, 3\)"):
        step(rl.ones((2, 3)))


# --- in models -------------------------------------------------------------------------------


def test_noise_layers_are_active_in_fit_only(rng):
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    rl.utils.set_random_seed(0)
    model = rl.Sequential([
        rl.Input((4,)), L.GaussianNoise(0.1), L.Dense(8, activation="selu"),
        L.AlphaDropout(0.1), L.GaussianDropout(0.1), L.Dense(1),
    ])  # fmt: skip
    model.compile(optimizer=rl.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(first, second)  # no noise at inference
    np.testing.assert_array_equal(model(x).numpy(), model(x, training=False).numpy())
    assert not np.array_equal(model(x, training=True).numpy(), model(x).numpy())


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, text",
    [
        (lambda: L.GaussianNoise(-0.1), "GaussianNoise: received stddev=-0.1"),
        (lambda: L.GaussianNoise("1"), "GaussianNoise: received stddev='1'"),
        (lambda: L.GaussianDropout(1.0), r"GaussianDropout: received rate=1.0"),
        (lambda: L.GaussianDropout(-0.5), r"GaussianDropout: received rate=-0.5"),
        (lambda: L.AlphaDropout(1.5), r"AlphaDropout: received rate=1.5"),
    ],
)
def test_noise_layers_reject_bad_arguments(make, text):
    with pytest.raises(ArgumentError, match=text):
        make()


def test_noise_layers_reject_a_bad_seed():
    with pytest.raises(ArgumentTypeError, match="seed=1.5"):
        L.GaussianNoise(0.1, seed=1.5)
