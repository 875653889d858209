"""Data types and type promotion.

rillet's dtypes are NumPy dtype objects, so ``rl.float32 == np.float32`` and arrays move
between the two without conversion. ``bfloat16`` comes from ml_dtypes.

Promotion follows the Python array-API standard:

* within a kind the wider type wins (``int8 + int32 -> int32``, ``float16 + float32 -> float32``);
* ``uint8`` with a signed integer gives the smallest signed type holding both
  (``uint8 + int8 -> int16``, ``uint8 + int32 -> int32``);
* ``bool`` with any numeric type gives that type.

The standard leaves some mixes open; rillet settles them as JAX does:

* integer with floating gives the floating type (``int64 + float16 -> float16``);
* ``bfloat16 + float16 -> float32``.

``bfloat16`` and ml_dtypes (a C++ extension, 2.5 MiB resident) are loaded on first need:
reading ``rl.bfloat16`` or ``rl.dtypes.bfloat16``, naming ``"bfloat16"``, or meeting a bfloat16
array (which only exists once ml_dtypes is imported). Until then the groups below hold the
NumPy dtypes only; they are lists, so that every module holding one sees bfloat16 join it.

Python scalars are *weak*: they take the dtype of the tensor they meet
(``x_float16 * 2.0`` stays float16). A Python float meeting an integer or bool tensor, or
standing alone, becomes ``float32``; a Python int standing alone becomes ``int64``.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

bool_ = np.dtype(np.bool_)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)

DType = np.dtype
ALL = [bool_, int8, int16, int32, int64, uint8, float16, float32, float64]
INTEGER = (int8, int16, int32, int64, uint8)
FLOATING = [float16, float32, float64]
NUMERIC = [*INTEGER, *FLOATING]
default_float = float32
default_int = int64

_BY_NAME = {d.name: d for d in ALL}
_BY_NAME["bool"] = bool_
_BITS = {d: d.itemsize * 8 for d in ALL}
_BFLOAT16 = "bfloat16"
_REGISTERING = threading.Lock()


def as_dtype(value) -> np.dtype:
    """The rillet dtype named by ``value`` (a dtype, a type such as ``np.float32``, or a name)."""
    if isinstance(value, np.dtype) and value in _BITS:
        return value
    if value is float:
        return default_float
    if value is int:
        return default_int
    if value is bool:
        return bool_
    if isinstance(value, str) and value == _BFLOAT16:
        return _bfloat16()
    try:
        dtype = _BY_NAME[value] if isinstance(value, str) else np.dtype(value)
    except (TypeError, KeyError):
        dtype = None
    if dtype is None or not known(dtype):
        from .errors import DTypeError

        names = ", ".join(_BY_NAME)
        raise DTypeError(f"unsupported dtype {value!r}; expected one of {names}")
    return dtype


def is_floating(dtype: np.dtype) -> bool:
    return dtype in _FLOATING_SET


def is_integer(dtype: np.dtype) -> bool:
    return dtype in _INTEGER_SET


def is_bool(dtype: np.dtype) -> bool:
    return dtype == bool_


_FLOATING_SET = set(FLOATING)
_INTEGER_SET = frozenset(INTEGER)
_LOW_PRECISION = {float16}  # computed in float32 by ops that are not "native"


def _promote_pair(a: np.dtype, b: np.dtype) -> np.dtype:
    if a == b:
        return a
    if a == bool_ or b == bool_:
        return b if a == bool_ else a
    a_float, b_float = a in _FLOATING_SET, b in _FLOATING_SET
    if a_float != b_float:
        return a if a_float else b
    if a_float:
        if {a.name, b.name} == {"float16", _BFLOAT16}:
            return float32
        return a if a.itemsize > b.itemsize else b
    if uint8 in (a, b):
        other = b if a == uint8 else a
        return other if other.itemsize > 1 else int16
    return a if a.itemsize > b.itemsize else b


_TABLE = {(a, b): _promote_pair(a, b) for a in ALL for b in ALL}


def result_type(*dtypes: np.dtype) -> np.dtype:
    """The dtype that the given dtypes promote to (see the module docstring)."""
    result = dtypes[0]
    for dtype in dtypes[1:]:
        result = _TABLE[result, dtype]
    return result


def finfo(dtype):
    """Machine limits of a floating dtype (bfloat16 included): an ``ml_dtypes.finfo``."""
    import ml_dtypes

    return ml_dtypes.finfo(as_dtype(dtype))


def known(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is one of rillet's, registering bfloat16 when ``dtype`` is it (an
    array of it can only exist once ml_dtypes is imported, by rillet or by the program)."""
    if dtype in _BITS:
        return True
    ml_dtypes = sys.modules.get("ml_dtypes")
    if ml_dtypes is not None and dtype == ml_dtypes.bfloat16:
        _bfloat16()
        return True
    return False


def _bfloat16() -> np.dtype:
    """ml_dtypes' bfloat16, added to the groups and tables above on first use."""
    found = _BY_NAME.get(_BFLOAT16)
    if found is not None:
        return found
    import ml_dtypes

    with _REGISTERING:
        if _BFLOAT16 not in _BY_NAME:
            dtype = np.dtype(ml_dtypes.bfloat16)
            _FLOATING_SET.add(dtype)
            every = [*ALL, dtype]
            _TABLE.update({(a, b): _promote_pair(a, b) for a in every for b in every})
            for group in (ALL, FLOATING, NUMERIC):  # after float16, in the listed order
                group.insert(group.index(float16) + 1, dtype)
            _LOW_PRECISION.add(dtype)
            _BITS[dtype] = 16  # from here on, known(dtype)
            _BY_NAME[_BFLOAT16] = dtype
    return _BY_NAME[_BFLOAT16]


def __getattr__(name: str):
    if name == _BFLOAT16:
        return _bfloat16()
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), _BFLOAT16})


def iinfo(dtype) -> np.iinfo:
    """Machine limits of an integer dtype."""
    return np.iinfo(as_dtype(dtype))
