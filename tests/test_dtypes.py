"""Dtypes: the promotion table, weak Python scalars, low-precision round trips."""

import itertools

import ml_dtypes
import numpy as np
import pytest

import rillet as rl
from rillet.errors import DTypeError

B, I8, I16, I32, I64, U8 = (np.dtype(t) for t in (bool, "int8", "int16", "int32", "int64", "uint8"))
F16, F32, F64 = (np.dtype(t) for t in ("float16", "float32", "float64"))
BF16 = np.dtype(ml_dtypes.bfloat16)
ALL = (B, I8, I16, I32, I64, U8, F16, BF16, F32, F64)

# The promotion lattice written independently of rillet/dtypes.py: an edge a -> b means "a
# promotes to b". The array-API standard gives bool -> every numeric kind, the integer chains and
# uint8 -> int16, and the float chain; rillet's documented extensions (as JAX) add
# int64 -> float16 and int64 -> bfloat16 (integer with floating gives the floating type) and make
# float16 and bfloat16 meet at float32. The result of a pair is their least common upper bound.
LATTICE = {
    B: (U8, I8),
    U8: (I16,),
    I8: (I16,),
    I16: (I32,),
    I32: (I64,),
    I64: (F16, BF16),
    F16: (F32,),
    BF16: (F32,),
    F32: (F64,),
    F64: (),
}


def _upper_set(dtype) -> set:
    reached, todo = {dtype}, [dtype]
    while todo:
        for parent in LATTICE[todo.pop()]:
            if parent not in reached:
                reached.add(parent)
                todo.append(parent)
    return reached


def _expected(*dts):
    common = set.intersection(*(_upper_set(d) for d in dts))
    least = [c for c in common if all(other in _upper_set(c) for other in common)]
    assert len(least) == 1, f"the lattice has no single join of {dts}"
    return least[0]


@pytest.mark.parametrize("a, b", list(itertools.product(ALL, ALL)), ids=str)
def test_result_type_matches_lattice_for_every_pair(a, b):
    assert rl.result_type(a, b) == _expected(a, b)


@pytest.mark.parametrize("a, b", list(itertools.product(ALL, ALL)), ids=str)
def test_add_output_dtype_follows_promotion_for_every_pair(a, b):
    x = rl.asarray(np.ones((2,), a))
    y = rl.asarray(np.ones((2,), b))
    assert rl.add(x, y).dtype == _expected(a, b)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (U8, I8, I16),
        (U8, I32, I32),
        (I8, I32, I32),
        (I64, F16, F16),
        (BF16, F16, F32),
        (BF16, F64, F64),
        (B, U8, U8),
        (I32, BF16, BF16),
        (F16, F32, F32),
    ],
)
def test_documented_promotions_hold(a, b, expected):
    assert rl.result_type(a, b) == expected
    assert rl.result_type(b, a) == expected


def test_result_type_of_three_dtypes_is_their_join():
    for dts in itertools.product(ALL, repeat=3):
        assert rl.result_type(*dts) == _expected(*dts), dts


@pytest.mark.parametrize(
    "dtype, scalar, expected",
    [
        (F16, 2.0, F16),
        (BF16, 2.0, BF16),
        (F64, 2.0, F64),
        (I8, 3, I8),
        (U8, 3, U8),
        (I32, 2.5, F32),
        (B, 1, I64),
        (B, 1.0, F32),
        (F16, 2, F16),
    ],
)
def test_python_scalars_are_weak(dtype, scalar, expected):
    x = rl.asarray(np.ones((3,), dtype))
    assert rl.add(x, scalar).dtype == expected
    assert rl.multiply(scalar, x).dtype == expected
    assert (x * scalar).dtype == expected
    assert (scalar * x).dtype == expected


def test_weak_scalar_value_is_exact_in_low_precision():
    x = rl.asarray(np.array([1.0, 2.0], np.float16))
    np.testing.assert_array_equal((x * 0.5).numpy(), np.array([0.5, 1.0], np.float16))


@pytest.mark.parametrize(
    "a, b, expected", [(1, 2, I64), (1.0, 2, F32), (2, 1.5, F32), (True, 2, I64), (True, False, B)]
)
def test_python_scalars_alone_take_default_dtypes(a, b, expected):
    assert rl.add(a, b).dtype == expected


def test_numpy_scalar_keeps_its_dtype():
    assert rl.asarray(np.float64(1.5)).dtype == F64
    assert rl.asarray(np.int8(3)).dtype == I8


@pytest.mark.parametrize("dtype", [F16, BF16])
def test_low_precision_arrays_round_trip_bit_exactly(dtype):
    values = np.array([0.0, -0.0, 1.0, 0.1, 65504 if dtype == F16 else 3e38, np.inf], dtype)
    back = rl.asarray(values).numpy()
    assert back.dtype == dtype
    np.testing.assert_array_equal(back.view(np.uint16), values.view(np.uint16))


@pytest.mark.parametrize("dtype", [F16, BF16])
def test_cast_to_low_precision_rounds_like_numpy(dtype):
    x = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    got = rl.cast(rl.asarray(x), dtype=dtype).numpy()
    np.testing.assert_array_equal(got.view(np.uint16), x.astype(dtype).view(np.uint16))
    wide = rl.cast(rl.asarray(got), dtype=rl.float32).numpy()
    np.testing.assert_array_equal(wide, got.astype(np.float32))


@pytest.mark.parametrize("dtype", [F16, BF16])
def test_low_precision_ops_compute_in_float32_and_round_once(dtype):
    x = (np.random.default_rng(1).standard_normal(50) * 3).astype(dtype)
    got = rl.exp(rl.asarray(x)).numpy()
    expected = np.exp(x.astype(np.float32)).astype(dtype)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.view(np.uint16), expected.view(np.uint16))


def test_bfloat16_asarray_from_python_floats_rounds_to_nearest():
    got = rl.asarray([0.1, 1.0 / 3.0], dtype=rl.bfloat16).numpy()
    np.testing.assert_array_equal(got, np.array([0.1, 1.0 / 3.0]).astype(ml_dtypes.bfloat16))


def test_dtype_objects_are_numpy_dtypes():
    assert isinstance(rl.float32, np.dtype) and rl.float32 == np.float32
    assert rl.bfloat16 == np.dtype(ml_dtypes.bfloat16)
    assert rl.bool == np.dtype(bool)
    assert rl.asarray([1.0]).dtype == np.float32


@pytest.mark.parametrize(
    "value, expected",
    [
        ("float32", F32),
        (np.float16, F16),
        ("bfloat16", BF16),
        ("bool", B),
        (float, F32),
        (int, I64),
        (bool, B),
        (np.dtype("uint8"), U8),
    ],
)
def test_as_dtype_accepts_names_types_and_dtypes(value, expected):
    assert rl.dtypes.as_dtype(value) == expected


@pytest.mark.parametrize("value", ["float8", "complex64", np.complex128, "foo", object])
def test_as_dtype_rejects_unsupported_dtypes(value):
    with pytest.raises(DTypeError, match=r"unsupported dtype .*expected one of .*bfloat16"):
        rl.dtypes.as_dtype(value)


def test_cast_to_unsupported_dtype_names_op_dtype_and_this_file():
    with pytest.raises(
        DTypeError, match=r"^cast: unsupported dtype 'float8'.*\(test_dtypes\.py:\d+\)$"
    ):
        rl.cast(rl.zeros((2,)), dtype="float8")


def test_finfo_and_iinfo_describe_limits():
    assert rl.finfo(rl.bfloat16).bits == 16
    assert float(rl.finfo(rl.bfloat16).eps) == 2.0**-7
    assert float(rl.finfo("float16").max) == 65504.0
    assert rl.iinfo(rl.int8).max == 127
    assert rl.iinfo("uint8").min == 0


def test_kind_predicates():
    assert all(rl.dtypes.is_floating(d) for d in (F16, BF16, F32, F64))
    assert not any(rl.dtypes.is_floating(d) for d in (B, I8, U8, I64))
    assert all(rl.dtypes.is_integer(d) for d in (I8, I16, I32, I64, U8))
    assert not rl.dtypes.is_integer(B) and rl.dtypes.is_bool(B)
