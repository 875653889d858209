"""Elementwise ops: NumPy agreement and promotion on random shapes and dtypes, integer and
bool behaviour, gradient conventions, numerical stability, erf accuracy, out=, errors."""

import re

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import rillet as rl
from rillet.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from rillet.ops.elementwise import _SELECT_MIN_SIZE
from rillet.testing.gradcheck import check_grads

HERE = "test_elementwise.py"
SETTINGS = settings(max_examples=80, deadline=None)
MANY = settings(max_examples=300, deadline=None)

INT8, UINT8, INT16, INT32, INT64 = (
    np.dtype(t) for t in ("int8", "uint8", "int16", "int32", "int64")
)
F16, F32, F64, BF16 = np.dtype("float16"), np.dtype("float32"), np.dtype("float64"), rl.bfloat16
LOW_PRECISION = (F16, BF16)
DTYPES = [INT8, UINT8, INT32, INT64, F16, BF16, F32, F64]

ARITHMETIC = ["add", "subtract", "multiply", "maximum", "minimum", "power", "floor_divide",
              "remainder", "divide"]  # fmt: skip
COMPARISONS = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
DIVISORS = {"floor_divide", "remainder", "divide"}
NUMPY_NAME = {"divide": "true_divide"}


def _values(rng, shape, dtype, op, which):
    """Small integers exactly representable in every dtype; no zero divisors and no
    negative integer exponents (which NumPy and rillet reject)."""
    low = 0 if dtype == UINT8 or (op == "power" and which == "y") else -3
    values = rng.integers(low, 4, size=shape)
    if which == "y" and op in DIVISORS:
        values = np.where(values == 0, 2, values)
    return values.astype(dtype)


def _reference(op, x, y, promoted):
    """NumPy on the promoted dtype; float16/bfloat16 are computed in float32 and rounded;
    true division of integers is computed in float64 and gives float32."""
    wide = F32 if promoted in LOW_PRECISION else promoted
    if op == "divide" and not rl.dtypes.is_floating(promoted):
        wide, promoted = F64, F32
    expected = getattr(np, NUMPY_NAME.get(op, op))(x.astype(wide), y.astype(wide))
    return expected if op in COMPARISONS else expected.astype(promoted)


# ------------------------------------------------ binary ops vs NumPy and promotion (Hypothesis)


@MANY
@given(
    op=st.sampled_from(ARITHMETIC + COMPARISONS),
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)),
    seed=st.integers(0, 2**32 - 1),
)
def test_binary_ops_match_numpy_on_random_shapes_and_dtypes(op, shapes, dtypes, seed):
    rng = np.random.default_rng(seed)
    (x_shape, y_shape), (x_dtype, y_dtype) = shapes.input_shapes, dtypes
    x = _values(rng, x_shape, x_dtype, op, "x")
    y = _values(rng, y_shape, y_dtype, op, "y")
    got = getattr(rl, op)(rl.asarray(x), rl.asarray(y))
    promoted = rl.result_type(x_dtype, y_dtype)
    if op in COMPARISONS:
        want_dtype = np.dtype(bool)
    elif op == "divide" and not rl.dtypes.is_floating(promoted):
        want_dtype = F32
    else:
        want_dtype = promoted
    assert got.dtype == want_dtype and got.shape == shapes.result_shape
    expected = _reference(op, x, y, promoted)
    np.testing.assert_array_equal(np.asarray(got), expected)


@pytest.mark.parametrize(
    "x_dtype, y_dtype, expected",
    [
        (UINT8, INT8, INT16),
        (INT8, UINT8, INT16),
        (UINT8, INT32, INT32),
        (INT64, F16, F16),
        (F16, INT64, F16),
        (BF16, F16, F32),
        (F16, BF16, F32),
        (INT8, INT32, INT32),
        (F16, F32, F32),
        (np.dtype(bool), INT8, INT8),
    ],
)
def test_binary_ops_promote_by_the_documented_table(x_dtype, y_dtype, expected):
    x, y = rl.asarray(np.ones(2, x_dtype)), rl.asarray(np.ones(2, y_dtype))
    for op in (rl.add, rl.multiply, rl.maximum, rl.minimum, rl.power, rl.remainder):
        assert op(x, y).dtype == expected, op.name
    assert rl.where(rl.asarray([True, False]), x, y).dtype == expected
    assert rl.equal(x, y).dtype == np.dtype(bool)


@pytest.mark.parametrize(
    "dtype, scalar, expected",
    [
        (INT32, 1.5, F32),  # a Python float meeting an integer tensor gives float32
        (UINT8, 0.5, F32),
        (F16, 1.5, F16),  # Python scalars are weak: float16 stays float16
        (BF16, 2.0, BF16),
        (UINT8, 3, UINT8),
        (F64, 2, F64),
    ],
)
def test_python_scalars_are_weakly_typed(dtype, scalar, expected):
    x = rl.asarray(np.full(3, 2, dtype))
    for op in (rl.add, rl.multiply, rl.maximum, rl.power, rl.subtract):
        assert op(x, scalar).dtype == expected, op.name
        assert op(scalar, x).dtype == expected, op.name
    assert rl.where(rl.asarray([True, False, True]), x, scalar).dtype == expected
    assert rl.clip(x, scalar, None).dtype == expected


@SETTINGS
@given(data=st.data())
def test_broadcast_errors_name_both_shapes(data):
    x_shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
    axis = data.draw(st.integers(0, len(x_shape) - 1))
    other = data.draw(st.integers(2, 5).filter(lambda n: n != x_shape[axis]))
    y_shape = x_shape[axis:]
    y_shape = (other,) + y_shape[1:]
    op = data.draw(st.sampled_from([rl.add, rl.maximum, rl.less, rl.logical_and, rl.power]))
    with pytest.raises(ShapeError) as info:
        op(rl.ones(x_shape), rl.ones(y_shape))
    message = str(info.value)
    assert message.startswith(f"{op.name}: ")
    assert re.search(re.escape(str(x_shape)) + ".*" + re.escape(str(y_shape)), message)
    assert HERE in message


# ----------------------------------------------------------------------- bad inputs


def test_add_of_unbroadcastable_shapes_names_op_shapes_and_caller():
    with pytest.raises(ShapeError, match=r"add: .*\(2, 3\).*\(4,\)") as info:
        rl.add(rl.zeros((2, 3)), rl.zeros((4,)))
    assert HERE in str(info.value)


def test_where_with_a_non_bool_condition_raises_dtype_error():
    with pytest.raises(DTypeError, match=r"where: condition has dtype float32, expected bool"):
        rl.where(rl.ones((2,)), rl.ones((2,)), rl.zeros((2,)))


def test_where_with_unbroadcastable_inputs_names_all_three_shapes():
    condition = rl.asarray([[True, False, True]])
    with pytest.raises(ShapeError, match=r"where: .*condition\(1, 3\).*x\(2, 1\).*y\(4,\)"):
        rl.where(condition, rl.ones((2, 1)), rl.ones((4,)))


def test_clip_with_min_greater_than_max_raises_argument_error():
    with pytest.raises(ArgumentError, match=r"clip: min=2\.0 is greater than max=1\.0") as info:
        rl.clip(rl.ones((3,)), 2.0, 1.0)
    assert HERE in str(info.value)


def test_clip_by_value_with_crossed_bounds_raises_argument_error():
    with pytest.raises(ArgumentError, match=r"clip: clip_value_min=3 is greater than .*=-1"):
        rl.clip_by_value(rl.ones((3,)), 3, -1)


def test_clip_of_bool_raises_dtype_error():
    with pytest.raises(DTypeError, match=r"clip: x has dtype bool"):
        rl.clip(rl.asarray([True, False]), None, None)


@pytest.mark.parametrize("op, alpha", [(rl.leaky_relu, "a"), (rl.elu, None), (rl.leaky_relu, True)])
def test_activation_alpha_that_is_not_a_number_raises(op, alpha):
    with pytest.raises(ArgumentTypeError, match=rf"{op.name}: alpha must be a real number, got"):
        op(rl.ones((2,)), alpha=alpha)


def test_gelu_approximate_that_is_not_a_bool_raises():
    with pytest.raises(
        ArgumentTypeError, match=r"gelu: approximate must be True or False, got 'tanh'"
    ):
        rl.gelu(rl.ones((2,)), approximate="tanh")


def test_integer_power_with_negative_exponent_raises_argument_error():
    with pytest.raises(ArgumentError, match=r"power: integers cannot be raised to negative .*-2"):
        rl.power(rl.asarray([2, 3]), rl.asarray([1, -2]))


@pytest.mark.parametrize("op", [rl.subtract, rl.floor_divide, rl.remainder, rl.power])
def test_arithmetic_on_bools_raises_dtype_error(op):
    with pytest.raises(DTypeError, match=rf"{op.name}: x has dtype bool, expected one of int8"):
        op(rl.asarray([True]), rl.asarray([False]))


@pytest.mark.parametrize("op", [rl.negative, rl.sign, rl.floor, rl.ceil, rl.round, rl.relu])
def test_numeric_unary_ops_on_bools_raise_dtype_error(op):
    with pytest.raises(DTypeError, match=rf"{op.name}: x has dtype bool"):
        op(rl.asarray([True, False]))


def test_unknown_attribute_names_the_op_and_the_keyword():
    with pytest.raises(ArgumentTypeError, match=r"relu: .*unexpected keyword argument 'alpha'"):
        rl.relu(rl.ones((2,)), alpha=0.1)


# ---------------------------------------------------------------- integer and bool dtypes

FLOATING_UNARY = ["exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh",
                  "erf", "sigmoid", "softplus", "softsign", "silu", "selu", "elu", "gelu",
                  "leaky_relu", "reciprocal"]  # fmt: skip


@pytest.mark.parametrize("name", FLOATING_UNARY)
@pytest.mark.parametrize("dtype", [INT8, UINT8, INT64, np.dtype(bool)])
def test_floating_ops_on_integers_and_bools_give_float32(name, dtype, check_rules):
    x = np.asarray([1, 2, 3]).astype(dtype)
    got = getattr(rl, name)(rl.asarray(x))
    expected = getattr(rl, name)(rl.asarray(x.astype(np.float64)))
    assert got.dtype == F32
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)


@pytest.mark.parametrize("dtype", [INT8, INT32, INT64])
def test_floor_divide_and_remainder_of_integers_follow_python(dtype, check_rules):
    pairs = [(a, b) for a in range(-7, 8) for b in (-3, -2, -1, 1, 2, 3)]
    x = rl.asarray(np.asarray([a for a, _ in pairs], dtype))
    y = rl.asarray(np.asarray([b for _, b in pairs], dtype))
    quotient, rest = x // y, x % y
    assert quotient.dtype == dtype and rest.dtype == dtype
    assert quotient.tolist() == [a // b for a, b in pairs]
    assert rest.tolist() == [a % b for a, b in pairs]


def test_float_remainder_takes_the_sign_of_the_divisor():
    x = rl.asarray([5.5, -5.5, 5.5, -5.5], dtype=rl.float64)
    y = rl.asarray([2.0, 2.0, -2.0, -2.0], dtype=rl.float64)
    assert rl.remainder(x, y).tolist() == [5.5 % 2, -5.5 % 2, 5.5 % -2, -5.5 % -2]
    assert rl.floor_divide(x, y).tolist() == [5.5 // 2, -5.5 // 2, 5.5 // -2, -5.5 // -2]


@pytest.mark.parametrize("name", ["abs", "square", "sign", "relu", "relu6", "negative"])
@pytest.mark.parametrize("dtype", [INT8, UINT8, INT32])
def test_integer_arithmetic_keeps_the_integer_dtype(name, dtype, check_rules):
    x = np.asarray([0, 1, 3, 7]).astype(dtype)
    got = getattr(rl, name)(rl.asarray(x))
    reference = {"relu": lambda v: np.maximum(v, 0), "relu6": lambda v: np.clip(v, 0, 6)}
    assert got.dtype == dtype
    expected = reference[name](x) if name in reference else getattr(np, name)(x)
    np.testing.assert_array_equal(np.asarray(got), expected)


@pytest.mark.parametrize("op", [rl.floor, rl.ceil, rl.round])
def test_rounding_integers_returns_them_unchanged(op, check_rules):
    x = rl.asarray(np.asarray([-3, 0, 5], INT32))
    got = op(x)
    assert got.dtype == INT32 and got.tolist() == [-3, 0, 5]


def test_round_halves_to_even():
    x = rl.asarray([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 2.4999])
    assert rl.round(x).tolist() == [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 4.0, 2.0]


def test_comparisons_return_bool_after_promotion():
    x, y = rl.asarray(np.asarray([1, 2, 3], UINT8)), rl.asarray([1.5, 2.0, -1.0])
    assert (x < y).tolist() == [True, False, False]
    assert (x == y).tolist() == [False, True, False]
    assert (x >= 2).dtype == np.dtype(bool)
    assert rl.not_equal(x, 2).tolist() == [True, False, True]


def test_logical_ops_read_numbers_as_truth_values():
    a = rl.asarray([0.0, 1.5, -2.0, np.nan])
    b = rl.asarray(np.asarray([3, 0, 1, 0], INT8))
    assert rl.logical_and(a, b).tolist() == [False, False, True, False]
    assert rl.logical_or(a, b).tolist() == [True, True, True, True]
    assert rl.logical_xor(a, b).tolist() == [True, True, False, True]
    assert rl.logical_not(a).tolist() == [True, False, False, False]


def test_tensor_operators_map_to_elementwise_ops():
    x, y = rl.asarray([7.0, -7.0]), rl.asarray([2.0, 2.0])
    assert (x // y).tolist() == [3.0, -4.0]
    assert (x % y).tolist() == [1.0, 1.0]
    assert (y**3).tolist() == [8.0, 8.0] and (2**y).tolist() == [4.0, 4.0]
    assert abs(x).tolist() == [7.0, 7.0]
    p, q = rl.asarray([True, True, False]), rl.asarray([True, False, False])
    assert (p & q).tolist() == [True, False, False]
    assert (p | q).tolist() == [True, True, False]
    assert (p ^ q).tolist() == [False, True, False]
    assert (~p).tolist() == [False, False, True]


def test_isnan_isinf_isfinite_on_special_values_and_integers():
    x = rl.asarray([np.nan, np.inf, -np.inf, 0.0, -1.0], dtype=rl.bfloat16)
    assert rl.isnan(x).tolist() == [True, False, False, False, False]
    assert rl.isinf(x).tolist() == [False, True, True, False, False]
    assert rl.isfinite(x).tolist() == [False, False, False, True, True]
    ints = rl.asarray([1, 2])
    assert rl.isnan(ints).tolist() == [False, False] and rl.isfinite(ints).tolist() == [True] * 2


def test_aliases_are_the_same_ops():
    assert rl.swish is rl.silu
    x = rl.asarray([-2.0, 0.3, 5.0])
    assert rl.clip_by_value(x, -1.0, 1.0).tolist() == rl.clip(x, -1.0, 1.0).tolist()


def test_clip_with_crossed_tensor_bounds_gives_max_as_numpy():
    x = rl.asarray([-1.0, 0.5, 3.0])
    got = rl.clip(x, rl.asarray([2.0, 2.0, 2.0]), rl.asarray(1.0))
    assert got.tolist() == np.clip([-1.0, 0.5, 3.0], 2.0, 1.0).tolist() == [1.0, 1.0, 1.0]


def test_clip_without_bounds_returns_the_values():
    x = rl.asarray([-1.0, 2.0])
    assert rl.clip(x).tolist() == [-1.0, 2.0]


# ----------------------------------------------------------------- gradient conventions


def _grads(fn, *args):
    args = [rl.asarray(a, dtype=rl.float64) for a in args]
    with rl.GradientTape(persistent=True) as tape:
        tape.watch(args)
        out = rl.sum(fn(*args))
    return [tape.gradient(out, a) for a in args]


def test_relu_family_gradients_at_the_kinks():
    (g,) = _grads(rl.relu, [-1.0, 0.0, 2.0])
    assert g.tolist() == [0.0, 0.0, 1.0]
    (g,) = _grads(rl.relu6, [-1.0, 0.0, 3.0, 6.0, 7.0])
    assert g.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    (g,) = _grads(lambda x: rl.leaky_relu(x, alpha=0.3), [-1.0, 0.0, 2.0])
    assert g.tolist() == [0.3, 0.3, 1.0]


@pytest.mark.parametrize(
    "op, x_share", [(rl.maximum, [0.5, 1.0, 0.0]), (rl.minimum, [0.5, 0.0, 1.0])]
)
def test_maximum_and_minimum_split_ties_evenly(op, x_share):
    g_x, g_y = _grads(op, [1.0, 2.0, 3.0], [1.0, 0.0, 5.0])
    assert g_x.tolist() == x_share
    assert g_y.tolist() == [1.0 - s for s in x_share]
    # the even split is what central differences see at a tie
    check_grads(op, [np.asarray([1.0]), np.asarray([1.0])])


def test_clip_passes_the_gradient_to_x_at_the_bounds():
    g_x, g_lo, g_hi = _grads(rl.clip, [-1.0, 0.0, 0.5, 1.0, 2.0], [0.0] * 5, [1.0] * 5)
    assert g_x.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert g_lo.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert g_hi.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_clip_with_crossed_bounds_sends_the_gradient_to_max():
    g_x, g_lo, g_hi = _grads(rl.clip, [-1.0, 0.5, 3.0], [2.0] * 3, [1.0] * 3)
    assert (g_x.tolist(), g_lo.tolist(), g_hi.tolist()) == ([0.0] * 3, [0.0] * 3, [1.0] * 3)


@pytest.mark.parametrize("op", [rl.floor, rl.ceil, rl.round, rl.sign])
def test_piecewise_constant_ops_have_zero_not_missing_gradients(op):
    (g,) = _grads(op, [-1.3, 0.2, 2.7])
    assert g is not None and g.tolist() == [0.0, 0.0, 0.0]


def test_floor_divide_has_zero_gradients_and_remainder_the_floor_rule():
    assert [g.tolist() for g in _grads(rl.floor_divide, [7.5, -7.5], [2.0, 2.0])] == [[0.0] * 2] * 2
    g_x, g_y = _grads(rl.remainder, [7.5, -7.5], [2.0, 2.0])
    assert g_x.tolist() == [1.0, 1.0] and g_y.tolist() == [-3.0, 4.0]  # -floor(x / y)


def test_stop_gradient_blocks_the_gradient_but_keeps_the_value():
    (g,) = _grads(lambda x: rl.stop_gradient(x) * x, [2.0, -3.0])
    assert g.tolist() == [2.0, -3.0]
    assert rl.stop_gradient(rl.asarray([1.5])).tolist() == [1.5]


def test_power_gradients_at_negative_and_zero_bases():
    g_x, g_p = _grads(rl.power, [-2.0, 0.0, 3.0, 0.0], [2.0, 2.0, 2.0, 0.0])
    np.testing.assert_allclose(g_x.numpy(), [-4.0, 0.0, 6.0, 0.0])
    # the exponent's gradient is x**p * log|x|: the real part of the complex derivative for
    # a negative base, and 0 for a zero base
    np.testing.assert_allclose(g_p.numpy(), [4 * np.log(2.0), 0.0, 9 * np.log(3.0), 0.0])


def test_where_sends_the_gradient_to_the_chosen_branch():
    condition = rl.asarray([True, False, True])
    g_x, g_y = _grads(lambda x, y: rl.where(condition, x, y), [1.0, 2.0, 3.0], [4.0])
    assert g_x.tolist() == [1.0, 0.0, 1.0] and g_y.tolist() == [1.0]


def test_where_gradient_ignores_nan_in_the_unchosen_branch():
    (g,) = _grads(lambda x: rl.where(x > 0, rl.sqrt(rl.abs(x)), 0.0) * 2.0, [4.0, 1.0, -1.0])
    assert g.tolist() == [0.5, 1.0, 0.0]


# ------------------------------------------------------------------ numerical stability


@pytest.mark.parametrize("dtype", [F16, BF16, F32, F64])
def test_activations_are_finite_at_extreme_inputs(dtype):
    x = rl.asarray(np.asarray([-1e4, -100.0, 0.0, 100.0, 1e4]).astype(dtype))
    for op in (rl.sigmoid, rl.softplus, rl.silu, rl.elu, rl.selu, rl.gelu, rl.softsign):
        values = op(x).numpy().astype(np.float64)
        assert np.isfinite(values).all(), op.name
    assert rl.sigmoid(x).tolist()[:1] + rl.sigmoid(x).tolist()[-1:] == [0.0, 1.0]


def test_domain_edges_give_ieee_values_not_errors():
    zero, minus_one = rl.asarray([0.0]), rl.asarray([-1.0])
    assert rl.log(zero).tolist() == [-np.inf] and np.isnan(rl.log(minus_one).numpy()).all()
    assert np.isnan(rl.sqrt(minus_one).numpy()).all()
    assert rl.reciprocal(zero).tolist() == [np.inf] and rl.rsqrt(zero).tolist() == [np.inf]
    assert rl.floor_divide(1.0, zero).tolist() == [np.inf]
    assert np.isnan(rl.remainder(1.0, zero).numpy()).all()
    assert rl.power(zero, -1.0).tolist() == [np.inf]


def test_float16_overflow_gives_inf_not_a_warning():
    assert rl.exp(rl.asarray([20.0], dtype=rl.float16)).tolist() == [np.inf]


def test_integer_division_by_zero_gives_zero_as_numpy():
    x = rl.asarray(np.asarray([7, -7], INT32))
    assert (x // 0).tolist() == [0, 0] and (x % 0).tolist() == [0, 0]


@pytest.mark.parametrize("dtype", [F32, F64])
def test_sigmoid_and_softplus_keep_relative_accuracy_in_the_left_tail(dtype):
    x = np.asarray([-20.0, -40.0, -80.0])
    # float64 references without cancellation; 1 - sigmoid(-x) would lose every digit here
    sigmoid, softplus = np.exp(x) / (1.0 + np.exp(x)), np.log1p(np.exp(x))
    tol = 1e-6 if dtype == F32 else 1e-14
    np.testing.assert_allclose(rl.sigmoid(rl.asarray(x.astype(dtype))).numpy(), sigmoid, rtol=tol)
    np.testing.assert_allclose(rl.softplus(rl.asarray(x.astype(dtype))).numpy(), softplus, rtol=tol)


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=st.floats(-700, 700)))
def test_sigmoid_and_softplus_symmetries(x):
    s, t = rl.sigmoid(rl.asarray(x)), rl.sigmoid(rl.asarray(-x))
    np.testing.assert_allclose((s + t).numpy(), 1.0, rtol=1e-15)
    softplus_gap = rl.softplus(rl.asarray(x)) - rl.softplus(rl.asarray(-x))
    np.testing.assert_allclose(softplus_gap.numpy(), x, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ erf


def test_erf_matches_scipy_in_float64():
    x = np.concatenate([np.linspace(-8, 8, 40001), np.geomspace(1e-300, 30, 2000)])
    x = np.concatenate([x, -x])
    got, want = rl.erf(rl.asarray(x)).numpy(), scipy.special.erf(x)
    nonzero = want != 0
    assert np.max(np.abs(got - want)[nonzero] / np.abs(want[nonzero])) <= 1e-7
    np.testing.assert_array_equal(got[~nonzero], want[~nonzero])


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=st.floats(-1e6, 1e6)))
def test_erf_matches_scipy_on_random_float64(x):
    got, want = rl.erf(rl.asarray(x)).numpy(), scipy.special.erf(x)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=0)


def test_erf_matches_scipy_in_float32():
    x = np.linspace(-6, 6, 20001).astype(np.float32)
    got, want = rl.erf(rl.asarray(x)).numpy(), scipy.special.erf(x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "values",
    [[0.1, -0.4, 0.46875], [0.3, -2.0, 4.0], [0.3, 5.0, -30.0], [np.nan, 0.2, 3.0, -5.5]],
    ids=["small-range-only", "up-to-4", "all-ranges", "nan-with-all-ranges"],
)
def test_erf_ranges_skipped_or_blended_match_scipy(values):
    x = np.asarray(values)
    got, want = rl.erf(rl.asarray(x)).numpy(), scipy.special.erf(x)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_erf_of_special_values():
    got = rl.erf(rl.asarray([np.inf, -np.inf, np.nan, -0.0], dtype=rl.float64)).numpy()
    assert got[0] == 1.0 and got[1] == -1.0 and np.isnan(got[2])
    assert got[3] == 0.0 and np.signbit(got[3])


# ---------------------------------------------------------------------- where on large arrays


def _any_values(rng, shape, dtype):
    if dtype == np.dtype(bool):
        return rng.uniform(size=shape) > 0.5
    if rl.dtypes.is_integer(dtype):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return (rng.standard_normal(shape) * 50).astype(dtype)


@pytest.mark.parametrize("dtype", [F32, F64, F16, BF16, INT8, UINT8, INT64, np.dtype(bool)])
def test_where_on_large_arrays_is_bit_exact_with_numpy(dtype):
    rng = np.random.default_rng(0)
    rows = 2 * _SELECT_MIN_SIZE // 100  # past the size where where() selects bits
    x, y = _any_values(rng, (rows, 100), dtype), _any_values(rng, (rows, 1), dtype)
    if rl.dtypes.is_floating(dtype):
        x[0, :4] = [np.nan, -np.inf, -0.0, np.inf]
    condition = rng.uniform(size=(rows, 100)) > 0.5
    got = rl.where(rl.asarray(condition), rl.asarray(x), rl.asarray(y))
    want = np.where(condition, x, y)
    bits = np.dtype(f"u{dtype.itemsize}")
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy().view(bits), want.view(bits))


# ------------------------------------------------------------------------------ out=

UNARY_WITH_OUT = ["negative", "abs", "sign", "square", "reciprocal", "floor", "ceil", "round",
                  "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh",
                  "erf", "sigmoid", "relu", "relu6", "selu", "gelu", "silu", "softplus",
                  "softsign", "stop_gradient"]  # fmt: skip
BINARY_WITH_OUT = ["add", "subtract", "multiply", "divide", "floor_divide", "remainder",
                   "power", "maximum", "minimum"]  # fmt: skip


@pytest.mark.parametrize("name", UNARY_WITH_OUT)
def test_unary_kernels_write_into_out_even_when_it_aliases_the_input(name):
    kernel = rl.ops.get_op(name).kernel
    x = np.asarray([0.25, 1.5, 2.75, 0.6, 7.0])  # positive: in every op's domain
    expected = kernel(np, x.copy())
    buffer = np.empty_like(x)
    assert kernel(np, x, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, expected)
    assert kernel(np, x, out=x) is x  # in place: the kernel must read x before writing
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("name", BINARY_WITH_OUT + COMPARISONS + ["logical_and", "logical_or"])
def test_binary_kernels_write_into_out(name):
    kernel = rl.ops.get_op(name).kernel
    x, y = np.asarray([[0.5, 1.5, 3.0]]), np.asarray([[2.0], [0.75]])
    expected = kernel(np, x, y)
    buffer = np.empty(expected.shape, expected.dtype)
    assert kernel(np, x, y, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, expected)


def test_clip_kernel_writes_into_out():
    kernel = rl.ops.get_op("clip").kernel
    x = np.asarray([-2.0, 0.5, 2.0])
    assert kernel(np, x, -1.0, 1.0, out=x) is x
    assert x.tolist() == [-1.0, 0.5, 1.0]
