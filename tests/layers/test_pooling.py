"""Pooling layers: shapes, config round trips, eager == traced, gradients against finite
differences (float64), values against PyTorch and NumPy, masks, and errors."""

import itertools

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet.errors import ArgumentError, ShapeError
from tests.layers.core_harness import run_layer_test


def _torch():
    return pytest.importorskip("torch")


def _numpy_pool(x, pool, strides, padding, reduce):
    """Channels-last pooling by loops; "same" windows cover real cells only (TF)."""
    spatial = x.shape[1:-1]
    if padding == "valid":
        outs = [(n - k) // s + 1 for n, k, s in zip(spatial, pool, strides)]
        befores = [0] * len(spatial)
    else:
        outs = [-(-n // s) for n, s in zip(spatial, strides)]
        totals = [max((o - 1) * s + k - n, 0) for o, s, k, n in zip(outs, strides, pool, spatial)]
        befores = [t // 2 for t in totals]
    y = np.zeros((x.shape[0], *outs, x.shape[-1]))
    for index in itertools.product(*(range(o) for o in outs)):
        window = tuple(
            slice(max(i * s - b, 0), min(i * s - b + k, n))
            for i, s, b, k, n in zip(index, strides, befores, pool, spatial)
        )
        y[(slice(None), *index)] = reduce(
            x[(slice(None), *window)], axis=tuple(range(1, x.ndim - 1))
        )
    return y


POOL_CASES = [
    (L.MaxPooling1D, {}, (2, 7, 3)),
    (L.MaxPooling1D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 6, 2)),
    (L.AveragePooling1D, {"pool_size": 3, "strides": 1}, (2, 5, 2)),
    (L.AveragePooling1D, {"pool_size": 2, "padding": "same"}, (2, 5, 2)),
    (L.MaxPooling2D, {}, (2, 5, 4, 2)),
    (L.MaxPooling2D, {"pool_size": (3, 2), "strides": 1, "padding": "same"}, (1, 4, 3, 2)),
    (L.AveragePooling2D, {"pool_size": 2, "strides": (1, 2)}, (2, 4, 4, 2)),
    (L.AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (1, 5, 4, 2)),
]


@pytest.mark.parametrize("cls, kwargs, shape", POOL_CASES)
def test_pooling_harness_and_numpy_reference(rng, cls, kwargs, shape):
    x = rng.standard_normal(shape)
    layer, y = run_layer_test(cls, kwargs, x)
    reduce = np.max if "Max" in cls.__name__ else np.mean
    expected = _numpy_pool(x, layer.pool_size, layer.strides, layer.padding, reduce)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(rng, rank, kind):
    torch = _torch()
    x = rng.standard_normal((2, 9, 3) if rank == 1 else (2, 9, 8, 3)).astype(np.float32)
    names = {"max": ("MaxPooling", "max_pool"), "avg": ("AveragePooling", "avg_pool")}
    layer = getattr(L, f"{names[kind][0]}{rank}D")(pool_size=3, strides=2)
    reference = getattr(torch.nn.functional, f"{names[kind][1]}{rank}d")
    expected = reference(torch.from_numpy(np.moveaxis(x, -1, 1).copy()), 3, stride=2)
    np.testing.assert_allclose(layer(x).numpy(), np.moveaxis(expected.numpy(), 1, -1), rtol=1e-6)


def test_pooling_config_defaults_follow_keras():
    config = L.MaxPooling2D().get_config()
    assert config["pool_size"] == (2, 2) and config["strides"] == (2, 2)
    assert config["padding"] == "valid" and config["data_format"] == "channels_last"
    layer = L.AveragePooling1D.from_config(L.AveragePooling1D(3, 1, "SAME").get_config())
    assert (layer.pool_size, layer.strides, layer.padding) == ((3,), (1,), "same")
    assert L.MaxPool2D is L.MaxPooling2D and L.GlobalAvgPool1D is L.GlobalAveragePooling1D


def test_pooling_keeps_integer_inputs():
    x = rl.asarray(np.arange(8, dtype=np.int32).reshape(1, 8, 1))
    y = L.MaxPooling1D(4)(x)
    assert y.dtype == rl.int32 and y.numpy().ravel().tolist() == [3, 7]


def test_pooling_compute_output_shape_with_unknown_sizes():
    layer = L.MaxPooling2D(3, strides=2, padding="same")
    assert layer.compute_output_shape((None, None, 7, 4)) == (None, None, 4, 4)
    assert L.AveragePooling1D(2).compute_output_shape((3, 9, 2)) == (3, 4, 2)


# --- global pooling --------------------------------------------------------------------------


GLOBAL_CASES = [
    (L.GlobalAveragePooling1D, np.mean, (2, 4, 3)),
    (L.GlobalMaxPooling1D, np.max, (2, 4, 3)),
    (L.GlobalAveragePooling2D, np.mean, (2, 3, 2, 3)),
    (L.GlobalMaxPooling2D, np.max, (2, 3, 2, 3)),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("cls, reduce, shape", GLOBAL_CASES)
def test_global_pooling(rng, cls, reduce, shape, keepdims):
    x = rng.standard_normal(shape)
    _, y = run_layer_test(cls, {"keepdims": keepdims}, x)
    axes = tuple(range(1, len(shape) - 1))
    np.testing.assert_allclose(y.numpy(), reduce(x, axis=axes, keepdims=keepdims), rtol=1e-12)


def test_global_average_pooling_1d_honours_the_mask(rng):
    x = rng.standard_normal((3, 4, 2))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    layer = L.GlobalAveragePooling1D(dtype="float64")
    y = layer(x, mask=rl.asarray(mask)).numpy()
    np.testing.assert_allclose(y[0], x[0, :2].mean(0), rtol=1e-12)
    np.testing.assert_allclose(y[1], x[1].mean(0), rtol=1e-12)
    np.testing.assert_array_equal(y[2], [0.0, 0.0])  # no steps: 0, not NaN
    keep = L.GlobalAveragePooling1D(keepdims=True, dtype="float64")(x, mask=rl.asarray(mask))
    np.testing.assert_allclose(keep.numpy()[:, 0], y, rtol=1e-12)
    assert layer.compute_mask(rl.asarray(x), rl.asarray(mask)) is None


def test_global_average_pooling_1d_reads_the_mask_of_an_embedding():
    tokens = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    embedding = L.Embedding(5, 2, mask_zero=True)
    vectors = embedding(tokens)
    pooled = L.GlobalAveragePooling1D()(vectors).numpy()
    table = embedding.get_weights()[0]
    np.testing.assert_allclose(pooled[0], table[[3, 1]].mean(0), rtol=1e-6)
    np.testing.assert_allclose(pooled[1], table[2], rtol=1e-6)


def test_global_average_pooling_1d_mask_gradients(rng):
    x = rl.asarray(rng.standard_normal((2, 3, 2)))
    mask = rl.asarray(np.array([[1, 0, 1], [1, 1, 1]], dtype=bool))
    layer = L.GlobalAveragePooling1D(dtype="float64")
    rl.testing.check_grads(lambda v: layer(v, mask=mask), [x])


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: L.MaxPooling2D(padding="full"), "received padding='full'"),
        (lambda: L.MaxPooling2D(pool_size=0), "received pool_size=0"),
        (lambda: L.AveragePooling1D(strides=(1, 2)), r"received strides=\(1, 2\)"),
        (lambda: L.MaxPooling1D(data_format="channels_first"), "channels_first"),
        (lambda: L.GlobalAveragePooling2D(data_format="channels_first"), "channels_first"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ArgumentError, match=message):
        make()


def test_wrong_rank_and_too_small_inputs():
    with pytest.raises(ShapeError, match="rank 4"):
        L.MaxPooling2D()(rl.ones((1, 4, 2)))
    with pytest.raises(ShapeError, match="rank 3"):
        L.GlobalMaxPooling1D()(rl.ones((1, 4, 4, 2)))
    with pytest.raises(ShapeError, match="pool_size"):
        L.MaxPooling2D(3)(rl.ones((1, 2, 2, 1)))
