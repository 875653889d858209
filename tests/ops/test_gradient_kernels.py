"""Fast paths of two kernels every conv/dense backward pass runs: the sum over leading axes
(a bias gradient, one GEMV) and relu's gradient (one compiled loop), against NumPy in
float64 and against the general paths they bypass."""

import numpy as np
import pytest

import rillet as rl
from rillet.ops import _jit, activations, reduction

# ------------------------------------------------------------- sum over the leading axes


LEADING = [((64, 6, 5, 3), (0, 1, 2)), ((7, 5), 0), ((4, 3, 2), (0, 1)), ((4, 3, 2), [1, 0]),
           ((4, 3, 2), (-3, -2)), ((2, 3, 4, 5), (0,))]  # fmt: skip


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", LEADING)
def test_sum_over_leading_axes_matches_numpy(shape, axis, dtype, keepdims):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    assert reduction._leading_axes(x, axis, None)
    got = reduction.sum.kernel(np, x, axis=axis, keepdims=keepdims)
    expected = np.sum(x.astype(np.float64), axis=tuple(np.atleast_1d(axis)), keepdims=keepdims)
    assert got.dtype == dtype and got.shape == expected.shape
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_sum_over_leading_axes_writes_into_out_and_propagates_nan():
    x = np.ones((5, 4, 3), np.float32)
    x[2, 1, 0], x[0, 0, 1], x[1, 0, 1] = np.nan, np.inf, -np.inf
    out = np.full((1, 1, 3), 7.0, np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf warns, as in np.sum
        assert reduction.sum.kernel(np, x, axis=(0, 1), keepdims=True, out=out) is out
    np.testing.assert_array_equal(out.reshape(3), [np.nan, np.nan, 20.0])


def test_long_bias_sum_is_closer_to_float64_than_row_by_row():
    x = np.random.default_rng(1).uniform(0, 1, (64, 26, 26, 8)).astype(np.float32)
    exact = x.astype(np.float64).sum(axis=(0, 1, 2))
    gemv = reduction.sum.kernel(np, x, axis=(0, 1, 2))
    rows = np.add.reduce(x.reshape(-1, 8), axis=0)  # NumPy's order: one row after another
    assert np.abs(gemv - exact).max() < np.abs(rows - exact).max()


@pytest.mark.parametrize(
    "x,axis,out",
    [
        (np.ones((4, 3), np.int32), 0, None),  # integer sums widen: NumPy's path
        (np.ones((4, 3), np.float16), 0, None),
        (np.ones((3, 4)).T, 0, None),  # not C-contiguous
        (np.ones((4, 3)), 1, None),  # a trailing axis
        (np.ones((4, 3)), (0, 1), None),  # every axis
        (np.ones((4, 3)), None, None),
        (np.ones((0, 3)), 0, None),
        (np.ones((4, 3)), 0, np.zeros((3, 2))[:, 0]),  # a strided out
    ],
)
def test_other_sums_take_numpy_and_agree(x, axis, out):
    assert not reduction._leading_axes(x, axis, out)
    got = reduction.sum.kernel(np, x, axis=axis, out=out)
    np.testing.assert_array_equal(got, np.sum(x, axis=axis, dtype=reduction._sum_dtype(x.dtype)))


def test_sums_longer_than_the_vector_of_ones_cap_take_numpy(monkeypatch):
    monkeypatch.setattr(reduction, "_GEMV_MAX_ROWS", 8)
    x = np.arange(27.0).reshape(9, 3)
    assert not reduction._leading_axes(x, 0, None)
    assert reduction._leading_axes(x[:8], 0, None)
    np.testing.assert_array_equal(reduction.sum.kernel(np, x, axis=0), x.sum(axis=0))


def test_bias_gradient_of_a_conv_layer_is_the_sum_over_batch_and_pixels():
    rng = np.random.default_rng(2)
    layer = rl.layers.Conv2D(4, 3)
    x = rng.standard_normal((3, 7, 6, 2)).astype(np.float32)
    weights = rng.standard_normal((3, 5, 4, 4)).astype(np.float32)
    with rl.GradientTape() as tape:
        loss = rl.sum(layer(x) * weights)
    d_bias = tape.gradient(loss, layer.bias).numpy()
    np.testing.assert_allclose(d_bias, weights.astype(np.float64).sum(axis=(0, 1, 2)), rtol=1e-5)


# ------------------------------------------------------------------------- relu gradient

needs_jit = pytest.mark.skipif(not _jit.enabled(), reason="compiled loops are off")


def _relu_operands(rng, shape, dtype):
    g = rng.standard_normal(shape).astype(dtype)
    y = np.maximum(rng.standard_normal(shape), 0).astype(dtype)
    g.reshape(-1)[:3] = [np.nan, np.inf, -np.inf]  # g * 0 where y is 0: NaN, as NumPy's
    y.reshape(-1)[:6] = [0.0, 0.0, 0.0, 1.0, np.nan, -0.0]
    return g, y


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 6, 6, 8), (7,), (3, 2)])
def test_compiled_relu_grad_equals_numpy(shape, dtype):
    g, y = _relu_operands(np.random.default_rng(3), shape, dtype)
    assert activations._flat_operands(g, y, None)
    out = np.full(shape, 7.0, dtype)
    assert activations.relu_grad.kernel(np, g, y, out=out) is out
    with np.errstate(invalid="ignore"):
        expected = np.multiply(g, y > 0)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))  # -0.0 kept


def test_relu_grad_of_other_operands_takes_numpy():
    g = np.arange(-3.0, 3.0).reshape(2, 3)
    strided_out = np.zeros((2, 6))[:, ::2]
    for y, out in [(np.ones(3), None), (np.ones((2, 3), np.float32), None),
                   (np.ones((3, 2)).T, None), (np.ones((2, 3)), strided_out)]:  # fmt: skip
        assert not activations._flat_operands(g, y, out)
        got = activations.relu_grad.kernel(np, g, y, out=out)
        np.testing.assert_array_equal(got, g * (y > 0))
