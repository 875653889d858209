"""Shape ops: round trips and NumPy agreement on random shapes, dtypes, gradients, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import rillet as rl
from rillet import _context
from rillet.errors import ArgumentError, AxisError, ShapeError
from rillet.ops import shapes as shape_ops
from rillet.ops.rearrange import repeat_sum, slice_region
from rillet.testing import check_grads

SETTINGS = settings(max_examples=60, deadline=None)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)


def _array(draw, shape):
    return draw(hnp.arrays(np.float32, shape, elements=st.floats(-100, 100, width=32)))


def _sizes(draw, n, parts):
    cuts = sorted(draw(st.lists(st.integers(0, n), min_size=parts - 1, max_size=parts - 1)))
    return [b - a for a, b in zip([0] + cuts, cuts + [n])]


# ---------------------------------------------------------------- round trips (Hypothesis)


@SETTINGS
@given(st.data())
def test_split_then_concat_round_trips_random_shapes(data):
    shape = data.draw(SHAPES)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = _array(data.draw, shape)
    sizes = _sizes(data.draw, shape[axis], data.draw(st.integers(1, 4)))
    pieces = rl.split(x, sizes, axis=axis)
    assert [p.shape[axis] for p in pieces] == sizes
    for got, want in zip(pieces, np.split(x, np.cumsum(sizes)[:-1], axis=axis)):
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(rl.concat(pieces, axis=axis).numpy(), x)


@SETTINGS
@given(st.data())
def test_concat_then_split_round_trips_random_shapes(data):
    shape = data.draw(SHAPES)
    axis = data.draw(st.integers(0, len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=4))
    xs = [_array(data.draw, shape[:axis] + (n,) + shape[axis + 1 :]) for n in sizes]
    joined = rl.concat(xs, axis=axis)
    np.testing.assert_array_equal(joined.numpy(), np.concatenate(xs, axis=axis))
    for got, want in zip(rl.split(joined, sizes, axis=axis), xs):
        np.testing.assert_array_equal(got.numpy(), want)


@SETTINGS
@given(st.data())
def test_stack_then_unstack_round_trips_random_shapes(data):
    shape = data.draw(SHAPES)
    count = data.draw(st.integers(1, 4))
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    xs = [_array(data.draw, shape) for _ in range(count)]
    stacked = rl.stack(xs, axis=axis)
    np.testing.assert_array_equal(stacked.numpy(), np.stack(xs, axis=axis))
    pieces = rl.unstack(stacked, axis=axis)
    assert len(pieces) == count
    for got, want in zip(pieces, xs):
        np.testing.assert_array_equal(got.numpy(), want)


@SETTINGS
@given(st.data())
def test_even_split_matches_numpy_random_shapes(data):
    parts = data.draw(st.integers(1, 4))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    axis = data.draw(st.integers(0, len(shape) - 1))
    shape = shape[:axis] + (shape[axis] * parts,) + shape[axis + 1 :]
    x = _array(data.draw, shape)
    for got, want in zip(rl.split(x, parts, axis=axis), np.split(x, parts, axis=axis)):
        np.testing.assert_array_equal(got.numpy(), want)


@SETTINGS
@given(st.data(), st.sampled_from(["constant", "reflect", "symmetric"]))
def test_pad_matches_numpy_random_shapes(data, mode):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    edge = 1 if mode == "reflect" else 0
    pairs = [tuple(data.draw(st.integers(0, n - edge)) for _ in range(2)) for n in shape]
    x = _array(data.draw, shape)
    extra = {"constant_values": 1.5} if mode == "constant" else {}
    got = rl.pad(x, pairs, mode=mode, **extra)
    np.testing.assert_array_equal(got.numpy(), np.pad(x, pairs, mode=mode, **extra))


@SETTINGS
@given(st.data())
def test_flip_matches_numpy_random_shapes(data):
    shape = data.draw(SHAPES)
    axes = data.draw(st.none() | st.lists(st.integers(0, len(shape) - 1), unique=True))
    x = _array(data.draw, shape)
    axis = None if axes is None else tuple(axes)
    np.testing.assert_array_equal(rl.flip(x, axis=axis).numpy(), np.flip(x, axis))


@SETTINGS
@given(st.data())
def test_roll_matches_numpy_random_shapes(data):
    shape = data.draw(SHAPES)
    x = _array(data.draw, shape)
    if data.draw(st.booleans()):
        shift, axis = data.draw(st.integers(-7, 7)), None
    else:
        axis = tuple(data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=3)))
        shift = tuple(data.draw(st.integers(-7, 7)) for _ in axis)
    np.testing.assert_array_equal(rl.roll(x, shift, axis=axis).numpy(), np.roll(x, shift, axis))


@SETTINGS
@given(st.data())
def test_pad_gradient_sums_copies_random_shapes(data):
    """Each input element's gradient is the sum of the output gradient over its copies."""
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4))
    mode = data.draw(st.sampled_from(["constant", "reflect", "symmetric"]))
    edge = 1 if mode == "reflect" else 0
    pairs = [tuple(data.draw(st.integers(0, n - edge)) for _ in range(2)) for n in shape]
    x = rl.asarray(np.zeros(shape))
    fill = {"constant_values": -1} if mode == "constant" else {}  # constants copy nothing
    ids = np.pad(np.arange(x.size).reshape(shape), pairs, mode=mode, **fill)
    w = np.random.default_rng(0).standard_normal(ids.shape)
    grad = rl.grad(lambda t: rl.sum(rl.pad(t, pairs, mode=mode) * w))(x)
    copied = ids >= 0
    expected = np.bincount(ids[copied], weights=w[copied], minlength=x.size).reshape(shape)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- behaviour and dtypes


def test_concat_promotes_mixed_dtypes():
    out = rl.concat([rl.asarray([1, 2], dtype=rl.int32), rl.asarray([0.5], dtype=rl.float16)])
    assert out.dtype == rl.float16
    assert out.tolist() == [1.0, 2.0, 0.5]
    assert rl.stack([rl.zeros(2, rl.bfloat16), rl.zeros(2, rl.float16)]).dtype == rl.float32


def test_concatenate_is_the_numpy_alias_of_concat():
    x = rl.asarray([[1.0, 2.0]])
    assert rl.concatenate([x, x], axis=1).tolist() == [[1.0, 2.0, 1.0, 2.0]]


@pytest.mark.parametrize("dtype", [rl.bfloat16, rl.float16, rl.int32, rl.bool_])
def test_data_movement_keeps_dtype_and_exact_values(dtype):
    x = np.arange(-3, 3).reshape(2, 3).astype(dtype)
    outs = [
        rl.pad(x, 1, mode="symmetric"),
        rl.tile(x, (2, 1)),
        rl.repeat(x, [1, 2], axis=0),
        rl.roll(x, 1),
        rl.flip(x, 0),
        rl.moveaxis(x, 0, 1),
        rl.concat([x, x]),
    ]
    refs = [
        np.pad(x, 1, mode="symmetric"),
        np.tile(x, (2, 1)),
        np.repeat(x, [1, 2], axis=0),
        np.roll(x, 1),
        np.flip(x, 0),
        np.moveaxis(x, 0, 1),
        np.concatenate([x, x]),
    ]
    for got, want in zip(outs, refs):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.numpy(), want)


def test_split_returns_a_list_of_tensors():
    pieces = rl.split(rl.zeros((6, 2)), 3)
    assert isinstance(pieces, list) and len(pieces) == 3
    assert all(isinstance(p, rl.Tensor) and p.shape == (2, 2) for p in pieces)


def test_split_gradient_fills_unused_pieces_with_zeros():
    x = rl.asarray(np.arange(6.0))
    grad = rl.grad(lambda t: rl.sum(rl.split(t, [2, -1])[1] * 3.0))(x)
    assert grad.tolist() == [0.0, 0.0, 3.0, 3.0, 3.0, 3.0]


def test_concat_gradient_reaches_only_floating_inputs():
    x, n = rl.asarray([1.0, 2.0], dtype=rl.float64), rl.asarray([3], dtype=rl.int32)
    with rl.GradientTape() as tape:
        tape.watch([x, n])
        y = rl.sum(rl.concat([n, x]) * rl.asarray([1.0, 2.0, 5.0], dtype=rl.float64))
    gx, gn = tape.gradient(y, [x, n])
    assert gx.tolist() == [2.0, 5.0] and gn is None


def test_tile_accepts_tf_multiples_name():
    x = rl.asarray([[1, 2]])
    assert rl.tile(x, multiples=[2, 1]).tolist() == rl.tile(x, (2, 1)).tolist() == [[1, 2]] * 2


def test_pad_accepts_tf_paddings_list_and_uppercase_mode():
    x = np.arange(6.0).reshape(2, 3)
    got = rl.pad(x, [[1, 0], [2, 1]], "REFLECT")
    np.testing.assert_array_equal(got.numpy(), np.pad(x, [[1, 0], [2, 1]], mode="reflect"))


def test_repeat_gradient_sums_each_group():
    x = rl.asarray([1.0, 2.0, 3.0])
    weights = rl.asarray([1.0, 10.0, 100.0, 1000.0])
    grad = rl.grad(lambda t: rl.sum(rl.repeat(t, [0, 3, 1]) * weights))(x)
    assert grad.tolist() == [0.0, 111.0, 1000.0]


def test_repeat_sum_and_slice_region_are_adjoint_helpers():
    g = rl.asarray(np.arange(8.0).reshape(2, 4))
    assert repeat_sum(g, repeats=(1, 0, 3), axis=1).tolist() == [[0, 0, 6], [4, 0, 18]]
    assert slice_region(g, begin=(1, 1), size=(-1, 2)).tolist() == [[5.0, 6.0]]


def test_ravel_expand_dims_and_squeeze_agree_with_numpy():
    x = np.zeros((2, 1, 3))
    assert rl.ravel(x).shape == (6,)
    assert rl.expand_dims(x, (0, 4)).shape == np.expand_dims(x, (0, 4)).shape
    assert rl.squeeze(x).shape == (2, 3) and rl.squeeze(x, -2).shape == (2, 3)


def test_zero_dim_inputs_follow_numpy():
    x = np.array(2.0, dtype=np.float32)
    cases = [
        (rl.pad(x, 1), np.pad(x, 0)),
        (rl.tile(x, 3), np.tile(x, 3)),
        (rl.repeat(x, 2), np.repeat(x, 2)),
        (rl.flip(x), np.flip(x)),
        (rl.roll(x, 1), np.roll(x, 1)),
        (rl.expand_dims(x, 0), np.expand_dims(x, 0)),
    ]
    for got, want in cases:
        assert got.shape == np.shape(want)
        np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("op", [rl.concat, rl.stack])
def test_joining_kernels_write_into_out(op):
    a, b = np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)
    spec = op.rule(a, b, axis=1)
    buffer = np.full(spec.shape, np.nan, np.float32)
    result = _context.compute(op, [a, b], {"axis": 1}, spec, out=buffer)
    assert result is buffer
    np.testing.assert_array_equal(buffer, op.kernel(np, a, b, axis=1))


# ---------------------------------------------------------------- bad inputs


def test_concat_error_names_both_shapes_and_the_caller():
    with pytest.raises(ShapeError, match=r"concat: .*\(2, 3\).*\(4,\).*test_shape\.py:\d+"):
        rl.concat([rl.zeros((2, 3)), rl.zeros((4,))])


def test_concat_error_when_sizes_differ_off_axis():
    with pytest.raises(ShapeError, match=r"concat: .*\(2, 3\).*\(2, 4\).*axis 1"):
        rl.concat([rl.zeros((2, 3)), rl.zeros((2, 4))], axis=0)


def test_concat_error_when_empty():
    with pytest.raises(ArgumentError, match=r"concat: needs at least one tensor"):
        rl.concat([])


def test_stack_error_when_shapes_differ():
    with pytest.raises(ShapeError, match=r"stack: .*\(2, 3\).*\(3, 2\)"):
        rl.stack([rl.zeros((2, 3)), rl.zeros((3, 2))])


def test_split_error_when_uneven():
    with pytest.raises(ShapeError, match=r"split: .*\(4,\).*size 4.*3 equal parts.*test_shape"):
        rl.split(rl.zeros(4), 3)


def test_split_error_when_sizes_do_not_add_up():
    with pytest.raises(ShapeError, match=r"split: sizes \[1, 2\] .*size 4.*\(2, 4\)"):
        rl.split(rl.zeros((2, 4)), [1, 2], axis=1)


def test_split_error_with_two_unknown_sizes():
    with pytest.raises(ArgumentError, match=r"split: num_or_size_splits=\[-1, -1\]"):
        rl.split(rl.zeros(4), [-1, -1])


def test_squeeze_error_on_an_axis_not_of_size_one():
    with pytest.raises(ShapeError, match=r"squeeze: .*axis 1 of x\(1, 3\).*size is 3"):
        rl.squeeze(rl.zeros((1, 3)), axis=1)


def test_expand_dims_error_on_an_axis_out_of_range():
    with pytest.raises(AxisError, match=r"expand_dims: axis=3 .*rank 3"):
        rl.expand_dims(rl.zeros((2, 3)), 3)


def test_pad_error_on_pad_width_of_the_wrong_length():
    with pytest.raises(ShapeError, match=r"pad: pad_width of shape \(3, 2\).*x\(2, 3\)"):
        rl.pad(rl.zeros((2, 3)), [[1, 1], [1, 1], [1, 1]])


def test_pad_error_on_reflect_wider_than_the_axis():
    with pytest.raises(ShapeError, match=r"pad: reflect padding \(3, 0\) on axis 0 of x\(3,\)"):
        rl.pad(rl.zeros(3), (3, 0), mode="reflect")


def test_pad_error_on_negative_width_and_unknown_mode():
    with pytest.raises(ArgumentError, match=r"pad: pad_width=\[-1, 2\] has a negative entry"):
        rl.pad(rl.zeros(3), (-1, 2))
    with pytest.raises(ArgumentError, match=r"pad: mode='edge' is not supported"):
        rl.pad(rl.zeros(3), 1, mode="edge")


def test_tile_error_on_negative_reps():
    with pytest.raises(ArgumentError, match=r"tile: reps=\[2, -1\] has a negative entry"):
        rl.tile(rl.zeros((2, 3)), (2, -1))


def test_repeat_error_when_repeats_do_not_match_the_axis():
    with pytest.raises(ShapeError, match=r"repeat: repeats has 3 entries but x\(2, 2\).*axis 1"):
        rl.repeat(rl.zeros((2, 2)), [1, 2, 3], axis=1)


def test_roll_error_when_shift_and_axis_lengths_differ():
    with pytest.raises(ArgumentError, match=r"roll: shift=\(1, 2\) and axis=\(0, 1, 2\)"):
        rl.roll(rl.zeros((2, 3, 4)), (1, 2), axis=(0, 1, 2))


def test_moveaxis_error_when_source_and_destination_differ_in_length():
    with pytest.raises(ArgumentError, match=r"moveaxis: source=\(0, 1\) and destination=0"):
        rl.moveaxis(rl.zeros((2, 3)), (0, 1), 0)


def test_swapaxes_error_on_an_axis_out_of_range():
    with pytest.raises(AxisError, match=r"swapaxes: axis2=-3 .*rank 2"):
        rl.swapaxes(rl.zeros((2, 3)), 0, -3)


def test_unstack_error_on_a_0d_tensor_or_a_wrong_num():
    with pytest.raises(ShapeError, match=r"unstack: cannot unstack a 0-d tensor"):
        rl.unstack(rl.zeros(()))
    with pytest.raises(ShapeError, match=r"unstack: num=3 does not match the size 2 .*x\(2, 4\)"):
        rl.unstack(rl.zeros((2, 4)), num=3)


def test_slice_region_error_outside_the_tensor():
    with pytest.raises(ShapeError, match=r"slice_region: region \[2, 2\+2\) .*axis 1 of x\(3, 3\)"):
        slice_region(rl.zeros((3, 3)), begin=(0, 2), size=(1, 2))


def test_concat_gradient_with_unknown_sizes_matches_eager():
    def grads(x):
        with rl.GradientTape() as tape:
            tape.watch(x)
            y = rl.sum(rl.concat([x[:1], x], axis=0) * rl.concat([x, x[-1:]], axis=0))
        return tape.gradient(y, x)

    traced = rl.function(grads, input_signature=[rl.TensorSpec((None,), rl.float64)])
    x = rl.asarray(np.array([0.5, -1.0, 2.0]))
    np.testing.assert_allclose(traced(x).numpy(), grads(x).numpy())
    assert "split_like" in traced.get_graph(x).op_counts()


def test_split_like_gradient_matches_finite_differences():
    likes = [rl.asarray(np.zeros((2, 2))), rl.asarray(np.zeros((2, 3)))]
    check_grads(
        lambda g: shape_ops.split_like([g, *likes], axis=1),
        [np.random.default_rng(0).standard_normal((2, 5))],
        order=2,
    )
