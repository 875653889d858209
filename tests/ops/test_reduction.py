"""Reductions, scans and norms: NumPy agreement on random shapes and axes, gradients at ties
and zeros, dtypes, and bad-input errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import logsumexp as scipy_logsumexp

import rillet as rl
from rillet.errors import ArgumentError, AxisError, GradientError, ShapeError
from rillet.testing.gradcheck import check_grads

SETTINGS = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------- random cases (Hypothesis)


@st.composite
def reduction_cases(draw):
    """(x, axis, keepdims): rank 0-4, axis None, an int or a tuple, negative axes mixed in."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3))
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-4, 4, width=64)))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or ndim == 0:
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    return x, axis, draw(st.booleans())


def _single_axis(axis):
    """An int axis (or None) from a case's axis, for argmax and the scans."""
    if isinstance(axis, tuple):
        return axis[0] if axis else None
    return axis


def _logsumexp_ref(x, axis=None, keepdims=False):
    """SciPy's logsumexp, shaped as NumPy shapes reductions (SciPy makes 0-d inputs 1-d)."""
    shape = np.sum(x, axis=axis, keepdims=keepdims).shape
    return np.reshape(scipy_logsumexp(x, axis=axis, keepdims=keepdims), shape)


REFERENCES = {
    "sum": np.sum,
    "mean": np.mean,
    "prod": np.prod,
    "max": np.max,
    "min": np.min,
    "var": np.var,
    "std": np.std,
    "logsumexp": _logsumexp_ref,
    "all": np.all,
    "any": np.any,
}


@SETTINGS
@given(reduction_cases(), st.sampled_from(sorted(REFERENCES)))
def test_reductions_match_numpy_random_axes(case, name):
    x, axis, keepdims = case
    got = getattr(rl, name)(x, axis=axis, keepdims=keepdims)
    want = REFERENCES[name](x, axis=axis, keepdims=keepdims)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(reduction_cases())
def test_norm_matches_numpy_random_axes(case):
    x, axis, keepdims = case
    got = rl.norm(x, axis=axis, keepdims=keepdims)
    want = np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(reduction_cases(), st.sampled_from(["argmax", "argmin"]))
def test_arg_reductions_match_numpy_random_axes(case, name):
    x, axis, keepdims = case
    axis = _single_axis(axis)
    got = getattr(rl, name)(x, axis=axis, keepdims=keepdims)
    want = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert got.dtype == rl.int64
    np.testing.assert_array_equal(got.numpy(), want)


@SETTINGS
@given(reduction_cases(), st.sampled_from(["cumsum", "cumprod"]), st.booleans())
def test_scans_match_numpy_random_axes(case, name, reverse):
    x, axis, _ = case
    axis = _single_axis(axis)
    got = getattr(rl, name)(x, axis=axis, reverse=reverse)
    flat, along = (x.reshape(-1), 0) if axis is None else (x, axis)
    scan = getattr(np, name)
    want = np.flip(scan(np.flip(flat, along), axis=along), along) if reverse else scan(flat, along)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def _gradient(fn, x):
    x = rl.asarray(x)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x).numpy()


@SETTINGS
@given(reduction_cases())
def test_sum_and_mean_gradients_broadcast_back_to_input_shape(case):
    x, axis, keepdims = case
    count = x.size // max(np.sum(x, axis=axis, keepdims=keepdims).size, 1)
    g_sum = _gradient(lambda t: rl.sum(t, axis=axis, keepdims=keepdims), x)
    g_mean = _gradient(lambda t: rl.mean(t, axis=axis, keepdims=keepdims), x)
    assert g_sum.shape == g_mean.shape == x.shape
    np.testing.assert_allclose(g_sum, np.ones_like(x))
    np.testing.assert_allclose(g_mean, np.full_like(x, 1.0 / count))


@SETTINGS
@given(reduction_cases())
def test_max_gradient_broadcasts_back_and_splits_ties(case):
    x, axis, keepdims = case
    g = _gradient(lambda t: rl.max(t, axis=axis, keepdims=keepdims), x)
    assert g.shape == x.shape
    # each slice's unit of gradient is shared by the elements equal to the slice max
    np.testing.assert_allclose(np.sum(g, axis=axis), np.ones_like(np.max(x, axis=axis)))
    assert np.all(g[x < np.max(x, axis=axis, keepdims=True)] == 0)


# ---------------------------------------------------------------- gradients at ties and zeros


def test_max_and_min_split_gradient_evenly_among_ties():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(
        _gradient(lambda t: rl.max(t, axis=1), x), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]
    )
    np.testing.assert_allclose(_gradient(lambda t: rl.min(t, axis=0), x), [[1, 0, 0], [0, 1, 1]])


@pytest.mark.parametrize("keepdims", [False, True])
def test_prod_gradient_is_exact_with_one_and_two_zeros(keepdims):
    x = np.array([[2.0, 0.0, 3.0, 5.0], [0.0, 4.0, 0.0, 7.0], [1.0, 2.0, 3.0, 4.0]])
    g = _gradient(lambda t: rl.prod(t, axis=1, keepdims=keepdims), x)
    # one zero: only the zero gets a gradient (the product of the others); two zeros: none
    np.testing.assert_allclose(g, [[0, 30, 0, 0], [0, 0, 0, 0], [24, 12, 8, 6]])
    assert np.isfinite(g).all()


def test_prod_second_order_gradient_is_exact_at_zeros():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 4.0, 0.0], [1.5, -2.0, 0.5]])
    check_grads(lambda t: rl.prod(t, axis=-1), [x], order=2)
    check_grads(lambda t: rl.prod(t), [x[:2]], order=2)


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumprod_gradient_is_exact_with_one_and_two_zeros(exclusive, reverse):
    x = np.array([[1.5, 0.0, 2.0, -1.0, 0.5], [2.0, 0.0, 3.0, 0.0, 1.5]])
    check_grads(lambda t: rl.cumprod(t, axis=1, exclusive=exclusive, reverse=reverse), [x])
    g = _gradient(lambda t: rl.sum(rl.cumprod(t, axis=1, exclusive=exclusive, reverse=reverse)), x)
    assert np.isfinite(g).all()


def test_cumprod_gradient_at_the_first_zero_skips_it():
    x = np.array([2.0, 0.0, 3.0])
    # d/dx1 of [2, 2*x1, 2*x1*3] summed is 2 + 6 = 8; after the zero everything is 0
    np.testing.assert_allclose(_gradient(lambda t: rl.sum(rl.cumprod(t)), x), [1, 8, 0])


def test_std_gradient_is_zero_for_a_constant_slice():
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    g = _gradient(lambda t: rl.std(t, axis=1), x)
    np.testing.assert_array_equal(g[0], [0, 0, 0])
    check_grads(lambda t: rl.std(t, axis=1), [x[1:]], order=2)


@pytest.mark.parametrize(
    "ord_, axis",
    [
        (None, None),
        (2, 0),
        (1, 0),
        (np.inf, 0),
        (1, (0, 1)),
        (np.inf, (0, 1)),
        ("fro", (0, 1)),
        (2, (0, 1)),
    ],  # fmt: skip
)
def test_norm_gradient_at_zero_is_zero(ord_, axis):
    g = _gradient(lambda t: rl.norm(t, ord=ord_, axis=axis), np.zeros((3, 2)))
    np.testing.assert_array_equal(g, np.zeros((3, 2)))


def test_spectral_norm_matches_numpy_and_has_first_order_gradient():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    got = rl.norm(x, ord=2, axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(got.numpy(), np.linalg.norm(x, 2, axis=(1, 2), keepdims=True))
    check_grads(lambda t: rl.norm(t, ord=2, axis=(2, 1)), [x])


def test_spectral_norm_second_order_gradient_raises():
    x = rl.asarray(np.random.default_rng(0).standard_normal((3, 3)))
    with rl.GradientTape() as outer:
        outer.watch(x)
        with rl.GradientTape() as inner:
            inner.watch(x)
            y = rl.norm(x, ord=2, axis=(0, 1))
        g = rl.sum(inner.gradient(y, x))
    with pytest.raises(GradientError, match="spectral norm"):
        outer.gradient(g, x)


def test_logsumexp_is_stable_for_large_and_infinite_inputs():
    x = rl.asarray([[1000.0, 1000.0], [-np.inf, -np.inf], [-np.inf, 0.0]], dtype=rl.float32)
    got = rl.logsumexp(x, axis=1).numpy()
    np.testing.assert_allclose(got, [1000.0 + np.log(2.0), -np.inf, 0.0], rtol=1e-6)
    g = _gradient(lambda t: rl.logsumexp(t, axis=1), np.array([[1000.0, 1000.0]]))
    np.testing.assert_allclose(g, [[0.5, 0.5]])


def test_var_and_std_correction_match_numpy_sample_statistics():
    x = np.random.default_rng(1).standard_normal((4, 5))
    np.testing.assert_allclose(rl.var(x, axis=0, correction=1).numpy(), np.var(x, 0, ddof=1))
    np.testing.assert_allclose(rl.std(x, correction=1.5).numpy(), np.std(x, ddof=1.5))


def test_tensor_methods_reduce_like_the_functions():
    x = rl.asarray([[1.0, 5.0], [3.0, 2.0]])
    assert x.mean(axis=0).tolist() == [2.0, 3.5]
    assert x.max().item() == 5.0 and x.min(axis=1).tolist() == [1.0, 2.0]
    assert x.prod(axis=1, keepdims=True).tolist() == [[5.0], [6.0]]
    assert (x > 1.5).all(axis=1).tolist() == [False, True]


# ---------------------------------------------------------------- dtypes


def test_mean_var_std_norm_of_integers_return_float32():
    x = rl.asarray([[1, 2], [3, 5]], dtype=rl.int32)
    for fn in (rl.mean, rl.var, rl.std, rl.norm, rl.logsumexp):
        assert fn(x, axis=0).dtype == rl.float32
    np.testing.assert_allclose(rl.mean(x, axis=0).numpy(), [2.0, 3.5])


def test_sum_prod_cumsum_of_small_integers_accumulate_in_int64():
    x = rl.asarray([100, 100, 100], dtype=rl.int8)
    assert rl.sum(x).dtype == rl.prod(x).dtype == rl.cumsum(x).dtype == rl.int64
    assert rl.prod(x).item() == 1_000_000
    assert rl.sum(rl.asarray([True, True, False])).item() == 2


def test_argmax_all_any_output_dtypes():
    x = rl.asarray([[0.5, -1.0], [0.0, 2.0]], dtype=rl.bfloat16)
    assert rl.argmax(x, axis=1).dtype == rl.argmin(x).dtype == rl.int64
    assert rl.all(x, axis=0).dtype == rl.any(x).dtype == rl.bool_
    assert rl.all(x, axis=0).tolist() == [False, True]
    assert rl.argmax(x, axis=1).tolist() == [0, 1]


@pytest.mark.parametrize("dtype", [rl.float16, rl.bfloat16])
def test_low_precision_reductions_keep_dtype_and_do_not_overflow(dtype):
    x = rl.asarray(np.full((4096,), 60.0), dtype=dtype)  # the sum, 245760, overflows float16
    assert rl.mean(x).dtype == dtype and float(rl.mean(x)) == 60.0
    assert float(rl.logsumexp(x)) == pytest.approx(60 + np.log(4096), rel=1e-2)


def test_non_differentiable_reductions_record_no_gradient():
    x = rl.asarray([1.0, 3.0, 2.0])
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = rl.cast(rl.argmax(x), dtype=rl.float32) + rl.cast(rl.any(x), dtype=rl.float32)
    assert tape.gradient(y, x) is None


# ---------------------------------------------------------------- errors


def test_reduction_axis_out_of_range_names_axis_and_rank():
    with pytest.raises(AxisError, match=r"^mean: axis=3 is out of range for a tensor of rank 2"):
        rl.mean(rl.zeros((2, 3)), axis=3)
    with pytest.raises(AxisError, match=r"test_reduction\.py:\d+"):
        rl.max(rl.zeros((2, 3)), axis=(0, -3))


def test_reduction_repeated_axis_is_an_error():
    with pytest.raises(AxisError, match=r"prod: axis=\(1, -1\) repeats an axis"):
        rl.prod(rl.ones((2, 3)), axis=(1, -1))


def test_argmax_with_tuple_axis_is_an_error():
    with pytest.raises(ArgumentError, match=r"argmax: axis must be an int or None.*\(0, 1\)"):
        rl.argmax(rl.zeros((2, 3)), axis=(0, 1))


def test_max_over_an_empty_axis_names_the_shape():
    with pytest.raises(ShapeError, match=r"max: cannot reduce x\(2, 0\) over the empty axis=1"):
        rl.max(rl.zeros((2, 0)), axis=1)
    with pytest.raises(ShapeError, match=r"argmin: .*x\(0,\)"):
        rl.argmin(rl.zeros((0,)))


def test_var_negative_correction_is_an_error():
    with pytest.raises(ArgumentError, match=r"var: correction must be a non-negative.*-1"):
        rl.var(rl.ones((3,)), correction=-1)


def test_scan_axis_must_be_one_int_in_range():
    with pytest.raises(ArgumentError, match=r"cumsum: axis must be an int, got \(0, 1\)"):
        rl.cumsum(rl.ones((2, 2)), axis=(0, 1))
    with pytest.raises(AxisError, match=r"cumprod: axis=-3 is out of range .* rank 2"):
        rl.cumprod(rl.ones((2, 2)), axis=-3)


def test_norm_rejects_orders_that_do_not_fit_the_axes():
    with pytest.raises(ArgumentError, match=r"norm: ord='fro' is not a vector norm"):
        rl.norm(rl.ones((3,)), ord="fro")
    with pytest.raises(ArgumentError, match=r"norm: ord=3 is not a matrix norm"):
        rl.norm(rl.ones((3, 3)), ord=3, axis=(0, 1))
    with pytest.raises(ArgumentError, match=r"norm: ord=1 with axis=None needs .* rank 3"):
        rl.norm(rl.ones((2, 2, 2)), ord=1)
    with pytest.raises(AxisError, match=r"norm: axis=\(1, -1\) repeats an axis"):
        rl.norm(rl.ones((2, 2)), axis=(1, -1), ord=1)
