"""The fused epilogue ops: each kernel path against NumPy, the rules' errors, gradients."""

import types

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ShapeError
from rillet.ops import _epilogue_jit, epilogue
from rillet.ops._registry import Spec
from rillet.ops.epilogue import bias_activation, fused_conv2d, fused_matmul, specialize
from rillet.testing.gradcheck import check_grads

DTYPES = [np.float32, np.float64]
ACTIVATIONS = [None, "relu"]
needs_jit = pytest.mark.skipif(
    _epilogue_jit.linear_loop.compiled is None, reason="compiled loops are off"
)


def data(*shapes, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def reference(x, w, b, activation):
    z = x.astype(np.float64) @ w.astype(np.float64) + b.astype(np.float64)
    return np.maximum(z, 0) if activation == "relu" else z


def tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 0}


@pytest.fixture
def numpy_only(monkeypatch):
    """The kernels' NumPy path, as with RILLET_DISABLE_JIT=1."""
    for name in ("linear_loop", "bias_activation_loop"):
        monkeypatch.setattr(_epilogue_jit, name, types.SimpleNamespace(compiled=None))


# --- kernel paths -------------------------------------------------------------------------


@needs_jit
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", [((1, 1, 120), (120, 64)), ((3, 7), (7, 5)), ((4,), (4, 3))])
def test_small_loop_matches_numpy(shape, activation, dtype):
    x, w, b = data(*shape, shape[1][-1:], dtype=dtype)
    assert epilogue._small(x.size // x.shape[-1], *w.shape)
    got = fused_matmul.kernel(np, x, w, b, activation=activation)
    assert got.dtype == dtype and got.shape == (*x.shape[:-1], w.shape[1])
    np.testing.assert_allclose(got, reference(x, w, b, activation), **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_blas_path_writes_into_out(activation, dtype):
    x, w, b = data((2, 50, 40), (40, 30), (30,), dtype=dtype)
    assert not epilogue._small(100, *w.shape)
    out = np.full((2, 50, 30), np.nan, dtype)
    got = fused_matmul.kernel(np, x, w, b, activation=activation, out=out)
    assert got is out
    np.testing.assert_allclose(got, reference(x, w, b, activation), **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [2, 300])  # the small loop's size, and BLAS's
def test_numpy_path_matches_compiled_path(rows, dtype, numpy_only):
    x, w, b = data((rows, 30), (30, 20), (20,), dtype=dtype)
    got = fused_matmul.kernel(np, x, w, b, activation="relu")
    np.testing.assert_allclose(got, reference(x, w, b, "relu"), **tolerance(dtype))


def test_out_that_is_not_contiguous_is_written(numpy_only):
    x, w, b = data((3, 4), (4, 5), (5,))
    out = np.zeros((5, 3), np.float32).T
    assert fused_matmul.kernel(np, x, w, b, activation="relu", out=out) is out
    np.testing.assert_allclose(out, reference(x, w, b, "relu"), rtol=1e-6)


def test_empty_operands_give_empty_results():
    x, w, b = data((0, 3), (3, 4), (4,))
    assert fused_matmul(x, w, b, activation="relu").shape == (0, 4)
    x, w, b = data((2, 3), (3, 0), (0,))
    assert fused_matmul(x, w, b, activation="relu").shape == (2, 0)
    x, w, b = data((5, 300), (300, 0), (0,))
    assert fused_matmul(x, w, b).shape == (5, 0)


@pytest.mark.parametrize("compiled", [True, False])
def test_bias_activation_keeps_nan_and_writes_positive_zero(compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(
            _epilogue_jit, "bias_activation_loop", types.SimpleNamespace(compiled=None)
        )
    elif _epilogue_jit.bias_activation_loop.compiled is None:
        pytest.skip("compiled loops are off")
    y = np.array([[np.nan, -0.0, -1.0, 2.0], [np.inf, -np.inf, 0.5, -0.5]], np.float32)
    b = np.array([0.0, 0.0, 0.5, -0.5], np.float32)
    expected = np.maximum(y + b, 0)
    got = bias_activation(np, y.copy(), b, True)
    np.testing.assert_array_equal(got, expected)
    assert not np.signbit(got[0, 1])  # np.maximum(-0.0, 0) is +0
    np.testing.assert_array_equal(bias_activation(np, y.copy(), b, False), y + b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_matches_conv_plus_bias(padding, activation, dtype):
    x, f, b = data((2, 9, 8, 1), (3, 3, 1, 6), (6,), dtype=dtype)
    conv = rl.conv2d(x, f, padding=padding).numpy().astype(np.float64) + b
    expected = np.maximum(conv, 0) if activation == "relu" else conv
    got = fused_conv2d(x, f, b, padding=padding, activation=activation).numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, **tolerance(dtype))


# --- the compiled executor's specialization -----------------------------------------------


@needs_jit
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_specialized_run_matches_kernel(activation):
    x, w, b = data((1, 1, 120), (120, 64), (64,))
    specs = [Spec(a.shape, a.dtype) for a in (x, w, b)] + [Spec((1, 1, 64), x.dtype)]
    run = specialize(*specs, activation)
    expected = fused_matmul.kernel(np, x, w, b, activation=activation)
    out = np.empty((1, 1, 64), np.float32)
    assert run(x, w, b, out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(run(x, w, b, None), expected)


def test_specialize_declines_what_the_loop_does_not_take():
    f32 = np.dtype(np.float32)
    big = [Spec((500, 200), f32), Spec((200, 300), f32), Spec((300,), f32), Spec((500, 300), f32)]
    unknown = [Spec((None, 4), f32), Spec((4, 3), f32), Spec((3,), f32), Spec((None, 3), f32)]
    half = [Spec(s.shape, np.dtype(np.float16)) for s in unknown]
    for specs in (big, unknown, half):
        assert specialize(*specs, "relu") is None


# --- rules and gradients ------------------------------------------------------------------


def test_other_activation_is_an_argument_error():
    x, w, b = data((2, 3), (3, 4), (4,))
    with pytest.raises(ArgumentError, match="activation must be one of"):
        fused_matmul(x, w, b, activation="tanh")


def test_bias_of_another_size_is_a_shape_error():
    x, w, b = data((2, 3), (3, 4), (3,))
    with pytest.raises(ShapeError, match=r"bias\(3,\) must be a vector of the output's last"):
        fused_matmul(x, w, b)
    x, f, b = data((1, 4, 4, 1), (3, 3, 1, 2), (2, 2))
    with pytest.raises(ShapeError, match="must be a vector"):
        fused_conv2d(x, f, b)


def test_batched_weights_are_a_shape_error():
    x, w, b = data((2, 3), (2, 3, 4), (4,))
    with pytest.raises(ShapeError, match=r"w \(K, N\)"):
        fused_matmul(x, w, b)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(activation):
    x, w, b = data((2, 3, 4), (4, 5), (5,), dtype=np.float64, seed=3)
    check_grads(lambda *a: fused_matmul(*a, activation=activation), [x, w, b])
    x, f, b = data((2, 5, 5, 2), (3, 3, 2, 3), (3,), dtype=np.float64, seed=4)
    conv = lambda *a: fused_conv2d(*a, padding="same", activation=activation)  # noqa: E731
    check_grads(conv, [x, f, b])


def test_second_order_gradients_match_finite_differences():
    x, w, b = data((3, 4), (4, 2), (2,), dtype=np.float64, seed=5)
    check_grads(lambda *a: rl.tanh(fused_matmul(*a)), [x, w, b], order=2)
    x, f, b = data((1, 4, 4, 1), (2, 2, 1, 2), (2,), dtype=np.float64, seed=6)
    check_grads(lambda *a: rl.tanh(fused_conv2d(*a)), [x, f, b], order=2)
