"""Initializers: the variance-scaling formulas, seeds, look-up and serialization, errors."""

import math

import numpy as np
import pytest

import rillet as rl
from rillet import initializers as I
from rillet.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError

TRUNCATED_STDDEV = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


@pytest.fixture(autouse=True)
def _restore_global_seed():
    yield
    rl.random.set_seed(None)


@pytest.mark.parametrize(
    "shape, fans", [((), (1, 1)), ((5,), (5, 5)), ((3, 4), (3, 4)), ((3, 2, 4, 8), (24, 48))]
)
def test_compute_fans(shape, fans):
    assert I.compute_fans(shape) == fans


# (initializer, distribution, variance as a function of (fan_in, fan_out))
SCALING = [
    (I.GlorotUniform, "uniform", lambda i, o: 2.0 / (i + o)),
    (I.GlorotNormal, "truncated", lambda i, o: 2.0 / (i + o)),
    (I.HeNormal, "truncated", lambda i, o: 2.0 / i),
    (I.HeUniform, "uniform", lambda i, o: 2.0 / i),
    (I.LecunNormal, "truncated", lambda i, o: 1.0 / i),
    (I.LecunUniform, "uniform", lambda i, o: 1.0 / i),
]


@pytest.mark.parametrize("cls, distribution, variance", SCALING)
def test_variance_scaling_statistics(cls, distribution, variance):
    shape = (3, 3, 40, 60)  # a conv kernel: fans include the 3x3 window
    fan_in, fan_out = 3 * 3 * 40, 3 * 3 * 60
    w = cls(seed=1)(shape, dtype="float64").numpy()
    target = variance(fan_in, fan_out)
    assert abs(w.mean()) < 0.05 * math.sqrt(target)
    assert w.var() == pytest.approx(target, rel=0.03)
    if distribution == "uniform":
        assert np.abs(w).max() <= math.sqrt(3 * target)
    else:  # truncated at two standard deviations of the untruncated normal
        assert np.abs(w).max() <= 2 * math.sqrt(target) / TRUNCATED_STDDEV


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_modes(mode, distribution):
    init = I.VarianceScaling(scale=3.0, mode=mode, distribution=distribution, seed=5)
    w = init((200, 300), dtype="float64").numpy()
    fan = {"fan_in": 200, "fan_out": 300, "fan_avg": 250}[mode]
    assert w.var() == pytest.approx(3.0 / fan, rel=0.03)
    if distribution == "untruncated_normal":
        assert np.abs(w).max() > 2.5 * math.sqrt(3.0 / fan)  # tails beyond the truncation


@pytest.mark.parametrize(
    "init, mean, std, bound",
    [
        (I.RandomNormal(mean=1.0, stddev=2.0, seed=1), 1.0, 2.0, None),
        (I.TruncatedNormal(mean=-1.0, stddev=0.5, seed=1), -1.0, 0.5 * TRUNCATED_STDDEV, 1.0),
        (I.RandomUniform(minval=2.0, maxval=4.0, seed=1), 3.0, 2 / math.sqrt(12), 1.0),
    ],
)
def test_random_initializer_statistics(init, mean, std, bound):
    w = init((100, 100), dtype="float64").numpy()
    assert w.mean() == pytest.approx(mean, abs=0.03 * std + 1e-3)
    assert w.std() == pytest.approx(std, rel=0.03)
    if bound is not None:
        assert np.abs(w - mean).max() <= bound


def test_defaults_follow_keras():
    assert I.RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert I.RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert I.TruncatedNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert I.VarianceScaling().get_config() == {
        "scale": 1.0,
        "mode": "fan_in",
        "distribution": "truncated_normal",
        "seed": None,
    }
    assert I.Orthogonal().get_config() == {"gain": 1.0, "seed": None}
    assert I.Constant().get_config() == {"value": 0.0}


def test_a_seeded_initializer_repeats_and_equals_the_stateless_draw():
    a, b = I.RandomNormal(seed=7)((3, 4)), I.RandomNormal(seed=7)((3, 4))
    assert a.numpy().tolist() == b.numpy().tolist()
    expected = rl.random.stateless_normal((3, 4), seed=(7, 0), stddev=0.05)
    assert a.numpy().tolist() == expected.numpy().tolist()
    assert a.numpy().tolist() != I.RandomNormal(seed=8)((3, 4)).numpy().tolist()


def test_unseeded_initializers_follow_the_global_seed():
    init = I.GlorotUniform()
    rl.random.set_seed(3)
    first = [init((4, 4)).numpy(), init((4, 4)).numpy()]
    rl.random.set_seed(3)
    second = [init((4, 4)).numpy(), init((4, 4)).numpy()]
    assert [a.tolist() for a in first] == [b.tolist() for b in second]
    assert first[0].tolist() != first[1].tolist()  # successive draws differ


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (2, 3, 5)])
def test_orthogonal(shape):
    w = I.Orthogonal(gain=2.0, seed=1)(shape, dtype="float64").numpy().reshape(-1, shape[-1])
    small = min(w.shape)
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-10)


def test_identity_constant_zeros_ones():
    np.testing.assert_allclose(I.Identity(gain=3.0)((2, 3)).numpy(), 3 * np.eye(2, 3))
    assert I.Constant(2.5)((2,), dtype="float64").numpy().tolist() == [2.5, 2.5]
    np.testing.assert_allclose(I.Constant([1.0, 2.0])((3, 2)).numpy(), [[1, 2]] * 3)
    assert I.Zeros()((2,), dtype="int32").numpy().tolist() == [0, 0]
    assert I.Ones()((1, 2)).dtype == rl.float32
    assert I.get("ones")((2,), dtype="bfloat16").dtype == rl.bfloat16


def test_get_serialize_deserialize():
    for name, cls in [
        ("glorot_uniform", I.GlorotUniform),
        ("GlorotUniform", I.GlorotUniform),
        ("he_normal", I.HeNormal),
        ("lecun_uniform", I.LecunUniform),
        ("uniform", I.RandomUniform),
        ("normal", I.RandomNormal),
        ("truncated_normal", I.TruncatedNormal),
        ("orthogonal", I.Orthogonal),
        ("identity", I.Identity),
        ("zeros", I.Zeros),
        ("ones", I.Ones),
        ("constant", I.Constant),
        ("variance_scaling", I.VarianceScaling),
    ]:
        assert type(I.get(name)) is cls
    init = I.VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform", seed=4)
    config = I.serialize(init)
    assert config["class_name"] == "VarianceScaling" and config["module"] == "rillet.initializers"
    clone = I.deserialize(config)
    assert clone.get_config() == init.get_config()
    assert clone((3, 3)).numpy().tolist() == init((3, 3)).numpy().tolist()
    assert I.get(None) is None and I.get(init) is init
    assert isinstance(I.get(I.HeUniform), I.HeUniform)
    fn = lambda shape, dtype=None: rl.zeros(shape)  # noqa: E731
    assert I.get(fn) is fn
    custom = I.deserialize({"class_name": "Mine", "config": {}}, custom_objects={"Mine": I.Ones})
    assert isinstance(custom, I.Ones)
    assert I.glorot_uniform is I.GlorotUniform and I.zeros is I.Zeros


def test_errors_name_the_bad_value():
    with pytest.raises(ArgumentError, match="unknown name 'nope'"):
        I.get("nope")
    with pytest.raises(ArgumentError, match="scale=0"):
        I.VarianceScaling(scale=0)
    with pytest.raises(ArgumentError, match="mode='fan'"):
        I.VarianceScaling(mode="fan")
    with pytest.raises(ArgumentError, match="distribution='cauchy'"):
        I.VarianceScaling(distribution="cauchy")
    with pytest.raises(ArgumentTypeError, match="seed='1'"):
        I.HeNormal(seed="1")
    with pytest.raises(DTypeError, match="dtype=int32"):
        I.RandomNormal()((2,), dtype="int32")
    with pytest.raises(ShapeError, match="rank 3"):
        I.Identity()((2, 2, 2))
    with pytest.raises(ShapeError, match="rank >= 2"):
        I.Orthogonal()((3,))
    with pytest.raises(ArgumentError, match="shape=\\(-1, 2\\)"):
        I.Zeros()((-1, 2))
    with pytest.raises(ArgumentTypeError, match="could not interpret"):
        I.get(3)


def test_add_weight_uses_initializers():
    import rillet.layers  # noqa: F401

    layer = rl.layers.Dense(3, kernel_initializer="ones", bias_initializer=I.Constant(0.5))
    layer(rl.ones((1, 2)))
    assert layer.kernel.numpy().tolist() == [[1.0] * 3] * 2
    assert layer.bias.numpy().tolist() == [0.5] * 3
