"""nn ops beyond the op table: stability, pooling geometry, gradient routing, dtypes,
properties, and the errors bad input meets."""

import doctest
import math

import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import rillet as rl
from rillet.errors import ArgumentError, AxisError, DTypeError, ShapeError
from rillet.ops import nn, pooling
from rillet.ops._registry import Spec
from tests.ops.opinfo.nn import _pool_ref


def _grad(fn, *args):
    args = [rl.asarray(a) for a in args]
    with rl.GradientTape(persistent=True) as tape:
        tape.watch(args)
        value = rl.sum(fn(*args))
    return [None if g is None else g.numpy() for g in tape.gradient(value, args)]


# ---------------------------------------------------------------- stability


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_last_axis_fast_path_agrees_with_the_general_one(rng, dtype):
    """Rows with NaN, infinities and all -inf come out as the reduction along another axis
    gives them (NaN rows), and ordinary rows match SciPy; so do their gradients."""
    x = rng.standard_normal((6, 5)).astype(dtype) * 3
    x[0, 1], x[1, :], x[2, 0] = np.nan, -np.inf, np.inf
    fast = rl.softmax(x, axis=-1).numpy()
    general = rl.softmax(np.ascontiguousarray(x.T), axis=0).numpy().T
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(general))
    assert np.isnan(fast[:3]).all()
    np.testing.assert_allclose(fast[3:], sp.softmax(x[3:].astype(np.float64), axis=-1),
                               rtol=1e-6 if dtype == np.float32 else 1e-13)  # fmt: skip
    w = rng.standard_normal((6, 5))
    ok = rng.standard_normal((6, 5)).astype(dtype)
    g_fast = _grad(lambda t: rl.softmax(t, axis=-1) * w, ok)[0]
    g_general = _grad(lambda t: rl.transpose(rl.softmax(rl.transpose(t), axis=0)) * w, ok)[0]
    np.testing.assert_allclose(g_fast, g_general, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-7)  # fmt: skip


def test_softmax_is_finite_and_correct_with_huge_logits():
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]], np.float32)
    np.testing.assert_allclose(rl.softmax(x).numpy(), [[1, 0, 0], [1 / 3] * 3], rtol=1e-6)
    np.testing.assert_allclose(rl.log_softmax(x).numpy()[0], [0.0, -1e4, -2e4])
    assert np.isfinite(_grad(lambda t: rl.log_softmax(t) * rl.asarray([1.0, 2.0, 3.0]), x)[0]).all()


def test_cross_entropies_are_finite_and_correct_with_huge_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], np.float32)
    labels = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]], np.float32)
    dense = rl.softmax_cross_entropy_with_logits(labels, logits)
    np.testing.assert_allclose(dense.numpy(), [2e4, 1e4], rtol=1e-6)
    sparse = rl.sparse_softmax_cross_entropy_with_logits(np.array([1, 1]), logits)
    np.testing.assert_allclose(sparse.numpy(), [2e4, 0.0], rtol=1e-6)
    sigmoid = rl.sigmoid_cross_entropy_with_logits(labels, logits).numpy()
    np.testing.assert_allclose(sigmoid[:, :2], [[1e4, 1e4], [5e3, 5e3]], rtol=1e-6)
    for fn in (lambda z, x: rl.softmax_cross_entropy_with_logits(z, x),
               lambda z, x: rl.sigmoid_cross_entropy_with_logits(z, x)):  # fmt: skip
        assert all(np.isfinite(g).all() for g in _grad(fn, labels, logits))


# ---------------------------------------------------------------- pooling geometry and routing


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 12), pool=st.integers(1, 4), stride=st.integers(1, 4))
def test_same_padding_output_size_is_ceil_of_size_over_stride(size, pool, stride):
    x = rl.zeros((1, size, size + 1, 2))
    y = rl.max_pool2d(x, pool, strides=stride, padding="same")
    assert y.shape == (1, math.ceil(size / stride), math.ceil((size + 1) / stride), 2)
    z = rl.avg_pool1d(rl.zeros((1, size, 1)), pool, strides=stride, padding="same")
    assert z.shape == (1, math.ceil(size / stride), 1)


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(3, 9),
    pool=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same"]),
    seed=st.integers(0, 2**16),
)
def test_pooling_matches_a_naive_loop_for_any_geometry(size, pool, stride, padding, seed):
    x = np.random.default_rng(seed).standard_normal((2, size, size + 1, 3))
    kwargs = dict(pool_size=pool, strides=stride, padding=padding)
    for op, reduce in ((rl.max_pool2d, np.max), (rl.avg_pool2d, np.mean)):
        np.testing.assert_allclose(op(x, **kwargs).numpy(), _pool_ref(reduce)(x, **kwargs))
    valid_size = (size - pool) // stride + 1 if padding == "valid" else math.ceil(size / stride)
    assert rl.max_pool1d(x[:, :, 0], **kwargs).shape == (2, valid_size, 3)


def test_max_pool_gradient_goes_to_the_max_position():
    x = np.array([[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 9.0, 1.0]], np.float32).reshape(1, 2, 4, 1)
    g = _grad(lambda t: rl.max_pool2d(t, 2) * rl.asarray([10.0, 20.0]).reshape((1, 1, 2, 1)), x)
    expected = np.zeros((2, 4))
    expected[0, 1], expected[1, 2] = 10.0, 20.0
    np.testing.assert_array_equal(g[0].reshape(2, 4), expected)


def test_max_pool_gradient_on_ties_goes_to_one_position():
    x = np.ones((1, 2, 2, 1), np.float32)
    g = _grad(lambda t: rl.max_pool2d(t, 2), x)[0].reshape(2, 2)
    np.testing.assert_array_equal(g, [[1.0, 0.0], [0.0, 0.0]])  # the first, as TF


def test_same_max_pool_never_picks_padding_of_negative_inputs():
    x = -np.arange(1.0, 6.0, dtype=np.float32).reshape(1, 5, 1)
    y = rl.max_pool1d(x, 3, strides=2, padding="same")
    np.testing.assert_array_equal(y.numpy().ravel(), [-1.0, -2.0, -4.0])


def test_same_avg_pool_divides_by_real_cells_only():
    y = rl.avg_pool1d(np.ones((1, 5, 1), np.float32), 4, strides=1, padding="same")
    np.testing.assert_array_equal(y.numpy().ravel(), np.ones(5))


def test_max_pool_keeps_integer_dtypes():
    x = np.array([[[3], [-7], [2], [9]]], np.int32)
    y = rl.max_pool1d(x, 2, padding="same")
    assert y.dtype == rl.int32
    np.testing.assert_array_equal(y.numpy().ravel(), [3, 9])


def test_pool_accepts_tf_style_window_of_rank_plus_two():
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 2)).astype(np.float32)
    tf_style = rl.max_pool2d(x, [1, 2, 2, 1], strides=[1, 2, 2, 1])
    np.testing.assert_array_equal(tf_style.numpy(), rl.max_pool2d(x, 2).numpy())


# ---------------------------------------------------------------- cross-entropy agreement


def test_sparse_and_dense_cross_entropy_agree_on_one_hot_labels(rng):
    logits = rng.standard_normal((4, 5))
    labels = np.array([0, 4, 2, 2])
    one_hot = np.eye(5)[labels]
    sparse = rl.sparse_softmax_cross_entropy_with_logits(labels, logits)
    dense = rl.softmax_cross_entropy_with_logits(one_hot, logits)
    np.testing.assert_allclose(sparse.numpy(), dense.numpy(), rtol=1e-12)
    g = _grad(lambda x: rl.sparse_softmax_cross_entropy_with_logits(labels, x), logits)[0]
    np.testing.assert_allclose(g, sp.softmax(logits, axis=-1) - one_hot, rtol=1e-12)


def test_sparse_cross_entropy_takes_int32_labels_without_gradient(rng):
    labels = rl.asarray(np.array([1, 0], np.int32))
    logits = rl.asarray(rng.standard_normal((2, 3)).astype(np.float32))
    with rl.GradientTape() as tape:
        tape.watch([labels, logits])
        loss = rl.sparse_softmax_cross_entropy_with_logits(labels, logits)
    assert loss.dtype == rl.float32
    assert tape.gradient(loss, labels) is None


# ---------------------------------------------------------------- normalization


def test_fused_batch_norm_agrees_with_moments_and_batch_norm(rng):
    x = rng.standard_normal((6, 3, 4))
    scale, offset = rng.standard_normal(4), rng.standard_normal(4)
    y, mean, variance = rl.fused_batch_norm(x, scale, offset, epsilon=1e-3)
    m, v = rl.moments(x, axes=[0, 1])
    expected = rl.batch_norm(x, m, v, offset, scale, variance_epsilon=1e-3)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-12)
    np.testing.assert_allclose(mean.numpy(), m.numpy(), rtol=1e-12)
    np.testing.assert_allclose(variance.numpy(), v.numpy(), rtol=1e-12)


def test_layer_norm_gives_zero_mean_unit_variance_rows(rng):
    x = rng.standard_normal((5, 8)).astype(np.float32) * 10 + 3
    y = rl.layer_norm(x, epsilon=0.0).numpy()
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("dtype", [rl.float16, rl.bfloat16])
def test_normalization_keeps_low_precision_dtypes(dtype):
    x = rl.asarray(np.random.default_rng(0).standard_normal((4, 3)), dtype=dtype)
    scale = rl.ones((3,), dtype=dtype)
    assert rl.layer_norm(x, scale).dtype == dtype
    assert [t.dtype for t in rl.fused_batch_norm(x, scale, scale)] == [dtype] * 3
    assert [t.dtype for t in rl.moments(x, axes=0)] == [dtype] * 2


# ---------------------------------------------------------------- property tests


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(-50, 50), min_size=1, max_size=8),
    shift=st.floats(-1e3, 1e3),
)
def test_softmax_sums_to_one_and_ignores_shifts(values, shift):
    x = np.array(values)
    y = rl.softmax(x).numpy()
    assert abs(y.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(rl.softmax(x + shift).numpy(), y, atol=1e-12)
    np.testing.assert_allclose(np.exp(rl.log_softmax(x).numpy()), y, atol=1e-12)


# ---------------------------------------------------------------- kernels and docs


def test_kernels_write_into_out():
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3))
    for op in (nn.softmax, nn.log_softmax):
        buffer = np.empty_like(x)
        assert op.kernel(np, x, axis=-1, out=buffer) is buffer
    for op in (pooling.max_pool2d, pooling.avg_pool2d):
        buffer = np.empty((2, 2, 2, 3))
        assert op.kernel(np, x, pool_size=2, out=buffer) is buffer
        np.testing.assert_array_equal(buffer, op(x, pool_size=2).numpy())


def test_rules_accept_unknown_sizes():
    f32, i64 = rl.float32, rl.int64
    pooled = pooling.max_pool2d.rule(Spec((None, None, 7, 3), f32), pool_size=2, padding="same")
    assert pooled.shape == (None, None, 4, 3)
    loss = nn.sparse_softmax_cross_entropy_with_logits.rule(
        Spec((None,), i64), Spec((None, 5), f32)
    )
    assert loss.shape == (None,)
    y, mean, _ = nn.fused_batch_norm.rule(Spec((None, 4, 5), f32), Spec((5,), f32), None)
    assert (y.shape, mean.shape) == ((None, 4, 5), (5,))
    assert nn.layer_norm.rule(Spec((None, 5), f32), Spec((5,), f32)).shape == (None, 5)


def test_docstring_examples_run():
    runner = doctest.DocTestRunner()
    for name in nn.__all__:
        for test in doctest.DocTestFinder().find(getattr(nn, name).__wrapped__, name, globs={}):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


# ---------------------------------------------------------------- bad input


def test_valid_pool_larger_than_input_names_the_sizes():
    with pytest.raises(
        ShapeError, match=r"max_pool2d: pool_size=\(3, 3\).*\(2, 2\).*\(1, 2, 2, 1\)"
    ):
        rl.max_pool2d(rl.zeros((1, 2, 2, 1)), 3)


def test_max_pool2d_of_wrong_rank_names_the_shape_and_the_caller():
    with pytest.raises(ShapeError, match=r"max_pool2d: x must have rank 4.*\(3, 3, 1\)") as info:
        rl.max_pool2d(rl.zeros((3, 3, 1)), 2)
    assert "test_nn.py:" in str(info.value)


def test_bad_padding_string_is_named():
    with pytest.raises(ArgumentError, match=r"avg_pool1d: padding='full' is not one of"):
        rl.avg_pool1d(rl.zeros((1, 4, 1)), 2, padding="full")


def test_nonpositive_pool_size_is_named():
    with pytest.raises(ArgumentError, match=r"max_pool1d: pool_size=0 must be a positive int"):
        rl.max_pool1d(rl.zeros((1, 4, 1)), 0)
    with pytest.raises(ArgumentError, match=r"max_pool2d: strides=\(1, 2, 3\) must be"):
        rl.max_pool2d(rl.zeros((1, 4, 4, 1)), 2, strides=(1, 2, 3))


def test_avg_pool_of_integers_is_a_dtype_error():
    with pytest.raises(DTypeError, match=r"avg_pool2d: x has dtype int64"):
        rl.avg_pool2d(rl.asarray(np.zeros((1, 2, 2, 1), np.int64)), 2)


def test_labels_logits_shape_mismatch_names_both():
    with pytest.raises(
        ShapeError, match=r"softmax_cross_entropy_with_logits: labels\(2, 3\).*logits\(2, 4\)"
    ) as info:
        rl.softmax_cross_entropy_with_logits(rl.zeros((2, 3)), rl.zeros((2, 4)))
    assert "test_nn.py:" in str(info.value)
    with pytest.raises(ShapeError, match=r"sigmoid_cross_entropy.*labels\(3,\).*logits\(3, 1\)"):
        rl.sigmoid_cross_entropy_with_logits(rl.zeros((3,)), rl.zeros((3, 1)))


def test_sparse_label_out_of_range_names_the_value_and_class_count():
    with pytest.raises(
        ArgumentError, match=r"sparse_softmax.*labels\[1\] = 7 .*\[0, 5\).*5 classes"
    ):
        rl.sparse_softmax_cross_entropy_with_logits(rl.asarray([2, 7]), rl.zeros((2, 5)))
    with pytest.raises(ArgumentError, match=r"labels\[0\] = -1 "):
        rl.sparse_softmax_cross_entropy_with_logits(rl.asarray([-1, 0]), rl.zeros((2, 5)))


def test_sparse_labels_of_wrong_shape_or_dtype_are_named():
    with pytest.raises(ShapeError, match=r"sparse_softmax.*labels\(2, 1\).*logits\(2, 5\)"):
        rl.sparse_softmax_cross_entropy_with_logits(rl.asarray([[1], [2]]), rl.zeros((2, 5)))
    with pytest.raises(DTypeError, match=r"labels has dtype float32, expected an integer"):
        rl.sparse_softmax_cross_entropy_with_logits(rl.zeros((2,)), rl.zeros((2, 5)))


def test_softmax_axis_out_of_range_and_integer_input_are_named():
    with pytest.raises(AxisError, match=r"softmax: axis=2 is out of range for a tensor of rank 2"):
        rl.softmax(rl.zeros((2, 3)), axis=2)
    with pytest.raises(DTypeError, match=r"log_softmax: x has dtype int64, expected a floating"):
        rl.log_softmax(rl.asarray([1, 2]))


def test_batch_norm_statistics_that_do_not_broadcast_are_named():
    with pytest.raises(ShapeError, match=r"batch_norm: cannot broadcast x\(4, 3\) with mean\(4,\)"):
        rl.batch_norm(rl.zeros((4, 3)), rl.zeros((4,)), rl.ones((3,)), None, None, 1e-3)


def test_layer_norm_scale_that_does_not_broadcast_is_named():
    with pytest.raises(ShapeError, match=r"layer_norm: .*scale\(5,\).*x\(2, 4\)"):
        rl.layer_norm(rl.zeros((2, 4)), rl.ones((5,)))
    with pytest.raises(ShapeError, match=r"layer_norm: scale\(2, 4\) must broadcast to x\(4,\)"):
        rl.layer_norm(rl.zeros((4,)), rl.ones((2, 4)))


def test_fused_batch_norm_scale_of_wrong_size_is_named():
    with pytest.raises(ShapeError, match=r"fused_batch_norm: scale\(4,\) must have shape \(3,\)"):
        rl.fused_batch_norm(rl.zeros((2, 3)), rl.ones((4,)), rl.zeros((3,)))


def test_moments_axes_out_of_range_are_named():
    with pytest.raises(AxisError, match=r"moments: axes=3 is out of range for a tensor of rank 2"):
        rl.moments(rl.zeros((2, 3)), axes=[0, 3])
