"""Spatial reshaping layers (ZeroPadding, Cropping, UpSampling): shapes, config round trips,
eager == traced, gradients against finite differences (float64), values against NumPy and
PyTorch, and errors."""

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet.errors import ArgumentError, ShapeError
from tests.layers.core_harness import run_layer_test


@pytest.mark.parametrize(
    "padding, pairs", [(1, (1, 1)), (2, (2, 2)), ((0, 3), (0, 3)), ([2, 1], (2, 1))]
)
def test_zero_padding_1d(rng, padding, pairs):
    x = rng.standard_normal((2, 3, 2))
    _, y = run_layer_test(L.ZeroPadding1D, {"padding": padding}, x)
    np.testing.assert_array_equal(y.numpy(), np.pad(x, ((0, 0), pairs, (0, 0))))


@pytest.mark.parametrize(
    "padding, pairs",
    [
        (1, ((1, 1), (1, 1))),
        ((2, 0), ((2, 2), (0, 0))),
        (((1, 0), (0, 2)), ((1, 0), (0, 2))),
    ],
)
def test_zero_padding_2d(rng, padding, pairs):
    x = rng.standard_normal((1, 2, 3, 2))
    _, y = run_layer_test(L.ZeroPadding2D, {"padding": padding}, x)
    np.testing.assert_array_equal(y.numpy(), np.pad(x, ((0, 0), *pairs, (0, 0))))


def test_cropping_1d(rng):
    x = rng.standard_normal((2, 6, 2))
    _, y = run_layer_test(L.Cropping1D, {}, x)
    np.testing.assert_array_equal(y.numpy(), x[:, 1:-1])
    _, y = run_layer_test(L.Cropping1D, {"cropping": (2, 0)}, x)
    np.testing.assert_array_equal(y.numpy(), x[:, 2:])


@pytest.mark.parametrize(
    "cropping, index",
    [
        (((0, 0), (0, 0)), np.s_[:, :, :]),
        (1, np.s_[:, 1:-1, 1:-1]),
        ((1, 0), np.s_[:, 1:-1, :]),
        (((0, 2), (1, 0)), np.s_[:, :-2, 1:]),
    ],
)
def test_cropping_2d(rng, cropping, index):
    x = rng.standard_normal((1, 4, 3, 2))
    _, y = run_layer_test(L.Cropping2D, {"cropping": cropping}, x)
    np.testing.assert_array_equal(y.numpy(), x[index])


def test_upsampling_nearest(rng):
    x = rng.standard_normal((2, 3, 2))
    _, y = run_layer_test(L.UpSampling1D, {"size": 3}, x, expected_shape=(2, 9, 2))
    np.testing.assert_array_equal(y.numpy(), np.repeat(x, 3, axis=1))
    x = rng.standard_normal((1, 2, 3, 2))
    _, y = run_layer_test(L.UpSampling2D, {"size": (2, 3)}, x, expected_shape=(1, 4, 9, 2))
    np.testing.assert_array_equal(y.numpy(), np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))


def test_upsampling_bilinear_gradients(rng):
    x = rng.standard_normal((1, 2, 3, 2))
    kwargs = {"size": (2, 3), "interpolation": "bilinear"}
    run_layer_test(L.UpSampling2D, kwargs, x, expected_shape=(1, 4, 9, 2))


@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)])
def test_upsampling_bilinear_matches_torch(rng, size):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 4, 2))
    y = L.UpSampling2D(size, interpolation="bilinear", dtype="float64")(x).numpy()
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(np.moveaxis(x, -1, 1).copy()), scale_factor=size, mode="bilinear",
        align_corners=False,
    )  # fmt: skip
    np.testing.assert_allclose(y, np.moveaxis(expected.numpy(), 1, -1), rtol=1e-12, atol=1e-12)


def test_configs_follow_keras():
    assert L.ZeroPadding1D().get_config()["padding"] == (1, 1)
    assert L.ZeroPadding2D().get_config()["padding"] == ((1, 1), (1, 1))
    assert L.Cropping1D().get_config()["cropping"] == (1, 1)
    assert L.Cropping2D().get_config()["cropping"] == ((0, 0), (0, 0))
    config = L.UpSampling2D(interpolation="BILINEAR").get_config()
    assert config["size"] == (2, 2) and config["interpolation"] == "bilinear"
    assert "data_format" not in L.UpSampling1D().get_config()
    for layer in (L.ZeroPadding2D(((1, 2), (3, 4))), L.Cropping2D((1, 2)), L.UpSampling1D(4)):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


def test_compute_output_shape_with_unknown_sizes():
    assert L.ZeroPadding2D((1, 2)).compute_output_shape((None, None, 3, 1)) == (None, None, 7, 1)
    assert L.Cropping1D((1, 2)).compute_output_shape((None, None, 4)) == (None, None, 4)
    assert L.UpSampling2D((2, 3)).compute_output_shape((None, 2, None, 1)) == (None, 4, None, 1)


def test_integer_inputs_keep_their_dtype():
    x = rl.asarray(np.arange(6, dtype=np.int32).reshape(1, 3, 2))
    for layer in (L.ZeroPadding1D(), L.Cropping1D(), L.UpSampling1D()):
        assert layer(x).dtype == rl.int32


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: L.ZeroPadding1D(-1), "received padding=-1"),
        (lambda: L.ZeroPadding1D((1, 2, 3)), r"received padding=\(1, 2, 3\)"),
        (lambda: L.ZeroPadding2D(((1, 2), 3)), r"received padding=\(\(1, 2\), 3\)"),
        (lambda: L.Cropping2D("1"), "received cropping='1'"),
        (lambda: L.UpSampling1D(0), "received size=0"),
        (lambda: L.UpSampling2D(interpolation="bicubic"), "received interpolation='bicubic'"),
        (lambda: L.ZeroPadding2D(data_format="channels_first"), "channels_first"),
        (lambda: L.Cropping2D(data_format="channels_first"), "channels_first"),
        (lambda: L.UpSampling2D(data_format="channels_first"), "channels_first"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ArgumentError, match=message):
        make()


def test_cropping_too_much_and_wrong_rank():
    with pytest.raises(ShapeError, match="removes 4 of the 4 entries"):
        L.Cropping1D((2, 2))(rl.ones((1, 4, 1)))
    with pytest.raises(ShapeError, match="rank 4"):
        L.ZeroPadding2D()(rl.ones((1, 4, 1)))
    with pytest.raises(ShapeError, match="rank 3"):
        L.UpSampling1D()(rl.ones((1, 4, 4, 1)))
