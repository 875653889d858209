"""rl.Variable: construction, updates, errors, in-place writes and copy-on-write."""

import copy
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rillet as rl
from rillet.errors import ArgumentError, DTypeError, ShapeError


def test_variable_has_value_dtype_shape_and_name():
    v = rl.Variable([[1.0, 2.0, 3.0]], name="w")
    assert v.shape == (1, 3) and v.ndim == 2 and v.dtype == np.float32
    assert v.name == "w" and v.trainable is True and v.device == "cpu:0"
    assert v.numpy().tolist() == [[1.0, 2.0, 3.0]]
    assert isinstance(v.value(), rl.Tensor) and v.read_value().shape == (1, 3)


def test_variable_from_callable_dtype_and_non_trainable():
    v = rl.Variable(lambda: np.ones((2,)), dtype="float16", trainable=False)
    assert v.dtype == np.float16 and v.trainable is False
    assert rl.Variable(3).dtype == np.int64
    assert rl.Variable(np.zeros(2, np.float64)).dtype == np.float64


def test_variable_copies_its_initial_value():
    source = np.array([1.0, 2.0], np.float32)
    v = rl.Variable(source)
    source[0] = 9.0
    assert v.numpy().tolist() == [1.0, 2.0]


def test_a_variable_takes_over_a_fresh_tensor_and_leaves_a_held_one_unchanged():
    draw = rl.random.stateless_uniform((300, 20), seed=(1, 2))  # a reshaped fresh array
    before = draw.numpy().copy()
    v = rl.Variable(draw, dtype="float32")
    assert v._array is draw._value  # shared, not copied: an initializer's draw costs once
    v.assign_add(np.ones((300, 20), np.float32))
    np.testing.assert_array_equal(draw.numpy(), before)  # the tensor was still held: copied
    np.testing.assert_array_equal(v.numpy(), before + 1.0)


def test_a_variable_never_writes_into_a_numpy_view_of_its_initial_tensor():
    draw = rl.random.stateless_uniform((300, 20), seed=(1, 2))
    view = draw.numpy()  # read-only, but it sees the tensor's memory
    before = view.copy()
    v = rl.Variable(draw)
    del draw
    v.assign_add(np.ones((300, 20), np.float32))
    np.testing.assert_array_equal(view, before)


def test_a_variable_copies_a_tensor_whose_array_is_read_only():
    array = np.arange(4, dtype=np.float32)
    array.flags.writeable = False
    v = rl.Variable(rl.Tensor._wrap(array))
    del array  # nothing else holds it: an update would write in place, were it shared
    v.assign_add(np.ones(4, np.float32))
    assert v.numpy().tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("part", [lambda t: t[1:4], lambda t: t.reshape((2, 3))])
def test_a_variable_made_from_a_view_of_a_tensor_never_writes_into_it(part):
    t = rl.asarray(np.arange(6, dtype=np.float32))
    v = rl.Variable(part(t))
    v.assign_add(100.0 * np.ones(v.shape, np.float32))
    v.assign_sub(np.ones(v.shape, np.float32))
    assert t.numpy().tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    np.testing.assert_array_equal(v.numpy(), part(np.arange(6, dtype=np.float32)) + 99.0)


def test_numpy_returns_a_writable_copy():
    v = rl.Variable([1.0, 2.0])
    array = v.numpy()
    array[0] = 7.0
    assert v.numpy().tolist() == [1.0, 2.0]
    assert np.asarray(v).tolist() == [1.0, 2.0]
    assert np.asarray(v, dtype=np.float64).dtype == np.float64


def test_assign_sets_the_value_and_returns_the_variable():
    v = rl.Variable([1.0, 2.0])
    assert v.assign([3.0, 4.0]) is v
    assert v.numpy().tolist() == [3.0, 4.0]
    v.assign(rl.asarray([5.0, 6.0]))
    assert v.numpy().tolist() == [5.0, 6.0]


def test_assign_add_and_assign_sub():
    v = rl.Variable([1.0, 2.0])
    v.assign_add([0.5, 0.5]).assign_sub(rl.asarray([1.0, 3.0]))
    np.testing.assert_array_equal(v.numpy(), np.array([0.5, -0.5], np.float32))


def test_assign_add_of_another_variable():
    v, w = rl.Variable([1.0, 2.0]), rl.Variable([10.0, 20.0])
    v.assign_add(w)
    assert v.numpy().tolist() == [11.0, 22.0]


def test_assign_casts_to_the_variable_dtype():
    v = rl.Variable(np.zeros(2, np.float16))
    v.assign([1.0, 2.0])
    assert v.dtype == np.float16
    i = rl.Variable([1, 2])
    i.assign_add(np.array([1, 1], np.int8))
    assert i.dtype == np.int64 and i.numpy().tolist() == [2, 3]


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_update_with_wrong_shape_raises_shape_error(method):
    v = rl.Variable(np.zeros((2, 3), np.float32), name="kernel")
    with pytest.raises(ShapeError) as info:
        getattr(v, method)(np.zeros((3, 2), np.float32))
    message = str(info.value)
    assert f"{method}: variable 'kernel' has shape (2, 3)" in message
    assert "(3, 2)" in message
    assert "test_variable.py:" in message


def test_assign_of_floats_to_integer_variable_raises_dtype_error():
    v = rl.Variable([1, 2], name="steps")
    with pytest.raises(DTypeError, match=r"assign_add: variable 'steps' has dtype int64.*float32"):
        v.assign_add([0.5, 0.5])
    assert v.numpy().tolist() == [1, 2]


def test_ops_read_variables_as_tensors():
    v = rl.Variable([[1.0, 2.0]])
    assert isinstance(v + 1.0, rl.Tensor)
    np.testing.assert_array_equal((v * v).numpy(), [[1.0, 4.0]])
    np.testing.assert_array_equal((2.0 - v).numpy(), [[1.0, 0.0]])
    np.testing.assert_array_equal(rl.matmul(v, rl.asarray([[1.0], [1.0]])).numpy(), [[3.0]])
    np.testing.assert_array_equal((-v).numpy(), [[-1.0, -2.0]])


def test_updates_write_in_place_when_no_tensor_holds_the_value():
    v = rl.Variable(np.zeros(1000, np.float32))
    buffer = weakref.ref(v._array)  # a weak reference does not count as a holder
    v.assign_add(np.ones(1000, np.float32))
    v.assign_sub(np.full(1000, 0.5, np.float32))
    v.assign(np.full(1000, 3.0, np.float32))
    assert buffer() is v._array
    assert v.numpy()[0] == 3.0


def test_updates_write_in_place_after_a_read_tensor_is_released():
    v = rl.Variable([1.0, 2.0])
    t = v + 1.0  # reads the variable; the result is a new array
    read = v.value()
    del read
    buffer = weakref.ref(v._array)
    v.assign_add([1.0, 1.0])
    assert buffer() is v._array
    assert t.numpy().tolist() == [2.0, 3.0]


def test_updates_copy_on_write_when_a_read_tensor_is_alive():
    v = rl.Variable([1.0, 2.0])
    earlier = v.value()
    v.assign_add([10.0, 10.0])
    assert earlier.numpy().tolist() == [1.0, 2.0]
    assert v.numpy().tolist() == [11.0, 12.0]
    later = v.value()
    v.assign([0.0, 0.0])
    v.assign_sub([1.0, 1.0])
    assert earlier.numpy().tolist() == [1.0, 2.0]
    assert later.numpy().tolist() == [11.0, 12.0]
    assert v.numpy().tolist() == [-1.0, -1.0]


def test_views_of_a_variable_keep_their_value_after_updates():
    v = rl.Variable([[1.0, 2.0], [3.0, 4.0]])
    reshaped = rl.reshape(v, shape=(4,))  # NumPy makes a view of the variable's buffer
    transposed = rl.transpose(v)
    array_view = v.value().numpy()
    v.assign_add(np.ones((2, 2), np.float32))
    assert reshaped.numpy().tolist() == [1.0, 2.0, 3.0, 4.0]
    assert transposed.numpy().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert array_view.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert v.numpy().tolist() == [[2.0, 3.0], [4.0, 5.0]]


def test_tape_keeps_the_value_it_recorded_when_the_variable_changes():
    v = rl.Variable([2.0])
    with rl.GradientTape() as tape:
        y = v * v
        v.assign([100.0])
    assert y.numpy().tolist() == [4.0]
    assert tape.gradient(y, v).numpy().tolist() == [4.0]


def test_repr_names_the_variable():
    v = rl.Variable([1.0, 2.0], name="bias")
    assert repr(v) == "<rl.Variable 'bias' shape=(2,) dtype=float32, numpy=[1., 2.]>"


def test_variable_scalar_conversions():
    assert float(rl.Variable(2.5)) == 2.5 and int(rl.Variable(3)) == 3
    assert bool(rl.Variable(1.0)) and len(rl.Variable([1, 2, 3])) == 3


def test_variable_cannot_be_deep_copied():
    with pytest.raises(ArgumentError, match="deep-copied"):
        copy.deepcopy(rl.Variable(1.0))


UPDATES = st.lists(
    st.tuples(
        st.sampled_from(["assign", "assign_add", "assign_sub", "read", "release"]),
        st.lists(st.integers(-5, 5), min_size=3, max_size=3),
    ),
    max_size=20,
)


@settings(max_examples=50, deadline=None)
@given(UPDATES)
def test_reads_keep_their_values_under_any_sequence_of_updates(steps):
    v = rl.Variable(np.zeros(3, np.float32))
    model = np.zeros(3, np.float32)
    held = []  # (tensor read earlier, the value it had then)
    for action, numbers in steps:
        delta = np.array(numbers, np.float32)
        if action == "read":
            held.append((v.value(), model.copy()))
        elif action == "release" and held:
            held.pop(0)
        elif action != "release":
            getattr(v, action)(delta)
            model = {"assign": delta, "assign_add": model + delta, "assign_sub": model - delta}[
                action
            ]
    np.testing.assert_array_equal(v.numpy(), model)
    for tensor, value in held:
        np.testing.assert_array_equal(tensor.numpy(), value)
