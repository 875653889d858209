"""``bind``: the one door every op call goes through.

It converts the arguments to tensors (Python scalars weakly typed, implicit promotion as
recorded ``cast`` ops), then hands the call to the active context: a tracer when one is
installed, else eager execution, which runs the shape rule, the kernel, and records the call
on every active gradient tape.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from . import dtypes as _dtypes
from .autodiff import tape as _tape
from .errors import (
    ArgumentError,
    DTypeError,
    NumericsError,
    RilletError,
    ShapeError,
    attach_context,
)
from .ops._registry import Spec
from .tensor import Tensor, _to_array

_wrap = Tensor._wrap

# NaN and Inf follow IEEE semantics: NumPy's warnings about them, raised inside rillet's
# kernels, are not shown (rl.debugging.enable_check_numerics() finds where they appear).
warnings.filterwarnings(
    "ignore",
    message="(divide by zero|overflow|underflow|invalid value) encountered",
    category=RuntimeWarning,
    module=r"rillet\.",
)

_LOW_PRECISION = _dtypes._LOW_PRECISION  # float16, and bfloat16 once it is loaded
_FLOATING = _dtypes._FLOATING_SET


class _State(threading.local):
    def __init__(self):
        self.tracer = None  # an object with .apply(op, inputs, attrs), installed by graph/


STATE = _State()


class _Flags:
    check_numerics = False  # rl.debugging.enable_check_numerics()
    check_rules = False  # tests: compare every kernel output against its rule


FLAGS = _Flags()


def bind(op, args: list, attrs: dict):
    """Run ``op`` on ``args`` with ``attrs`` in the current context."""
    try:
        inputs = _convert_inputs(op, args)
        tracer = STATE.tracer
        if tracer is not None:
            return tracer.apply(op, inputs, attrs)
        return _apply_eager(op, inputs, attrs)
    except RilletError as error:
        raise attach_context(error, op.name) from None


def _convert_inputs(op, args) -> list:
    if op.promote:
        if _same_dtype_tensors(args):
            return args
        if len(args) == 2 and op.promote is True:
            pair = _tensor_and_scalar(args)
            if pair is not None:
                return pair
        return _promote(op, args)
    return [_as_input(a) for a in args]


def _same_dtype_tensors(args) -> bool:
    """True for the common case of tensors of one dtype, which need no conversion."""
    dtype = None
    for a in args:
        if type(a) is not Tensor:
            return False
        if dtype is None:
            dtype = a._value.dtype
        elif a._value.dtype != dtype:
            return False
    return True


def _as_input(value):
    """A tensor from an op argument (``None`` stays ``None`` for optional inputs)."""
    if type(value) is Tensor or value is None:
        return value
    if hasattr(value, "_rillet_read"):
        return read_variable(value)
    if isinstance(value, Tensor):  # a traced tensor or another subclass
        return value
    return Tensor._wrap(_to_array(value))


def read_variable(variable):
    """The variable's value: a tensor in eager code, a graph node while tracing."""
    tracer = STATE.tracer
    if tracer is not None:
        return tracer.read_variable(variable)
    return variable._read_eager()


def update_variable(variable, value, mode: str):
    """``variable.assign``/``assign_add``/``assign_sub``: in place now, or as a graph node."""
    if STATE.tracer is not None:
        from .ops._registry import REGISTRY

        bind(REGISTRY["assign_variable"], [value], {"variable": variable, "mode": mode})
        STATE.tracer.forget_variable(variable)
        return variable
    try:
        variable._write(variable._incoming(value, mode), mode)
    except RilletError as error:
        raise attach_context(error, None) from None
    return variable


def _tensor_and_scalar(args):
    """Fast path for ``tensor op python_scalar`` (either order), or None."""
    x, y = args
    if type(x) is Tensor and type(y) in (float, int):
        dtype = x._value.dtype
        if dtype in _FLOATING or (type(y) is int and dtype != _dtypes.bool_):
            return x, _scalar(y, dtype)
    elif type(y) is Tensor and type(x) in (float, int):
        dtype = y._value.dtype
        if dtype in _FLOATING or (type(x) is int and dtype != _dtypes.bool_):
            return _scalar(x, dtype), y
    return None


def _scalar(value, dtype) -> Tensor:
    """A Python scalar as a 0-d tensor of ``dtype``, or an error if it does not fit."""
    try:
        return _wrap(np.asarray(value, dtype=dtype))
    except OverflowError:
        raise DTypeError(f"Python int {value} is out of range for dtype {dtype}") from None


def _is_weak(value) -> bool:
    return type(value) in (int, float, bool)


def _promote(op, args: list) -> list:
    """Convert the promoted inputs to their common dtype; Python scalars are weak."""
    positions = range(len(args)) if op.promote is True else op.promote
    converted = [v if _is_weak(v) else _as_input(v) for v in args]
    strong = [
        converted[i].dtype
        for i in positions
        if i < len(args) and converted[i] is not None and not _is_weak(converted[i])
    ]
    target = _dtypes.result_type(*strong) if strong else None
    weak = [type(args[i]) for i in positions if i < len(args) and _is_weak(args[i])]
    target = _weak_target(target, weak)
    for i, value in enumerate(converted):
        if _is_weak(value):
            dtype = target if i in positions else _default_dtype(type(value))
            converted[i] = _scalar(value, dtype)
        elif i in positions and value is not None and value.dtype != target:
            converted[i] = _cast(value, dtype=target)
    return converted


def _weak_target(target, weak_types: list):
    if not weak_types:
        return target
    if target is None:
        defaults = [_default_dtype(t) for t in weak_types]
        return _dtypes.result_type(*defaults)
    if float in weak_types and target not in _FLOATING:
        return _dtypes.default_float
    if int in weak_types and target == _dtypes.bool_:
        return _dtypes.default_int
    return target


def _default_dtype(python_type):
    if python_type is float:
        return _dtypes.default_float
    if python_type is int:
        return _dtypes.default_int
    return _dtypes.bool_


def _cast(x, dtype):
    from .ops._registry import REGISTRY

    return REGISTRY["cast"](x, dtype=dtype)


def _apply_eager(op, inputs, attrs: dict):
    values = [None if t is None else t._value for t in inputs]
    spec = op.rule(*values, **attrs)
    result = compute(op, values, attrs, spec)
    if type(spec) is Spec:
        outputs = _wrap(result)
    else:
        outputs = type(spec)(_wrap(r) for r in result)
    if FLAGS.check_numerics:
        _check_numerics(op, values, outputs)
    if _tape.STATE.tapes:
        _tape.record(op, inputs, attrs, outputs)
    return outputs


def compute(op, values: list, attrs: dict, spec, out=None):
    """Run ``op``'s kernel on arrays; the result matches ``spec`` in shape and dtype."""
    if op.widen_low_precision and _has_low_precision(values, spec):
        return _compute_in_float32(op, values, attrs, spec)
    try:
        result = op.kernel(np, *values, **attrs, out=out)
    except RilletError:
        raise
    except RuntimeWarning:
        # Warnings were made errors (e.g. pytest -W error): NaN/Inf are IEEE results, not
        # errors, so compute again with NumPy's floating-point warnings off.
        with np.errstate(all="ignore"):
            result = op.kernel(np, *values, **attrs, out=out)
    except (ValueError, TypeError, IndexError, np.exceptions.AxisError) as exc:
        shapes = ", ".join(str(None if v is None else v.shape) for v in values)
        raise ShapeError(f"cannot compute on inputs of shapes {shapes}: {exc}") from exc
    if type(spec) is Spec:
        return _conform(result, spec, op)
    return [_conform(r, s, op) for r, s in zip(result, spec)]


def _conform(result, spec, op) -> np.ndarray:
    if type(result) is not np.ndarray:
        result = np.asarray(result)
    if FLAGS.check_rules:
        _check_rule(op, result, spec)
    if result.dtype != spec.dtype:
        result = result.astype(spec.dtype)
    return result


def _check_rule(op, result: np.ndarray, spec) -> None:
    shape_ok = len(result.shape) == len(spec.shape) and all(
        s is None or s == r for s, r in zip(spec.shape, result.shape)
    )
    if not shape_ok or result.dtype != spec.dtype:
        raise AssertionError(
            f"{op.name}: rule says {tuple(spec.shape)} {spec.dtype}, "
            f"kernel made {result.shape} {result.dtype}"
        )


def _has_low_precision(values: list, spec) -> bool:
    for v in values:
        if v is not None and v.dtype in _LOW_PRECISION:
            return True
    if type(spec) is Spec:
        return spec.dtype in _LOW_PRECISION
    return any(s.dtype in _LOW_PRECISION for s in spec)


def _compute_in_float32(op, values, attrs, spec):
    """Low-precision floats are computed in float32 and rounded once at the end."""
    wide = [
        v.astype(np.float32) if v is not None and v.dtype in _LOW_PRECISION else v for v in values
    ]
    specs = spec if isinstance(spec, (tuple, list)) else (spec,)
    wide_specs = [Spec(s.shape, _dtypes.float32) if s.dtype in _LOW_PRECISION else s for s in specs]
    wide_spec = type(spec)(wide_specs) if isinstance(spec, (tuple, list)) else wide_specs[0]
    result = compute(op, wide, attrs, wide_spec)
    with np.errstate(over="ignore"):  # rounding past float16's range gives inf, as IEEE says
        if isinstance(spec, (tuple, list)):
            return [r.astype(s.dtype, copy=False) for r, s in zip(result, spec)]
        return result.astype(spec.dtype, copy=False)


def _check_numerics(op, values: list, outputs) -> None:
    results = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    for out in results:
        array = out._value
        if array.dtype in _FLOATING and not np.isfinite(array).all():
            inputs_finite = all(
                v is None or v.dtype not in _FLOATING or np.isfinite(v).all() for v in values
            )
            if inputs_finite:
                kind = "NaN" if np.isnan(array).any() else "Inf"
                shapes = ", ".join(str(getattr(v, "shape", None)) for v in values)
                raise NumericsError(
                    f"produced {kind} in an output of shape {array.shape} "
                    f"from finite inputs of shapes {shapes}",
                    op=op.name,
                )


def require(condition: bool, message: str, error=ArgumentError) -> None:
    """Raise ``error(message)`` unless ``condition`` holds (for use in rules)."""
    if not condition:
        raise error(message)
