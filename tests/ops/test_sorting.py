"""Sorting: sort, argsort and top_k against NumPy (Hypothesis), ties, NaNs, gradients, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import rillet as rl
from rillet.errors import ArgumentError, AxisError

SETTINGS = settings(max_examples=60, deadline=None)

# Few distinct values, so that ties are common.
TIED = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
    elements=st.sampled_from([-2.0, -0.5, 0.0, 1.0, 3.0]),
)


def _stable_descending(x, axis=-1):
    return np.argsort(-x, axis=axis, kind="stable")


@SETTINGS
@given(TIED, st.data())
def test_sort_and_argsort_match_numpy_with_ties(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    t = rl.asarray(x)
    np.testing.assert_array_equal(rl.sort(t, axis=axis).numpy(), np.sort(x, axis=axis))
    np.testing.assert_array_equal(
        rl.argsort(t, axis=axis).numpy(), np.argsort(x, axis=axis, kind="stable")
    )


@SETTINGS
@given(TIED, st.data())
def test_descending_order_keeps_ties_in_original_order(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    t = rl.asarray(x)
    expected = _stable_descending(x, axis)
    np.testing.assert_array_equal(rl.argsort(t, axis=axis, descending=True).numpy(), expected)
    np.testing.assert_array_equal(
        rl.sort(t, axis=axis, descending=True).numpy(),
        np.take_along_axis(x, expected, axis=axis),
    )


@SETTINGS
@given(TIED, st.data())
def test_top_k_matches_stable_reference(x, data):
    k = data.draw(st.integers(0, x.shape[-1]))
    values, indices = rl.top_k(rl.asarray(x), k=k)
    expected = _stable_descending(x)[..., :k]
    assert indices.dtype == rl.int64
    np.testing.assert_array_equal(indices.numpy(), expected)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, expected, axis=-1))


def test_argsort_unstable_still_sorts():
    x = np.random.default_rng(0).integers(0, 3, (4, 50))
    order = rl.argsort(rl.asarray(x), stable=False).numpy()
    np.testing.assert_array_equal(np.take_along_axis(x, order, axis=-1), np.sort(x, axis=-1))


def test_nans_sort_last_ascending_and_first_descending():
    x = rl.asarray([1.0, np.nan, -1.0])
    ascending = rl.sort(x).numpy()
    descending = rl.sort(x, descending=True).numpy()
    np.testing.assert_array_equal(ascending, np.sort(x.numpy()))
    np.testing.assert_array_equal(descending, np.flip(np.sort(x.numpy())))
    assert rl.argsort(x, descending=True).tolist()[0] == 1


def test_sort_keeps_integer_and_bfloat16_dtypes():
    assert rl.sort(rl.asarray([3, 1], dtype=rl.int32)).dtype == rl.int32
    low = rl.asarray([3.0, 1.0, 2.0], dtype=rl.bfloat16)
    assert rl.sort(low).dtype == rl.bfloat16
    assert rl.top_k(low, k=2)[0].dtype == rl.bfloat16


def _gradient(fn, x):
    with rl.GradientTape() as tape:
        tape.watch(x)
        total = rl.sum(fn(x))
    return tape.gradient(total, x).numpy()


def test_sort_gradient_follows_the_permutation():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    grad = _gradient(lambda t: rl.sort(t, axis=1, descending=True) * rl.asarray(w), rl.asarray(x))
    expected = np.zeros_like(x)
    np.put_along_axis(expected, _stable_descending(x, axis=1), w, axis=1)
    np.testing.assert_array_equal(grad, expected)


def test_top_k_gradient_lands_on_chosen_positions():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 7)), rng.standard_normal((2, 3))
    grad = _gradient(lambda t: rl.top_k(t, k=3)[0] * rl.asarray(w), rl.asarray(x))
    expected = np.zeros_like(x)
    np.put_along_axis(expected, _stable_descending(x)[:, :3], w, axis=1)
    np.testing.assert_array_equal(grad, expected)


def test_top_k_error_k_exceeds_last_dim():
    with pytest.raises(ArgumentError, match=r"top_k: k=5 exceeds .*4.*\(3, 4\).*test_sorting\.py"):
        rl.top_k(rl.zeros((3, 4)), k=5)


def test_top_k_error_negative_k():
    with pytest.raises(ArgumentError, match=r"top_k: k must be a non-negative int, got -1"):
        rl.top_k(rl.zeros((3, 4)), k=-1)


def test_top_k_error_scalar_input():
    with pytest.raises(ArgumentError, match=r"top_k: x must have rank >= 1"):
        rl.top_k(rl.asarray(1.0))


def test_sort_error_axis_out_of_range():
    with pytest.raises(AxisError, match=r"sort: axis=2 is out of range .*rank 2"):
        rl.sort(rl.zeros((2, 3)), axis=2)


def test_argsort_error_scalar_input():
    with pytest.raises(AxisError, match=r"argsort: axis=-1 .*rank 0"):
        rl.argsort(rl.asarray(2.0))
