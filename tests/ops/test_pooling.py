"""The max-pool gradient's path for tiling windows (stride == window, no padding) against
the naive loops of the op table: ties, cells after the last whole window, 1-D, integer
inputs, and writing into ``out``."""

import numpy as np
import pytest

import rillet as rl
from rillet.ops import _jit, activations, pool_routing, pooling
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


# ------------------------------------------------- max_pool_relu_grad: the fused pair


def _pair(x, g, **kwargs):
    """The unfused pair the fused op replaces: relu_grad(max_pool_grad(x, g), x)."""
    d_x = pooling.max_pool_grad.kernel(np, x, g, **kwargs)
    return activations.relu_grad.kernel(np, d_x, x)


def _relu_like(rng, shape, dtype):
    """A relu's output with ties: zeros (windows whose maximum is 0), small integers."""
    return np.maximum(rng.integers(-2, 3, shape), 0).astype(dtype)


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", COMPILED)
def test_compiled_max_pool_relu_grad_equals_the_pair_bit_for_bit(shape, dtype):
    rng = np.random.default_rng(9)
    g = rng.standard_normal(_out_shape(shape, pool_size=2)).astype(dtype)
    plan = pooling._plan(shape, 2, None, "valid")
    samples = (
        rng.standard_normal(shape),
        _relu_like(rng, shape, dtype),
        _special(rng, shape, dtype),
    )
    with np.errstate(invalid="ignore"):
        for x in (s.astype(dtype) for s in samples):
            assert pooling._pairs_loop(pooling._max_pool_grad_2x2_loop, plan, x, g) is not None
            out = np.full(shape, 7.0, dtype)  # every cell is written
            got = pooling.max_pool_relu_grad.kernel(np, x, g, pool_size=2, out=out)
            assert got is out and got.dtype == dtype
            np.testing.assert_array_equal(got, _pair(x, g, pool_size=2))
            np.testing.assert_array_equal(np.signbit(got), np.signbit(_pair(x, g, pool_size=2)))
        g = g.copy()
        for at, value in ((0, np.inf), (g.size // 2, -np.inf), (-1, np.nan)):
            g.reshape(-1)[at] = value
        np.testing.assert_array_equal(
            pooling.max_pool_relu_grad.kernel(np, x, g, pool_size=2), _pair(x, g, pool_size=2)
        )


@needs_jit
def test_compiled_max_pool_relu_grad_passes_nothing_where_the_maximum_is_not_positive():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [-1.0, -3.0], [-2.0, -1.0], [0.0, 2.0], [2.0, 1.0]])
    x = x.reshape(3, 2, 2, 1).astype(np.float32)  # all zero, all negative, a tie at 2
    g = np.full((3, 1, 1, 1), 5.0, np.float32)
    d_x = pooling.max_pool_relu_grad.kernel(np, x, g, pool_size=2)
    np.testing.assert_array_equal(d_x.reshape(3, 4), [[0, 0, 0, 0], [0, 0, 0, 0], [0, 5, 0, 0]])


OVERLAPPING = [
    ((2, 5, 5, 2), {"pool_size": 3, "strides": 1}),
    ((1, 5, 5, 3), {"pool_size": 2, "padding": "same"}),
]


@pytest.mark.parametrize("shape,kwargs", TILED + OVERLAPPING)
def test_max_pool_relu_grad_of_other_windows_matches_naive_loops(shape, kwargs):
    rng = np.random.default_rng(10)
    x = rng.integers(-2, 3, shape).astype(np.float64)
    g = rng.standard_normal(_out_shape(shape, **kwargs))
    out = np.full(shape, np.nan)
    got = pooling.max_pool_relu_grad.kernel(np, x, g, **kwargs, out=out)
    assert got is out
    np.testing.assert_array_equal(got, _max_pool_grad_ref(x, g, **kwargs) * (x > 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_relu_grad_without_compiled_loops_equals_the_pair(dtype, monkeypatch):
    rng = np.random.default_rng(11)
    x, g = _special(rng, (2, 6, 8, 3), dtype), rng.standard_normal((2, 3, 4, 3)).astype(dtype)
    _numpy_path(monkeypatch)
    with np.errstate(invalid="ignore"):
        got = pooling.max_pool_relu_grad.kernel(np, x, g, pool_size=2)
        np.testing.assert_array_equal(got, _pair(x, g, pool_size=2))


def test_max_pool_relu_grad_of_integer_and_strided_operands_matches_naive_loops():
    rng = np.random.default_rng(12)
    x = rng.integers(-3, 4, (2, 8, 6, 3)).transpose(0, 2, 1, 3)  # integers, not contiguous
    g = rng.standard_normal((2, 3, 4, 3)).astype(np.float32)
    got = pooling.max_pool_relu_grad(x, g, pool_size=2).numpy()
    np.testing.assert_array_equal(got, _max_pool_grad_ref(x, g, pool_size=2) * (x > 0))


def test_max_pool_relu_grad_rejects_a_gradient_of_the_wrong_shape():
    with pytest.raises(rl.errors.ShapeError, match=r"max_pool_relu_grad: g\(2, 2, 2, 3\)"):
        pooling.max_pool_relu_grad(np.ones((2, 6, 6, 3)), np.ones((2, 2, 2, 3)), pool_size=2)


def test_max_pool_relu_grad_gradient_of_a_gradient_matches_the_pair():
    """Its VJP (in g) equals the VJP of the pair it replaces."""
    rng = np.random.default_rng(13)
    x = rl.asarray(rng.integers(-2, 3, (2, 4, 6, 3)).astype(np.float64))
    g = rl.asarray(rng.standard_normal((2, 2, 3, 3)))
    h = rng.standard_normal((2, 4, 6, 3))

    def vjp(fn):
        with rl.GradientTape() as tape:
            tape.watch(g)
            loss = rl.sum(fn(x, g) * h)
        return tape.gradient(loss, g).numpy()

    fused = vjp(lambda x, g: pooling.max_pool_relu_grad(x, g, pool_size=2))
    pair = vjp(lambda x, g: activations.relu_grad(pooling.max_pool_grad(x, g, pool_size=2), x))
    np.testing.assert_array_equal(fused, pair)


def test_pool_sizes_given_as_lists_equal_tuples():
    """The window plan is cached for hashable arguments; lists take the uncached path."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 7, 6, 3))
    as_lists = rl.max_pool2d(x, [3, 2], strides=[2, 1], padding="same").numpy()
    as_tuples = rl.max_pool2d(x, (3, 2), strides=(2, 1), padding="same").numpy()
    np.testing.assert_array_equal(as_lists, as_tuples)
    assert pooling._plan(x.shape, [3, 2], [2, 1], "same") == pooling._plan(
        x.shape, (3, 2), (2, 1), "same"
    )
    with pytest.raises(rl.errors.ArgumentError, match=r"pool_size=\[0, 2\]"):
        rl.max_pool2d(x, [0, 2])


# ------------------------------------- routing by a saved argmax: argmax, scatter, gather

ROUTED = TILED[:6]  # the windows tile the input (stride == window, no padding)


def _argmax(x, positive_only, **kwargs):
    return pool_routing.max_pool_argmax.kernel(np, x, **kwargs, positive_only=positive_only)


def _scatter(argmax, g, shape, **kwargs):
    return pool_routing.max_pool_scatter.kernel(np, argmax, g, input_shape=shape, **kwargs)


@pytest.mark.parametrize("positive_only", [False, True])
@pytest.mark.parametrize("shape,kwargs", ROUTED)
def test_scatter_by_the_argmax_equals_the_pool_gradient_bit_for_bit(shape, kwargs, positive_only):
    """From max_pool_grad's (or, positive_only, max_pool_relu_grad's) own windows."""
    rng = np.random.default_rng(15)
    g = rng.standard_normal(_out_shape(shape, **kwargs))
    expected_op = pooling.max_pool_relu_grad if positive_only else pooling.max_pool_grad
    with np.errstate(invalid="ignore"):
        for x in (_tied(rng, shape) - 1.0, _special(rng, shape, np.float64)):
            argmax = _argmax(x, positive_only, **kwargs)
            assert argmax.dtype == np.int8 and argmax.shape == g.shape
            out = np.full(shape, np.nan)
            assert _scatter(argmax, g, shape, **kwargs, out=out) is out
            expected = expected_op.kernel(np, x, g, **kwargs)
            np.testing.assert_array_equal(out, expected)
            np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", COMPILED)
def test_compiled_argmax_and_scatter_equal_the_numpy_paths(shape, dtype, monkeypatch):
    rng = np.random.default_rng(16)
    g = rng.standard_normal(_out_shape(shape, pool_size=2)).astype(dtype)
    g.reshape(-1)[[0, -1]] = [np.inf, np.nan]
    plan = pooling._plan(shape, 2, None, "valid")
    assert pooling._pairs_loop(pool_routing._max_pool_argmax_2x2_loop, plan, g) is not None
    for x in (_relu_like(rng, shape, dtype), _special(rng, shape, dtype)):
        for positive_only in (False, True):
            argmax = _argmax(x, positive_only, pool_size=2)
            with np.errstate(invalid="ignore"):
                d_x = _scatter(argmax, g, shape, pool_size=2, out=np.full(shape, 7.0, dtype))
                with monkeypatch.context() as patch:
                    _numpy_path(patch)
                    np.testing.assert_array_equal(argmax, _argmax(x, positive_only, pool_size=2))
                    np.testing.assert_array_equal(d_x, _scatter(argmax, g, shape, pool_size=2))


def test_argmax_takes_the_first_maximum_and_marks_windows_that_pass_nothing():
    x = np.array([[5, 5], [5, 5], [1, 2], [2, 2], [0, 0], [0, 0], [1, np.nan], [3, 2]])
    x = x.reshape(4, 2, 2, 1)  # all tied, a later tie, a zero maximum, a NaN
    assert _argmax(x, False, pool_size=2).reshape(-1).tolist() == [0, 1, 0, 4]
    assert _argmax(x, True, pool_size=2).reshape(-1).tolist() == [0, 1, 4, 4]


@pytest.mark.parametrize("shape,kwargs", ROUTED)
def test_gather_by_the_argmax_equals_the_pool_gradients_gradient(shape, kwargs):
    rng = np.random.default_rng(17)
    x, h = _tied(rng, shape), rng.standard_normal(shape)
    got = pool_routing.max_pool_gather.kernel(np, _argmax(x, False, **kwargs), h, **kwargs)
    np.testing.assert_array_equal(got, pooling.max_pool_grad_grad.kernel(np, x, h, **kwargs))


def test_routing_ops_reject_windows_that_do_not_tile_and_a_wrong_argmax():
    x = np.ones((1, 5, 5, 2))
    with pytest.raises(rl.errors.ArgumentError, match="max_pool_argmax: the windows must tile"):
        pool_routing.max_pool_argmax(x, pool_size=3, strides=1)
    with pytest.raises(rl.errors.ArgumentError, match="max_pool_scatter: the windows must tile"):
        pool_routing.max_pool_scatter(
            np.zeros((1, 3, 3, 2), np.int8), np.ones((1, 3, 3, 2)), input_shape=x.shape,
            pool_size=2, padding="same",
        )  # fmt: skip
    with pytest.raises(rl.errors.ShapeError, match=r"argmax must be int8 of the pooled shape"):
        pool_routing.max_pool_gather(np.zeros((1, 2, 2, 2), np.int32), x, pool_size=2)
    with pytest.raises(rl.errors.DTypeError):
        pool_routing.max_pool_argmax(np.ones((1, 4, 4, 2), np.int32), pool_size=2)
