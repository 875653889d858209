"""The eager tensor: an immutable array value with a dtype, a shape and a device."""

from __future__ import annotations

import numpy as np

from . import dtypes as _dtypes
from .device import CPU, get_device
from .errors import ArgumentTypeError, DTypeError, RilletError


class Tensor:
    """An immutable n-dimensional array.

    >>> import rillet as rl
    >>> t = rl.asarray([[1.0, 2.0], [3.0, 4.0]])
    >>> t.shape, t.dtype
    ((2, 2), dtype('float32'))
    >>> (t * 2 + 1).numpy().tolist()
    [[3.0, 5.0], [7.0, 9.0]]
    """

    __slots__ = ("_value", "__weakref__")
    __array_priority__ = 100  # NumPy defers to our operators: np_array + tensor -> Tensor

    def __init__(self, value, dtype=None):
        self._value = _to_array(value, dtype, copy=True)

    @staticmethod
    def _wrap(array: np.ndarray) -> Tensor:
        """Wrap an array this library owns, without copying or checking."""
        tensor = object.__new__(Tensor)
        tensor._value = array
        return tensor

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        return self._value.size

    @property
    def device(self):
        return CPU

    def numpy(self) -> np.ndarray:
        """The value as a read-only NumPy array (no copy; use ``.copy()`` to write)."""
        view = self._value.view()
        view.flags.writeable = False
        return view

    def item(self):
        return self._value.item()

    def tolist(self):
        return self._value.tolist()

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self._value.dtype:
            return self._value.astype(dtype)
        return self._value.copy() if copy else self.numpy()

    def __len__(self) -> int:
        if self._value.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._value.shape[0]

    def __iter__(self):
        if self._value.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self._value.shape[0]):
            yield self[i]

    def __bool__(self) -> bool:
        if self._value.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use rl.any() or rl.all()"
            )
        return bool(self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __index__(self) -> int:
        if not _dtypes.is_integer(self.dtype) or self.ndim != 0:
            raise TypeError(f"only 0-d integer tensors can be used as an index, got {self.dtype}")
        return int(self._value)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        text = np.array2string(self._value, separator=", ", prefix="Tensor(")
        return f"Tensor({text}, shape={self.shape}, dtype={self.dtype.name})"

    def __str__(self) -> str:
        return np.array2string(self._value)

    def __copy__(self) -> Tensor:
        return self

    def __deepcopy__(self, memo) -> Tensor:
        return self


def _to_array(value, dtype=None, copy: bool = False) -> np.ndarray:
    """Convert a Python or NumPy value to an array, applying rillet's default dtypes."""
    if isinstance(value, Tensor):
        array = value._value
        return array if dtype is None else array.astype(_dtypes.as_dtype(dtype))
    if hasattr(value, "_rillet_read"):  # a Variable
        return _to_array(value._rillet_read(), dtype)  # raises while tracing: no value yet
    target = None if dtype is None else _dtypes.as_dtype(dtype)
    if isinstance(value, np.ndarray):
        array = value.astype(target or value.dtype, copy=copy)
    else:
        array = _python_to_array(value, target)
    if not _dtypes.known(array.dtype):
        raise DTypeError(f"cannot make a tensor of dtype {array.dtype} from {type(value).__name__}")
    return array


def _python_to_array(value, target) -> np.ndarray:
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in _flat(value)):
        value = _nested_arrays(value)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ArgumentTypeError(
            f"cannot convert {type(value).__name__} to a tensor: {exc}"
        ) from None
    if target is not None:
        return array.astype(target)
    if isinstance(value, np.generic) and _dtypes.known(array.dtype):
        return array
    if array.dtype == np.float64 and not isinstance(value, np.generic):
        return array.astype(_dtypes.default_float)
    if array.dtype.kind in "iu" and not isinstance(value, np.generic):
        return array.astype(_dtypes.default_int)
    if array.dtype.kind in "OUSV":
        raise ArgumentTypeError(f"cannot convert {type(value).__name__} of {value!r} to a tensor")
    return array


def _flat(value):
    for v in value:
        if isinstance(v, (list, tuple)):
            yield from _flat(v)
        else:
            yield v


def _nested_arrays(value):
    if isinstance(value, (list, tuple)):
        return [_nested_arrays(v) for v in value]
    return value._value if isinstance(value, Tensor) else value


def asarray(value, dtype=None, device=None, copy=None) -> Tensor:
    """Make a tensor from a Python value, a NumPy array or another tensor.

    Python floats become float32 and Python ints int64 unless ``dtype`` is given.

    >>> import rillet as rl
    >>> rl.asarray([1, 2, 3]).dtype
    dtype('int64')
    >>> rl.asarray(1.5).dtype
    dtype('float32')
    """
    get_device(device)
    if isinstance(value, Tensor) and dtype is None and not copy:
        return value
    if hasattr(value, "_rillet_read") and dtype is None and not copy:
        return value._rillet_read()  # a variable's value (a graph read while tracing)
    try:
        return Tensor._wrap(_to_array(value, dtype, copy=copy is not False))
    except RilletError as error:
        error.op = error.op or "asarray"
        raise


def is_tensor(value) -> bool:
    return isinstance(value, Tensor)
