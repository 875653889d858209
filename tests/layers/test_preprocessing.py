"""Preprocessing layers: Rescaling and Normalization (given statistics and adapt)."""

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet.errors import ArgumentError, ShapeError
from tests.layers.core_harness import run_layer_test


def test_rescaling(rng):
    x = rng.standard_normal((2, 3, 4))
    _, y = run_layer_test(L.Rescaling, {"scale": 1 / 255, "offset": -1.0}, x)
    np.testing.assert_allclose(y.numpy(), x / 255 - 1)
    scale = np.array([1.0, 2.0, 3.0, 4.0])
    layer, y = run_layer_test(L.Rescaling, {"scale": scale}, x)
    np.testing.assert_allclose(y.numpy(), x * scale)
    assert layer.get_config()["scale"] == [1.0, 2.0, 3.0, 4.0]


def test_rescaling_casts_integers_to_its_dtype():
    y = L.Rescaling(0.5)(np.array([[2, 4]], dtype=np.uint8))
    assert y.dtype == rl.float32 and y.numpy().tolist() == [[1.0, 2.0]]


def test_normalization_with_given_statistics(rng):
    x = rng.standard_normal((5, 3))
    mean, variance = [1.0, 2.0, 3.0], [4.0, 1.0, 0.25]
    kwargs = {"mean": mean, "variance": variance}
    layer, y = run_layer_test(L.Normalization, kwargs, x)
    np.testing.assert_allclose(y.numpy(), (x - mean) / np.sqrt(variance))
    assert layer.weights == []
    inverse = L.Normalization(mean=mean, variance=variance, invert=True, dtype="float64")
    np.testing.assert_allclose(inverse(y).numpy(), x)
    scalar = L.Normalization(mean=3.0, variance=2.0)(np.array([[1.0], [2.0], [3.0]]))
    np.testing.assert_allclose(scalar.numpy().ravel(), [-2 / np.sqrt(2), -1 / np.sqrt(2), 0])


@pytest.mark.parametrize("axis, keep", [(-1, (2,)), (None, ()), ((1, 2), (1, 2)), (1, (1,))])
def test_normalization_adapt_on_an_array(rng, axis, keep):
    data = rng.standard_normal((20, 3, 4)) * 3 + 2
    layer = L.Normalization(axis=axis, dtype="float64")
    layer.adapt(data)
    reduce = tuple(d for d in range(3) if d not in keep)
    mean = data.mean(axis=reduce, keepdims=True)
    std = data.std(axis=reduce, keepdims=True)
    np.testing.assert_allclose(layer(data).numpy(), (data - mean) / std, rtol=1e-10)
    assert layer.adapt_mean.shape == tuple(data.shape[d] for d in keep)
    assert int(layer.count.numpy()) == int(np.prod([data.shape[d] for d in reduce]))


def test_normalization_adapt_on_batches_equals_the_whole(rng):
    data = rng.standard_normal((50, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -3.0]
    whole = L.Normalization(dtype="float64")
    whole.adapt(data)
    batched = L.Normalization(dtype="float64")
    batched.adapt(data[i : i + 7] for i in range(0, 50, 7))  # a generator of uneven batches
    np.testing.assert_allclose(batched.adapt_mean.numpy(), data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(batched.adapt_variance.numpy(), data.var(0), rtol=1e-12)
    np.testing.assert_allclose(batched.get_weights()[0], whole.get_weights()[0], rtol=1e-12)
    labelled = L.Normalization(dtype="float64")
    labelled.adapt([(data[:25], None), (data[25:], None)])  # (x, y) batches use x
    np.testing.assert_allclose(labelled.adapt_mean.numpy(), data.mean(0), rtol=1e-12)


def test_normalization_adapt_matches_torch_standardization(rng):
    torch = pytest.importorskip("torch")
    data = rng.standard_normal((30, 4)).astype(np.float32) * 5 + 1
    layer = L.Normalization()
    layer.adapt(data)
    t = torch.from_numpy(data)
    expected = (t - t.mean(0)) / t.std(0, unbiased=False)
    np.testing.assert_allclose(layer(data).numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)


def test_normalization_config_round_trip_keeps_adapted_weights(rng):
    data = rng.standard_normal((10, 3))
    layer = L.Normalization(invert=True, dtype="float64")
    layer.adapt(data)
    _, y = run_layer_test(L.Normalization, {"invert": True}, data)
    clone = L.Normalization.from_config(layer.get_config())
    clone(data)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(data).numpy(), layer(data).numpy())
    assert layer.get_config()["axis"] == (-1,)


def test_normalization_floors_the_standard_deviation():
    layer = L.Normalization(dtype="float64")
    layer.adapt(np.ones((4, 2)))
    assert np.isfinite(layer(np.ones((1, 2))).numpy()).all()


def test_normalization_gradient(rng):
    layer = L.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], dtype="float64")
    x = rl.asarray(rng.standard_normal((3, 2)))
    with rl.GradientTape() as tape:
        tape.watch(x)
        total = rl.sum(layer(x))
    np.testing.assert_allclose(tape.gradient(total, x).numpy(), np.tile([0.5, 1 / 3], (3, 1)))


def test_normalization_errors(rng):
    with pytest.raises(ArgumentError, match="mean and variance must be given together"):
        L.Normalization(mean=1.0)
    with pytest.raises(ShapeError, match="mean has shape"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(ShapeError, match="out of range"):
        L.Normalization(axis=3)(np.ones((2, 3)))
    with pytest.raises(ShapeError, match="do not broadcast"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])(np.ones((2, 3)))
    layer = L.Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ShapeError, match=r"built for inputs of shape \(4, 3\)"):
        layer.adapt(np.ones((4, 5)))
    with pytest.raises(ArgumentError, match="no data"):
        L.Normalization().adapt([])
