"""Constructors: zeros, ones, full, empty, arange, linspace, eye and the *_like ops."""

import ml_dtypes
import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, DTypeError

DTYPES = [None, "float16", rl.bfloat16, np.float64, "int8", "uint8", rl.int32, bool]


def _expect(got, expected):
    assert isinstance(got, rl.Tensor)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got.numpy(), expected)


def _np_dtype(dtype, default=np.float32):
    return np.dtype(default) if dtype is None else rl.dtypes.as_dtype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), 3, (2, 3), (0, 4), [2, 1, 2]])
def test_zeros_ones_and_empty_match_numpy(shape, dtype):
    _expect(rl.zeros(shape, dtype=dtype), np.zeros(shape, _np_dtype(dtype)))
    _expect(rl.ones(shape, dtype=dtype), np.ones(shape, _np_dtype(dtype)))
    _expect(rl.empty(shape, dtype=dtype), np.zeros(shape, _np_dtype(dtype)))


def test_zeros_accepts_numpy_integer_sizes():
    _expect(rl.zeros((np.int64(2), np.int32(3))), np.zeros((2, 3), np.float32))


@pytest.mark.parametrize(
    "fill, dtype, expected_dtype",
    [
        (2.5, None, np.float32),
        (7, None, np.int64),
        (True, None, np.bool_),
        (np.int16(3), None, np.int64),
        (1.5, "float16", np.float16),
        (3, rl.float64, np.float64),
        (0.1, rl.bfloat16, ml_dtypes.bfloat16),
    ],
)
def test_full_takes_its_dtype_from_the_value(fill, dtype, expected_dtype):
    _expect(rl.full((2, 3), fill, dtype=dtype), np.full((2, 3), fill, expected_dtype))


@pytest.mark.parametrize(
    "args, dtype, expected",
    [
        ((5,), None, np.arange(5)),
        ((2, 9, 3), None, np.arange(2, 9, 3)),
        ((5, 0, -2), None, np.arange(5, 0, -2)),
        ((0.0, 1.0, 0.25), None, np.arange(0.0, 1.0, 0.25).astype(np.float32)),
        ((3.0,), None, np.arange(3.0).astype(np.float32)),
        ((0, 1, 0.1), None, np.arange(0, 1, 0.1).astype(np.float32)),
        ((4,), rl.float16, np.arange(4).astype(np.float16)),
        ((1, 4), "int8", np.arange(1, 4).astype(np.int8)),
        ((0,), None, np.arange(0)),
    ],
)
def test_arange_matches_numpy(args, dtype, expected):
    _expect(rl.arange(*args, dtype=dtype), expected)


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((0.0, 1.0), {"num": 5}),
        ((-2, 3), {"num": 7, "endpoint": False}),
        ((1.0, 0.0), {"num": 4, "dtype": "float64"}),
        ((0.0, 10.0), {"num": 1}),
        ((0.0, 10.0), {"num": 0}),
        ((0.0, 1.0), {}),
        ((0.0, 1.0), {"num": 3, "dtype": rl.bfloat16}),
    ],
)
def test_linspace_matches_numpy(args, kwargs):
    dtype = kwargs.pop("dtype", None)
    expected = np.linspace(*args, **kwargs).astype(_np_dtype(dtype))
    _expect(rl.linspace(*args, **kwargs, dtype=dtype), expected)


@pytest.mark.parametrize(
    "args, dtype", [((3,), None), ((2, 4), None), ((4, 3, 1), "int32"), ((3, 3, -1), bool)]
)
def test_eye_matches_numpy(args, dtype):
    _expect(rl.eye(*args, dtype=dtype), np.eye(*args, dtype=_np_dtype(dtype)))


@pytest.mark.parametrize("dtype", [None, "float16", "int32", bool])
def test_like_ops_match_numpy(dtype):
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = rl.asarray(x)
    target = x.dtype if dtype is None else rl.dtypes.as_dtype(dtype)
    _expect(rl.zeros_like(t, dtype=dtype), np.zeros_like(x, dtype=target))
    _expect(rl.ones_like(t, dtype=dtype), np.ones_like(x, dtype=target))
    _expect(rl.full_like(t, fill_value=3, dtype=dtype), np.full_like(x, 3, dtype=target))


def test_like_ops_accept_variables_and_python_values():
    _expect(rl.zeros_like(rl.Variable([[1, 2]])), np.zeros((1, 2), np.int64))
    _expect(rl.ones_like([1.0, 2.0]), np.ones(2, np.float32))
    _expect(
        rl.full_like(rl.zeros((2,), dtype="float16"), fill_value=0.5), np.full(2, 0.5, np.float16)
    )


def test_like_ops_have_no_gradient():
    x = rl.asarray([1.0, 2.0])
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = rl.ones_like(x) * 2.0
    assert tape.gradient(y, x) is None


def test_constructors_return_fresh_tensors():
    a, b = rl.zeros((2,)), rl.zeros((2,))
    assert a is not b and not np.shares_memory(a.numpy(), b.numpy())


@pytest.mark.parametrize("shape", [(-1, 2), (2.5,), ("3",), -2])
def test_bad_shapes_raise_argument_error(shape):
    with pytest.raises(ArgumentError, match="shape must be non-negative ints"):
        rl.zeros(shape)
    with pytest.raises(ArgumentError, match="shape must be non-negative ints"):
        rl.full(shape, 1.0)


def test_arange_with_zero_step_raises():
    with pytest.raises(ArgumentError, match="arange: step must not be zero"):
        rl.arange(0, 5, 0)


def test_linspace_with_negative_num_raises():
    with pytest.raises(ArgumentError, match="linspace: num must be non-negative, got -1"):
        rl.linspace(0.0, 1.0, num=-1)


def test_unsupported_dtype_raises_dtype_error():
    with pytest.raises(DTypeError, match="unsupported dtype 'complex64'"):
        rl.ones((2,), dtype="complex64")
    with pytest.raises(
        DTypeError, match=r"^zeros_like: unsupported dtype 'float128'.*\(test_creation\.py:\d+\)$"
    ):
        rl.zeros_like(rl.zeros((2,)), dtype="float128")
