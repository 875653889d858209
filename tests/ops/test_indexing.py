"""Indexing: x[key] against NumPy (Hypothesis), gradients as scatters, gathers, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rillet as rl
from rillet.errors import ArgumentError, AxisError, DTypeError, ShapeError

SETTINGS = settings(max_examples=60, deadline=None)


def _grad_of_sum(fn, x):
    """Gradient of ``sum(fn(x))`` with respect to ``x``."""
    with rl.GradientTape() as tape:
        tape.watch(x)
        total = rl.sum(fn(x))
    return tape.gradient(total, x).numpy()


def _counts(shape, key):
    """How often each entry of an array of ``shape`` is picked by ``key``."""
    counts = np.zeros(shape)
    np.add.at(counts, key, 1.0)
    return counts


# ------------------------------------------------------------------- strategies


def _int_index(draw, size):
    return draw(st.integers(-size, size - 1))


def _slice(draw, size):
    bound = st.none() | st.integers(-size - 2, size + 2)
    step = st.none() | st.integers(-3, 3).filter(lambda s: s != 0)
    return slice(draw(bound), draw(bound), draw(step))


@st.composite
def basic_cases(draw):
    """A shape and a basic key: ints, slices with steps, None and at most one Ellipsis."""
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    used = draw(st.integers(0, len(shape)))
    split = draw(st.integers(0, used))
    with_ellipsis = draw(st.booleans())
    tail = used - split if with_ellipsis else 0
    axes = list(range(split)) + list(range(len(shape) - tail, len(shape)))
    if not with_ellipsis:
        axes = list(range(used))
    entries = []
    for axis in axes:
        size = shape[axis]
        use_int = size > 0 and draw(st.booleans())
        entries.append(_int_index(draw, size) if use_int else _slice(draw, size))
    if with_ellipsis:
        entries.insert(split, Ellipsis)
    for _ in range(draw(st.integers(0, 2))):
        entries.insert(draw(st.integers(0, len(entries))), None)
    key = tuple(entries) if len(entries) != 1 or draw(st.booleans()) else entries[0]
    return shape, key


@st.composite
def advanced_cases(draw):
    """A shape and a key mixing integer index arrays (broadcasting together, with repeats
    and negative indices) with ints, slices and None."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    common = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    entries, has_array = [], False
    for axis, size in enumerate(shape):
        kind = draw(st.sampled_from(["array", "array", "int", "slice"]))
        if kind == "array" or (not has_array and axis == len(shape) - 1):
            index_shape = tuple(1 if draw(st.booleans()) else n for n in common)
            values = draw(
                st.lists(
                    st.integers(-size, size - 1),
                    min_size=int(np.prod(index_shape)),
                    max_size=int(np.prod(index_shape)),
                )
            )
            array = np.array(values, dtype=np.int64).reshape(index_shape)
            as_list = array.size and draw(st.booleans())  # [] would lose an empty shape
            entries.append(array.tolist() if as_list else array)
            has_array = True
        elif kind == "int":
            entries.append(_int_index(draw, size))
        else:
            entries.append(_slice(draw, size))
    if draw(st.booleans()):
        entries.insert(draw(st.integers(0, len(entries))), None)
    return shape, tuple(entries)


@st.composite
def mask_cases(draw):
    """A shape and a key with one boolean mask over some adjacent axes, slices elsewhere."""
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=4)))
    start = draw(st.integers(0, len(shape) - 1))
    stop = draw(st.integers(start + 1, len(shape)))
    mask_shape = shape[start:stop]
    bits = draw(
        st.lists(
            st.booleans(), min_size=int(np.prod(mask_shape)), max_size=int(np.prod(mask_shape))
        )
    )
    mask = np.array(bits, dtype=bool).reshape(mask_shape)
    before = [_slice(draw, shape[a]) for a in range(start)]
    return shape, tuple(before) + (mask,)


# ------------------------------------------------------------- NumPy equivalence


@SETTINGS
@given(basic_cases())
def test_basic_index_matches_numpy_random_keys(case):
    shape, key = case
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    got = rl.asarray(x)[key]
    assert got.shape == x[key].shape
    np.testing.assert_array_equal(got.numpy(), x[key])


@SETTINGS
@given(basic_cases())
def test_basic_index_gradient_is_scatter_of_ones_random_keys(case):
    shape, key = case
    x = rl.asarray(np.ones(shape))
    np.testing.assert_array_equal(_grad_of_sum(lambda t: t[key], x), _counts(shape, key))


@SETTINGS
@given(advanced_cases())
def test_advanced_index_matches_numpy_random_keys(case):
    shape, key = case
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    expected = x[key]
    got = rl.asarray(x)[key]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected)


@SETTINGS
@given(advanced_cases())
def test_advanced_index_gradient_accumulates_random_keys(case):
    shape, key = case
    x = rl.asarray(np.ones(shape))
    np.testing.assert_array_equal(_grad_of_sum(lambda t: t[key], x), _counts(shape, key))


@SETTINGS
@given(mask_cases())
def test_boolean_mask_index_matches_numpy_random_masks(case):
    shape, key = case
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    got = rl.asarray(x)[tuple(rl.asarray(k) if isinstance(k, np.ndarray) else k for k in key)]
    np.testing.assert_array_equal(got.numpy(), x[key])
    grad = _grad_of_sum(lambda t: t[key], rl.asarray(x))
    np.testing.assert_array_equal(grad, _counts(shape, key))


def test_repeated_indices_accumulate_in_gradient():
    x = rl.asarray([1.0, 2.0, 3.0])
    grad = _grad_of_sum(lambda t: t[[0, 2, 0, 0]] * rl.asarray([1.0, 2.0, 3.0, 4.0]), x)
    np.testing.assert_array_equal(grad, [8.0, 0.0, 2.0])


def test_index_with_int_tensor_and_zero_d_tensor_matches_numpy():
    x = np.arange(12.0).reshape(3, 4)
    t = rl.asarray(x)
    np.testing.assert_array_equal(t[rl.asarray([2, 0]), rl.asarray(1)].numpy(), x[[2, 0], 1])
    np.testing.assert_array_equal(t[rl.asarray(1)].numpy(), x[1])


def test_boolean_scalar_index_adds_an_axis():
    x = np.arange(6.0).reshape(2, 3)
    assert rl.asarray(x)[True].shape == x[True].shape == (1, 2, 3)
    assert rl.asarray(x)[False].shape == x[False].shape == (0, 2, 3)


def test_index_of_variable_is_watched_by_tape():
    v = rl.Variable([1.0, 2.0, 3.0])
    with rl.GradientTape() as tape:
        total = rl.sum(v[1:])
    np.testing.assert_array_equal(tape.gradient(total, v).numpy(), [0.0, 1.0, 1.0])


def test_full_slice_key_returns_the_tensor_itself():
    x = rl.asarray([[1.0, 2.0]])
    assert x[...] is x and x[:, :] is x


def test_iteration_yields_rows():
    x = rl.asarray([[1.0, 2.0], [3.0, 4.0]])
    assert [row.tolist() for row in x] == [[1.0, 2.0], [3.0, 4.0]]


def test_second_order_gradient_through_repeated_index():
    x = rl.asarray([1.0, 2.0, 3.0])
    key = [0, 0, 2]
    with rl.GradientTape() as outer:
        outer.watch(x)
        with rl.GradientTape() as inner:
            inner.watch(x)
            y = rl.sum(x[key] * x[key])
        total = rl.sum(inner.gradient(y, x))  # sum(2 * counts * x)
    np.testing.assert_array_equal(outer.gradient(total, x).numpy(), 2 * _counts((3,), key))


# ----------------------------------------------------------------------- gathers


def test_take_matches_numpy_for_int_dtype():
    x = np.arange(12).reshape(3, 4).astype(np.int32)
    got = rl.take(rl.asarray(x), [[2, -1]], axis=1)
    assert got.dtype == rl.int32
    np.testing.assert_array_equal(got.numpy(), np.take(x, [[2, -1]], axis=1))


def test_gather_batch_dims_gathers_per_batch_entry():
    params = np.arange(24.0).reshape(2, 3, 4)
    indices = np.array([[3, 0], [1, 1]])
    got = rl.gather(rl.asarray(params), indices, axis=2, batch_dims=1)
    expected = np.stack([params[b][:, indices[b]] for b in range(2)])
    np.testing.assert_array_equal(got.numpy(), expected)


def test_gather_keeps_bfloat16():
    params = rl.asarray(np.arange(6.0).reshape(3, 2), dtype=rl.bfloat16)
    assert rl.gather(params, [2, 0]).dtype == rl.bfloat16


def test_take_along_axis_picks_argsort_order():
    x = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    order = rl.argsort(rl.asarray(x), axis=1)
    got = rl.take_along_axis(rl.asarray(x), order, axis=1)
    np.testing.assert_array_equal(got.numpy(), np.sort(x, axis=1))


def test_scatter_add_promotes_int_x_with_float_updates():
    got = rl.scatter_add(rl.asarray([0, 0, 0]), [1, 1], rl.asarray([0.5, 0.25]))
    assert got.dtype == rl.float32
    np.testing.assert_array_equal(got.numpy(), [0.0, 0.75, 0.0])


def test_scatter_add_is_adjoint_of_take():
    """<take(x, i), u> == <x, scatter_add(0, i, u)> for random x, i, u."""
    rng = np.random.default_rng(3)
    x, indices = rng.standard_normal((3, 5)), rng.integers(-3, 3, (4, 2))
    u = rng.standard_normal((4, 2, 5))
    lhs = np.sum(rl.take(rl.asarray(x), indices, axis=0).numpy() * u)
    scattered = rl.scatter_add(rl.zeros((3, 5), dtype=rl.float64), indices, rl.asarray(u))
    np.testing.assert_allclose(lhs, np.sum(x * scattered.numpy()))


def test_segment_sum_of_int_data_keeps_dtype_and_empty_segments_are_zero():
    got = rl.segment_sum(rl.asarray([1, 2, 3, 4]), [3, 0, 3, 3], num_segments=5)
    assert got.dtype == rl.int64
    np.testing.assert_array_equal(got.numpy(), [2, 0, 0, 8, 0])


def test_one_hot_dtype_and_out_of_range_rows():
    got = rl.one_hot(rl.asarray([1, 3, -1]), 3, dtype=rl.int32)
    assert got.dtype == rl.int32
    np.testing.assert_array_equal(got.numpy(), [[0, 1, 0], [0, 0, 0], [0, 0, 0]])


# ------------------------------------------------------------------------ errors


def test_getitem_error_out_of_range_int_names_index_axis_and_size():
    x = rl.zeros((2, 3))
    with pytest.raises(IndexError, match=r"getitem: index 5 .*axis 1 of size 3.*test_indexing\.py"):
        x[0, 5]


def test_getitem_error_out_of_range_index_array():
    x = rl.zeros((3,))
    with pytest.raises(IndexError, match=r"advanced_index: index 7 .*axis 0 of size 3"):
        x[[0, 7]]


def test_getitem_error_too_many_indices_for_rank():
    with pytest.raises(IndexError, match=r"getitem: too many indices.*rank 2.*3"):
        rl.zeros((2, 3))[0, 0, 0]


def test_getitem_error_float_index():
    with pytest.raises(TypeError, match=r"getitem: index 1\.5 of type float"):
        rl.zeros((2, 3))[1.5]


def test_getitem_error_float_index_array():
    with pytest.raises(DTypeError, match=r"getitem: .*integer or bool.*float32"):
        rl.zeros((2, 3))[rl.asarray([0.0, 1.0])]


def test_getitem_error_two_ellipses():
    with pytest.raises(IndexError, match=r"getitem: .*only one Ellipsis.*2"):
        rl.zeros((2, 3))[..., 0, ...]


def test_getitem_error_mask_shape_mismatch():
    mask = rl.asarray([True, False, True, True])
    with pytest.raises(ShapeError, match=r"mask\(4,\) does not match .*\(3,\).*x\(3, 2\)"):
        rl.zeros((3, 2))[mask]


def test_getitem_error_index_arrays_do_not_broadcast():
    with pytest.raises(ShapeError, match=r"cannot broadcast index0\(2,\) with index1\(3,\)"):
        rl.zeros((3, 3))[[0, 1], [0, 1, 2]]


def test_gather_error_batch_dims_exceeds_rank():
    with pytest.raises(ArgumentError, match=r"gather: batch_dims=3 .*indices of rank 2"):
        rl.gather(rl.zeros((2, 3, 4)), [[0, 1], [1, 0]], batch_dims=3)


def test_gather_error_negative_index():
    with pytest.raises(IndexError, match=r"gather: index -1 .*axis 0 of size 4.*\[0, 4\)"):
        rl.gather(rl.zeros((4, 2)), [0, -1])


def test_gather_error_batch_shapes_differ():
    with pytest.raises(ShapeError, match=r"gather: .*params\(2, 3\).*indices\(3, 1\)"):
        rl.gather(rl.zeros((2, 3)), np.zeros((3, 1), np.int64), batch_dims=1)


def test_take_error_float_indices():
    with pytest.raises(DTypeError, match=r"take: indices has dtype float32"):
        rl.take(rl.zeros((3,)), [0.0, 1.0])


def test_take_along_axis_error_rank_mismatch():
    with pytest.raises(ShapeError, match=r"take_along_axis: x\(2, 3\) and indices\(3,\)"):
        rl.take_along_axis(rl.zeros((2, 3)), [0, 1, 2], axis=1)


def test_scatter_add_error_updates_shape():
    with pytest.raises(ShapeError, match=r"scatter_add: updates\(2, 5\) .*\(2, 3\)"):
        rl.scatter_add(rl.zeros((4, 3)), [0, 1], rl.zeros((2, 5)))


def test_segment_sum_error_ids_out_of_range():
    with pytest.raises(IndexError, match=r"segment_sum: segment id 4 .*size 3"):
        rl.segment_sum(rl.zeros((2,)), [0, 4], num_segments=3)


def test_segment_sum_error_ids_not_prefix_of_data():
    with pytest.raises(ShapeError, match=r"segment_sum: segment_ids\(3,\) .*data\(2, 4\)"):
        rl.segment_sum(rl.zeros((2, 4)), [0, 1, 1])


def test_one_hot_error_float_indices():
    with pytest.raises(DTypeError, match=r"one_hot: indices has dtype float32.*integer"):
        rl.one_hot(rl.asarray([0.0, 1.0]), 3)


def test_one_hot_error_axis_out_of_range():
    with pytest.raises(AxisError, match=r"one_hot: axis=3 .*rank 1"):
        rl.one_hot(rl.asarray([0, 1]), 3, axis=3)


def test_boolean_mask_error_int_mask():
    with pytest.raises(DTypeError, match=r"boolean_mask: mask has dtype int64"):
        rl.boolean_mask(rl.zeros((3,)), [1, 0, 1])
