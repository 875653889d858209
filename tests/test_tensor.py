"""The eager Tensor: construction, conversion to NumPy, Python operators, repr."""

import copy
import operator

import ml_dtypes
import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError


def test_tensor_reports_dtype_shape_and_device():
    t = rl.asarray(np.zeros((2, 3, 4), np.float16))
    assert t.dtype == np.float16
    assert t.shape == (2, 3, 4)
    assert t.ndim == 3 and t.size == 24
    assert str(t.device) == "cpu:0" and t.device == "cpu"
    assert isinstance(t, rl.Tensor) and rl.is_tensor(t)
    assert not rl.is_tensor(np.zeros(2))


@pytest.mark.parametrize(
    "value, expected",
    [
        (1.5, np.float32),
        ([1.0, 2.0], np.float32),
        (3, np.int64),
        ([1, 2], np.int64),
        (True, np.bool_),
        ([[True], [False]], np.bool_),
        ([], np.float32),
        (np.zeros(2, np.float64), np.float64),
        (np.zeros(2, np.int32), np.int32),
        (np.zeros(2, np.uint8), np.uint8),
        (np.float64(1.0), np.float64),
        (np.zeros(2, ml_dtypes.bfloat16), ml_dtypes.bfloat16),
    ],
)
def test_asarray_default_dtypes(value, expected):
    t = rl.asarray(value)
    assert t.dtype == np.dtype(expected)
    np.testing.assert_array_equal(t.numpy(), np.asarray(value).astype(expected))


@pytest.mark.parametrize("dtype", [rl.float16, "bfloat16", np.int32, "uint8", float, int, bool])
def test_asarray_with_dtype_converts(dtype):
    t = rl.asarray([0.0, 1.0, 2.0], dtype=dtype)
    expected = np.array([0.0, 1.0, 2.0]).astype(rl.dtypes.as_dtype(dtype))
    assert t.dtype == expected.dtype
    np.testing.assert_array_equal(t.numpy(), expected)


def test_asarray_of_tensor_is_the_same_tensor_unless_converted():
    t = rl.asarray([1.0, 2.0])
    assert rl.asarray(t) is t
    assert rl.asarray(t, dtype=rl.float64).dtype == np.float64
    assert rl.asarray(t, copy=True) is not t


def test_asarray_copies_numpy_input_so_tensors_stay_immutable():
    source = np.array([1.0, 2.0], np.float32)
    t = rl.asarray(source)
    source[0] = 5.0
    assert t.numpy().tolist() == [1.0, 2.0]
    shared = rl.asarray(source, copy=False)
    source[1] = 7.0
    assert shared.numpy().tolist() == [5.0, 7.0]


def test_asarray_of_nested_tensors_and_variables():
    t = rl.asarray([rl.asarray(1.0), rl.asarray(2.0)])
    assert t.shape == (2,) and t.dtype == np.float32
    assert rl.asarray(rl.Variable([3.0, 4.0])).numpy().tolist() == [3.0, 4.0]


def test_tensor_constructor_copies():
    source = np.array([1, 2])
    t = rl.Tensor(source, dtype="float64")
    source[0] = 9
    assert t.dtype == np.float64 and t.numpy().tolist() == [1.0, 2.0]


@pytest.mark.parametrize("value", [["a", "b"], {"a": 1}, object()])
def test_asarray_rejects_non_numeric_values(value):
    with pytest.raises(ArgumentTypeError, match="cannot convert"):
        rl.asarray(value)


def test_asarray_rejects_unsupported_dtypes():
    with pytest.raises(DTypeError, match="complex64"):
        rl.asarray(np.zeros(2, np.complex64))
    with pytest.raises(DTypeError, match="unsupported dtype 'float128'"):
        rl.asarray([1.0], dtype="float128")


def test_asarray_rejects_unknown_device():
    assert rl.asarray([1.0], device="cpu:0").device == "cpu:0"
    with pytest.raises(ArgumentError, match=r"unknown device 'gpu:3'.*cpu:0"):
        rl.asarray([1.0], device="gpu:3")


def test_numpy_is_read_only_and_shares_memory():
    t = rl.asarray([[1.0, 2.0], [3.0, 4.0]])
    view = t.numpy()
    assert not view.flags.writeable
    assert np.shares_memory(view, t.numpy())
    with pytest.raises(ValueError, match="read-only"):
        view[0, 0] = 5.0
    assert t.numpy()[0, 0] == 1.0


def test_np_asarray_of_tensor_is_a_read_only_view():
    t = rl.asarray([1, 2, 3])
    array = np.asarray(t)
    assert isinstance(array, np.ndarray) and array.dtype == np.int64
    assert np.shares_memory(array, t.numpy()) and not array.flags.writeable
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    copied = np.array(t, copy=True)
    assert copied.flags.writeable and not np.shares_memory(copied, t.numpy())


def test_item_tolist_and_python_scalars():
    t = rl.asarray([[1.5, 2.0]])
    assert t.tolist() == [[1.5, 2.0]]
    assert rl.asarray(2.5).item() == 2.5
    assert float(rl.asarray(2.5)) == 2.5 and int(rl.asarray(7)) == 7
    assert [10, 20, 30][rl.asarray(1)] == 20


def test_only_integer_scalars_are_indices():
    with pytest.raises(TypeError, match="0-d integer"):
        operator.index(rl.asarray(1.0))
    with pytest.raises(TypeError, match="0-d integer"):
        operator.index(rl.asarray([1]))


def test_len_of_tensors():
    assert len(rl.zeros((4, 2))) == 4
    with pytest.raises(TypeError, match="0-d"):
        len(rl.asarray(1.0))


def test_bool_of_one_element_tensor():
    assert bool(rl.asarray(1.0)) is True
    assert bool(rl.asarray([0])) is False


@pytest.mark.parametrize("shape", [(2,), (0,), (2, 2)])
def test_bool_of_multi_element_tensor_raises(shape):
    with pytest.raises(ValueError, match=rf"ambiguous.*{shape}|{shape}.*ambiguous"):
        bool(rl.zeros(shape))


def test_tensors_hash_by_identity_and_copy_as_themselves():
    a, b = rl.asarray([1.0]), rl.asarray([1.0])
    assert len({a, b, a}) == 2
    assert copy.copy(a) is a and copy.deepcopy(a) is a


@pytest.mark.parametrize(
    "values, dtype, expected",
    [
        ([1.0, 2.0], None, "Tensor([1., 2.], shape=(2,), dtype=float32)"),
        (1.5, None, "Tensor(1.5, shape=(), dtype=float32)"),
        ([[1, 2], [3, 4]], None, "Tensor([[1, 2],\n        [3, 4]], shape=(2, 2), dtype=int64)"),
        ([True, False], None, "Tensor([ True, False], shape=(2,), dtype=bool)"),
        ([1.5], "bfloat16", "Tensor([1.5], shape=(1,), dtype=bfloat16)"),
    ],
)
def test_repr_looks_like_numpy_with_shape_and_dtype(values, dtype, expected):
    assert repr(rl.asarray(values, dtype=dtype)) == expected


def test_repr_body_matches_numpy_repr():
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    numpy_body = repr(x)[len("array(") : repr(x).rindex(", dtype=")]
    ours = repr(rl.asarray(x))
    assert ours.startswith("Tensor(")
    assert ours[len("Tensor(") :].startswith(numpy_body.replace("\n      ", "\n       "))
    assert ours.endswith(", shape=(3, 4), dtype=float32)")


def test_str_is_numpy_str():
    x = np.array([[1.0, 2.5], [3.0, 4.0]], np.float32)
    assert str(rl.asarray(x)) == str(x)


# ---- Python operators against NumPy --------------------------------------------------------

RNG = np.random.default_rng(0)
A = RNG.uniform(0.5, 2.0, (3, 4)).astype(np.float32)  # positive: safe for / and **
B = RNG.uniform(0.5, 2.0, (4,)).astype(np.float32)
IA = np.array([[7, -7, 5], [-3, 8, 9]], np.int64)
IB = np.array([2, 3, -4], np.int64)
BA = np.array([True, True, False, False])
BB = np.array([True, False, True, False])

BINARY = [
    pytest.param(op, x, y, id=f"{op.__name__}-{x.dtype}")
    for op, x, y in [
        (operator.add, A, B),
        (operator.sub, A, B),
        (operator.mul, A, B),
        (operator.truediv, A, B),
        (operator.pow, A, B),
        (operator.floordiv, IA, IB),
        (operator.mod, IA, IB),
        (operator.floordiv, A * 3, B),
        (operator.mod, A * 3, B),
        (operator.matmul, A, A.T),
        (operator.and_, BA, BB),
        (operator.or_, BA, BB),
        (operator.xor, BA, BB),
    ]
]
COMPARISONS = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


def _check(got, expected):
    assert isinstance(got, rl.Tensor)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype, f"{got.dtype} != {expected.dtype}"
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("op, x, y", BINARY)
def test_binary_operator_matches_numpy(op, x, y):
    _check(op(rl.asarray(x), rl.asarray(y)), op(x, y))


@pytest.mark.parametrize("op, x, y", BINARY)
def test_reflected_operator_with_numpy_left_operand(op, x, y):
    _check(op(x, rl.asarray(y)), op(x, y))


@pytest.mark.parametrize(
    "op",
    [
        operator.add,
        operator.sub,
        operator.mul,
        operator.truediv,
        operator.pow,
        operator.floordiv,
        operator.mod,
    ],
)
def test_reflected_operator_with_python_scalar(op):
    t = rl.asarray(B)
    _check(op(2.0, t), op(np.float32(2.0), B))
    _check(op(t, 3.0), op(B, np.float32(3.0)))


@pytest.mark.parametrize("op", [operator.and_, operator.or_, operator.xor])
def test_reflected_logical_operator_with_python_bool(op):
    _check(op(True, rl.asarray(BB)), op(True, BB))


@pytest.mark.parametrize("op", COMPARISONS)
def test_comparison_operators_match_numpy(op):
    x = np.array([1.0, 2.0, 3.0, 2.0], np.float32)
    y = np.array([2.0, 2.0, 1.0, 5.0], np.float32)
    _check(op(rl.asarray(x), rl.asarray(y)), op(x, y))
    _check(op(rl.asarray(x), 2.0), op(x, np.float32(2.0)))
    _check(op(2.0, rl.asarray(x)), op(np.float32(2.0), x))


def test_operator_error_names_the_op_shapes_and_this_file():
    with pytest.raises(
        ShapeError, match=r"^add: .*x\(2, 3\) with y\(4,\) \(test_tensor\.py:\d+\)$"
    ):
        rl.zeros((2, 3)) + rl.zeros((4,))
    with pytest.raises(ShapeError, match=r"^matmul: .*a\(2, 3\) with b\(2, 3\).*test_tensor\.py"):
        rl.zeros((2, 3)) @ rl.zeros((2, 3))


def test_comparison_broadcasts():
    got = rl.asarray([[1], [3]]) < rl.asarray([0, 2, 4])
    np.testing.assert_array_equal(got.numpy(), np.array([[1], [3]]) < np.array([0, 2, 4]))


def test_unary_operators_match_numpy():
    x = np.array([[-1.5, 0.0, 2.0]], np.float32)
    _check(-rl.asarray(x), -x)
    _check(abs(rl.asarray(x)), abs(x))
    assert (+rl.asarray(x)).numpy().tolist() == x.tolist()
    _check(-rl.asarray(IA), -IA)
    _check(abs(rl.asarray(IA)), abs(IA))
    _check(~rl.asarray(BA), ~BA)


def test_operators_keep_low_precision_dtypes():
    x = rl.asarray(np.ones(3, np.float16))
    assert (x + x).dtype == (x * 2).dtype == (1 - x).dtype == (-x).dtype == np.float16


def test_tensor_methods_call_ops():
    t = rl.asarray(A)
    assert t.T.shape == (4, 3)
    assert t.astype(rl.float16).dtype == np.float16
    assert t.reshape(2, 6).shape == (2, 6) and t.reshape((12,)).shape == (12,)
    np.testing.assert_allclose(t.sum(axis=0).numpy(), A.sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(t.mean().numpy(), A.mean(), rtol=1e-6)
    np.testing.assert_allclose(t.max(axis=1, keepdims=True).numpy(), A.max(1, keepdims=True))


def test_iteration_and_indexing_yield_rows():
    t = rl.asarray([[1, 2], [3, 4]])
    rows = list(t)
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]
    assert t[1, 0].item() == 3
    with pytest.raises(TypeError, match="0-d"):
        iter(rl.asarray(1.0)).__next__()
