"""Errors: types, messages that name the op, the shapes and the caller's line; check_numerics."""

import inspect
import warnings

import numpy as np
import pytest

import rillet as rl
from rillet import _context
from rillet.errors import (
    ArgumentError,
    ArgumentTypeError,
    AxisError,
    DTypeError,
    GradientError,
    NumericsError,
    RilletError,
    ShapeError,
)

HERE = "test_errors.py"


def _next_line() -> int:
    """The line number after the caller's line."""
    return inspect.currentframe().f_back.f_lineno + 1


@pytest.mark.parametrize(
    "error, bases",
    [
        (ShapeError, (ValueError,)),
        (DTypeError, (TypeError,)),
        (AxisError, (ValueError, IndexError)),
        (ArgumentError, (ValueError,)),
        (ArgumentTypeError, (TypeError,)),
        (NumericsError, (ArithmeticError,)),
        (GradientError, (ValueError,)),
    ],
)
def test_error_types_subclass_builtin_errors(error, bases):
    assert issubclass(error, RilletError)
    for base in bases:
        assert issubclass(error, base)


def test_errors_are_exported_as_rl_errors():
    assert rl.errors.ShapeError is ShapeError and issubclass(RilletError, Exception)


def test_broadcast_error_names_op_shapes_and_caller_line():
    with pytest.raises(ShapeError) as info:
        line = _next_line()
        rl.add(rl.zeros((2, 3)), rl.zeros((4,)))
    assert str(info.value) == f"add: cannot broadcast x(2, 3) with y(4,) ({HERE}:{line})"
    assert info.value.op == "add"


def test_matmul_error_names_both_shapes_and_the_contracted_sizes():
    with pytest.raises(ShapeError) as info:
        line = _next_line()
        rl.matmul(rl.zeros((32, 784)), rl.zeros((512, 10)))
    assert str(info.value) == (
        f"matmul: cannot contract a(32, 784) with b(512, 10): 784 != 512 ({HERE}:{line})"
    )


def test_reshape_error_names_sizes():
    with pytest.raises(ShapeError, match=r"^reshape: .*x\(2, 3\) \(6 elements\) to \(4,\)"):
        rl.reshape(rl.zeros((2, 3)), shape=(4,))


def test_axis_error_names_axis_and_rank():
    with pytest.raises(AxisError, match=rf"^sum: axis=3 .* rank 2 \({HERE}:\d+\)$"):
        rl.sum(rl.zeros((2, 3)), axis=3)


def test_axis_error_is_an_index_error_too():
    with pytest.raises(IndexError):
        rl.sum(rl.zeros((2, 3)), axis=-3)


def test_cast_to_unsupported_dtype_names_it():
    with pytest.raises(DTypeError, match=rf"^cast: unsupported dtype 'complex64'.*\({HERE}:\d+\)"):
        rl.cast(rl.zeros((2,)), dtype="complex64")


def test_unexpected_keyword_names_op_and_expected_names():
    with pytest.raises(ArgumentTypeError, match=r"^sum: .*'axes'.*expected one of x, axis"):
        rl.sum(rl.zeros((2,)), axes=0)


def test_too_many_positional_arguments():
    with pytest.raises(ArgumentTypeError, match=r"^sum: takes at most 3 .* 4 were given"):
        rl.sum(rl.zeros((2,)), 0, False, 1)


def test_missing_input_names_it():
    with pytest.raises(ArgumentTypeError, match=r"^add: missing required input 'y'"):
        rl.add(rl.zeros((2,)))


def _user_helper(x):
    return rl.add(x, rl.zeros((5,)))  # the line an error should point at


def test_error_points_at_the_innermost_user_line():
    helper_line = inspect.getsourcelines(_user_helper)[1] + 1
    with pytest.raises(ShapeError) as info:
        _user_helper(rl.zeros((3,)))
    assert str(info.value).endswith(f"({HERE}:{helper_line})")


def test_errors_while_computing_gradients_name_the_op():
    x = rl.asarray([1.0, 2.0])
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    with pytest.raises(ShapeError, match=r"multiply: cannot broadcast .*\(3,\)"):
        tape.gradient(y, x, output_gradients=rl.zeros((3,)))


def test_variable_errors_name_the_caller_line():
    v = rl.Variable([1.0, 2.0], name="w")
    with pytest.raises(ShapeError) as info:
        line = _next_line()
        v.assign([1.0])
    assert str(info.value).endswith(f"({HERE}:{line})")


def test_error_message_format_names_op_and_location():
    error = ShapeError("got x(2,)", op="concat")
    assert str(error).startswith(f"concat: got x(2,) ({HERE}:")
    error.location = None
    assert str(error) == "concat: got x(2,)"
    error.location = "model.py:3"
    assert str(error) == "concat: got x(2,) (model.py:3)"


# ---- errors raised outside an op's bind still name the function and the caller's line -------


def test_argument_errors_name_the_caller_line():
    with pytest.raises(ArgumentTypeError) as info:
        line = _next_line()
        rl.sum(rl.zeros((2,)), axes=0)
    assert str(info.value).endswith(f"({HERE}:{line})")


def test_creation_errors_name_the_function_and_caller_line():
    with pytest.raises(ArgumentError) as info:
        line = _next_line()
        rl.zeros((-1, 2))
    assert str(info.value).startswith("zeros: ")
    assert str(info.value).endswith(f"({HERE}:{line})")


def test_asarray_errors_name_the_function_and_caller_line():
    with pytest.raises(DTypeError) as info:
        line = _next_line()
        rl.asarray(np.zeros(2, np.complex64))
    assert str(info.value).startswith("asarray: ")
    assert str(info.value).endswith(f"({HERE}:{line})")


def test_tape_errors_name_the_caller_line():
    x = rl.asarray(1.0)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(GradientError) as info:
        line = _next_line()
        tape.gradient(y, x)
    assert str(info.value).endswith(f"({HERE}:{line})")


def test_ieee_special_values_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inf = rl.divide(rl.asarray([1.0, -1.0]), rl.asarray([0.0, 0.0]))
        big = rl.exp(rl.asarray([1000.0]))
    assert inf.numpy().tolist() == [np.inf, -np.inf] and big.numpy().tolist() == [np.inf]


# ---- check_numerics ------------------------------------------------------------------------


@pytest.fixture
def check_numerics():
    """Enable numeric checks for one test and restore the previous setting afterwards."""
    previous = _context.FLAGS.check_numerics
    rl.debugging.enable_check_numerics()
    # NumPy's own floating-point warnings are not what these tests are about.
    with np.errstate(all="ignore"):
        yield
    _context.FLAGS.check_numerics = previous


def test_check_numerics_names_the_first_op_that_made_a_nan(check_numerics):
    x = rl.asarray([1.0, -1.0])
    with pytest.raises(NumericsError) as info:
        line = _next_line()
        rl.exp(rl.log(x))
    assert info.value.op == "log"
    message = str(info.value)
    assert message.startswith("log: produced NaN") and "(2,)" in message
    assert message.endswith(f"({HERE}:{line})")


def test_check_numerics_reports_inf(check_numerics):
    with pytest.raises(NumericsError, match=r"^divide: produced Inf"):
        rl.divide(rl.asarray([1.0]), rl.asarray([0.0]))
    with pytest.raises(NumericsError, match=r"^exp: produced Inf"):
        rl.exp(rl.asarray([1000.0]))


def test_check_numerics_does_not_blame_ops_that_pass_nan_along(check_numerics):
    nan = rl.asarray([np.nan, 1.0])
    result = rl.exp(nan * 2.0)
    assert np.isnan(result.numpy()[0])


def test_check_numerics_passes_finite_results(check_numerics):
    x = np.array([1.0, -2.0], np.float32)
    np.testing.assert_array_equal(rl.exp(rl.log(rl.asarray(x * x))).numpy(), np.exp(np.log(x * x)))


def test_disable_check_numerics_turns_checks_off(check_numerics):
    rl.debugging.disable_check_numerics()
    assert np.isnan(rl.log(rl.asarray([-1.0])).numpy()[0])
    rl.debugging.enable_check_numerics()
    with pytest.raises(NumericsError):
        rl.log(rl.asarray([-1.0]))


def test_check_numerics_is_off_by_default():
    assert _context.FLAGS.check_numerics is False
    with np.errstate(all="ignore"):
        assert rl.divide(rl.asarray([1.0]), rl.asarray([0.0])).numpy()[0] == np.inf
