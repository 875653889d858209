"""The max-pool gradient's path for tiling windows (stride == window, no padding) against
the naive loops of the op table: ties, cells after the last whole window, 1-D, integer
inputs, and writing into ``out``."""

import numpy as np
import pytest

import rillet as rl
from rillet.ops import _jit, pooling
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


# ------------------------------------------------- the compiled 2x2 loops (rillet/ops/_jit.py)

needs_jit = pytest.mark.skipif(not _jit.enabled(), reason="compiled loops are off")
COMPILED = [(2, 6, 8, 3), (3, 7, 9, 5), (1, 2, 2, 1), (2, 11, 11, 40)]  # odd sizes: a cut edge


def _numpy_path(monkeypatch):
    """Turn the compiled 2x2 loops off for the rest of the test."""
    monkeypatch.setattr(pooling, "_pairs_loop", lambda *args: None)


def _special(rng, shape, dtype):
    """Ties, NaN and infinite cells, and negative maxima."""
    x = rng.integers(-3, 3, shape).astype(dtype)
    x.reshape(-1)[rng.integers(0, x.size, max(1, x.size // 20))] = np.nan
    x.reshape(-1)[rng.integers(0, x.size, max(1, x.size // 30))] = -np.inf
    x.reshape(-1)[rng.integers(0, x.size, max(1, x.size // 30))] = np.inf
    return x


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", COMPILED)
def test_compiled_2x2_max_pool_grad_equals_the_numpy_path(shape, dtype, monkeypatch):
    rng = np.random.default_rng(6)
    g = rng.standard_normal(_out_shape(shape, pool_size=2)).astype(dtype)
    plan = pooling._plan(shape, 2, None, "valid")
    for x in (rng.standard_normal(shape).astype(dtype), _tied(rng, shape).astype(dtype)):
        assert pooling._pairs_loop(pooling._max_pool_grad_2x2_loop, plan, x, g) is not None
        out = np.full(shape, 7.0, dtype)  # every cell is written
        got = pooling.max_pool_grad.kernel(np, x, g, pool_size=2, out=out)
        assert got is out and got.dtype == dtype
        np.testing.assert_array_equal(got, _max_pool_grad_ref(x, g, pool_size=2))
    x, g = _special(rng, shape, dtype), g.copy()
    g.reshape(-1)[[0, -1]] = [np.inf, np.nan]  # spread as g * 0 over the window, as NumPy does
    got = pooling.max_pool_grad.kernel(np, x, g, pool_size=2)
    with monkeypatch.context() as patch, np.errstate(invalid="ignore"):
        _numpy_path(patch)
        np.testing.assert_array_equal(got, pooling.max_pool_grad.kernel(np, x, g, pool_size=2))


@needs_jit
def test_compiled_2x2_max_pool_grad_passes_nothing_from_a_window_holding_nan():
    x = np.array([[1.0, np.nan], [3.0, 2.0], [1.0, 4.0], [3.0, 2.0]], np.float32)
    d_x = pooling.max_pool_grad.kernel(np, x.reshape(2, 2, 2, 1), np.ones((2, 1, 1, 1),
                                       np.float32), pool_size=2)  # fmt: skip
    np.testing.assert_array_equal(d_x.reshape(2, 4), [[0, 0, 0, 0], [0, 1, 0, 0]])


@needs_jit
def test_compiled_2x2_max_pool_grad_sends_ties_to_the_first_cell():
    x = np.array([[5.0, 5.0], [5.0, 5.0], [1.0, 2.0], [2.0, 2.0]], np.float32)
    x = x.reshape(2, 2, 2, 1)  # two windows: all tied, and a tie after the first cell
    d_x = pooling.max_pool_grad.kernel(np, x, np.full((2, 1, 1, 1), 3.0, np.float32), pool_size=2)
    np.testing.assert_array_equal(d_x.reshape(2, 4), [[3, 0, 0, 0], [0, 3, 0, 0]])


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", COMPILED)
def test_compiled_2x2_max_pool_equals_the_numpy_path(shape, dtype, monkeypatch):
    rng = np.random.default_rng(7)
    for x in (rng.standard_normal(shape).astype(dtype), _special(rng, shape, dtype)):
        out = np.full(_out_shape(shape, pool_size=2), 7.0, dtype)
        got = pooling.max_pool2d.kernel(np, x, pool_size=2, out=out)
        with monkeypatch.context() as patch:
            _numpy_path(patch)
            expected = pooling.max_pool2d.kernel(np, x, pool_size=2)
        assert got is out
        np.testing.assert_array_equal(got, expected)  # NaN where a window holds one


@needs_jit
def test_compiled_2x2_pool_and_gradient_through_a_compiled_step_match_eager():
    rng = np.random.default_rng(8)
    x = rl.Variable(rng.standard_normal((4, 9, 10, 16)).astype(np.float32))
    weights = rng.standard_normal((4, 4, 5, 16)).astype(np.float32)

    def loss_and_grad():
        with rl.GradientTape() as tape:
            loss = rl.sum(rl.max_pool2d(rl.relu(x), 2) * weights)
        return loss, tape.gradient(loss, x)

    loss, grad = loss_and_grad()
    traced_loss, traced_grad = rl.function(loss_and_grad)()
    relu_x = np.maximum(x.numpy(), 0)
    expected = _max_pool_grad_ref(relu_x, weights, pool_size=2) * (relu_x > 0)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(traced_grad.numpy(), grad.numpy())
    np.testing.assert_allclose(traced_loss.numpy(), loss.numpy(), rtol=1e-6)


def test_2x2_pools_of_other_layouts_and_dtypes_take_the_numpy_path():
    plan = pooling._plan((2, 4, 4, 3), 2, None, "valid")
    x = np.zeros((2, 4, 4, 3), np.float32)
    loop = pooling._max_pool_grad_2x2_loop
    assert pooling._pairs_loop(loop, plan, x.astype(np.int32)) is None
    assert pooling._pairs_loop(loop, plan, x.astype(np.float16)) is None
    assert pooling._pairs_loop(loop, plan, x, x.astype(np.float64)) is None
    assert pooling._pairs_loop(loop, plan, x.transpose(0, 2, 1, 3)) is None
    for other in (pooling._plan(x.shape, 2, 1, "valid"), pooling._plan(x.shape, 3, 3, "valid"),
                  pooling._plan((2, 5, 5, 3), 2, None, "same")):  # fmt: skip
        assert pooling._pairs_loop(loop, other, x) is None
