"""The max-pool gradient's path for tiling windows (stride == window, no padding) against
the naive loops of the op table: ties, cells after the last whole window, 1-D, integer
inputs, and writing into ``out``."""

import numpy as np
import pytest

import rillet as rl
from rillet.ops import pooling
from tests.ops.opinfo.nn import _max_pool_grad_ref, _out_shape

TILED = [
    ((2, 6, 8, 3), {"pool_size": 2}),
    ((2, 7, 5, 3), {"pool_size": 2}),  # a row and a column after the last window
    ((1, 9, 8, 2), {"pool_size": (3, 2)}),
    ((1, 6, 6, 2), {"pool_size": 3, "strides": 3}),
    ((2, 8, 6, 2), {"pool_size": 2, "padding": "same"}),  # even sizes: "same" pads nothing
    ((2, 9, 4), {"pool_size": 2}),
    ((1, 9, 4), {"pool_size": 3, "strides": 3}),
    ((1, 4, 4, 1), {"pool_size": 1}),
]


def _tied(rng, shape):
    """Small integers as floats: most windows hold their maximum more than once."""
    return rng.integers(0, 3, shape).astype(np.float64)


@pytest.mark.parametrize("shape,kwargs", TILED)
def test_tiled_max_pool_grad_matches_naive_loops(shape, kwargs):
    assert pooling._tiles(pooling._plan(shape, kwargs["pool_size"], kwargs.get("strides"),
                                        kwargs.get("padding", "valid")))  # fmt: skip
    rng = np.random.default_rng(0)
    for x in (rng.standard_normal(shape), _tied(rng, shape)):
        g = rng.standard_normal(_out_shape(shape, **kwargs))
        got = pooling.max_pool_grad(x, g, **kwargs).numpy()
        np.testing.assert_array_equal(got, _max_pool_grad_ref(x, g, **kwargs))


def test_tiled_max_pool_grad_sends_ties_to_the_first_cell_in_row_major_order():
    x = np.array([[0.0, 5.0], [5.0, 5.0]]).reshape(1, 2, 2, 1)
    d_x = pooling.max_pool_grad(x, np.full((1, 1, 1, 1), 3.0), pool_size=2).numpy()
    np.testing.assert_array_equal(d_x.reshape(2, 2), [[0.0, 3.0], [0.0, 0.0]])


def test_tiled_max_pool_grad_of_integer_inputs():
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 3, (2, 4, 6, 2)).astype(np.int32)
    g = rng.standard_normal((2, 2, 3, 2)).astype(np.float32)
    got = pooling.max_pool_grad(x, g, pool_size=2)
    assert got.dtype == rl.float32
    np.testing.assert_array_equal(got.numpy(), _max_pool_grad_ref(x, g, pool_size=2))


@pytest.mark.parametrize("shape", [(2, 6, 6, 3), (2, 7, 7, 3)])
def test_tiled_max_pool_grad_writes_into_out(shape):
    rng = np.random.default_rng(2)
    x = _tied(rng, shape)
    g = rng.standard_normal(_out_shape(shape, pool_size=2))
    out = np.full(shape, np.nan)  # every cell must be written, the uncovered ones with 0
    assert pooling.max_pool_grad.kernel(np, x, g, pool_size=2, out=out) is out
    np.testing.assert_array_equal(out, _max_pool_grad_ref(x, g, pool_size=2))


def test_tiled_max_pool_grad_writes_through_a_strided_out():
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((1, 4, 4, 2)), rng.standard_normal((1, 2, 2, 2))
    buffer = np.full((1, 4, 4, 4), np.nan)
    out = buffer[..., ::2]
    assert pooling.max_pool_grad.kernel(np, x, g, pool_size=2, out=out) is out
    np.testing.assert_array_equal(out, _max_pool_grad_ref(x, g, pool_size=2))
    assert np.isnan(buffer[..., 1::2]).all()


def test_tiled_max_pool_gradient_through_the_tape_matches_naive_loops():
    rng = np.random.default_rng(4)
    x = rl.Variable(_tied(rng, (2, 5, 6, 3)).astype(np.float32))
    weights = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    with rl.GradientTape() as tape:
        loss = rl.sum(rl.max_pool2d(x, 2) * weights)
    expected = _max_pool_grad_ref(x.numpy(), weights, pool_size=2)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), expected, rtol=1e-6)


def test_tiled_max_pool_grad_reads_and_writes_transposed_arrays():
    rng = np.random.default_rng(5)
    x = _tied(rng, (2, 8, 6, 3)).transpose(0, 2, 1, 3)  # (2, 6, 8, 3), not contiguous
    g = rng.standard_normal((2, 3, 4, 3))
    out = np.full((2, 3, 6, 8), np.nan).transpose(0, 2, 3, 1)
    assert pooling.max_pool_grad.kernel(np, x, g, pool_size=2, out=out) is out
    np.testing.assert_array_equal(out, _max_pool_grad_ref(x, g, pool_size=2))


def test_tiled_max_pool_grad_of_an_empty_batch():
    d_x = pooling.max_pool_grad(np.zeros((0, 4, 4, 2)), np.zeros((0, 2, 2, 2)), pool_size=2)
    assert d_x.shape == (0, 4, 4, 2)
