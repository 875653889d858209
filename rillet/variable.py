"""``rl.Variable``: mutable state, read by ops as a tensor and updated in place when safe."""

from __future__ import annotations

import sys

import numpy as np

from . import _context
from . import dtypes as _dtypes
from .autodiff import tape as _tape
from .device import CPU
from .errors import ArgumentError, DTypeError, ShapeError
from .tensor import Tensor, _to_array


class Variable:
    """A mutable tensor-valued state, such as a weight.

    >>> import rillet as rl
    >>> v = rl.Variable([1.0, 2.0], name="w")
    >>> _ = v.assign_add([0.5, 0.5])
    >>> v.numpy().tolist()
    [1.5, 2.5]

    Ops read a variable as a tensor. Trainable variables read inside a ``GradientTape``
    are watched automatically. Updates write into the variable's buffer in place unless a
    tensor read from it earlier is still alive (then the buffer is replaced, so that
    tensor keeps its value).
    """

    __array_priority__ = 100

    def __init__(self, initial_value, trainable: bool = True, name: str | None = None, dtype=None):
        if callable(initial_value):
            initial_value = initial_value()
        self._array = _initial_array(initial_value, dtype)
        self._cache: Tensor | None = None
        self.trainable = bool(trainable)
        self.name = name or "Variable"
        self.path = self.name  # where the variable sits in its model (layers set "dense/kernel")

    def _rillet_read(self) -> Tensor:
        """The value as an op input: a tensor now, or a graph node while tracing."""
        return _context.read_variable(self)

    def _read_eager(self) -> Tensor:
        tensor = self._cache
        if tensor is None:
            tensor = self._cache = Tensor._wrap(self._array)
        if _tape.STATE.tapes:
            _tape.variable_read(self, tensor)
        return tensor

    def _rillet_cached(self) -> Tensor | None:
        return self._cache

    def value(self) -> Tensor:
        """The current value as a tensor."""
        return _context.read_variable(self)

    read_value = value

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def shape(self) -> tuple:
        return self._array.shape

    @property
    def ndim(self) -> int:
        return self._array.ndim

    @property
    def device(self):
        return CPU

    def numpy(self) -> np.ndarray:
        """A copy of the current value."""
        return self._array.copy()

    def __array__(self, dtype=None, copy=None):
        return self._array.astype(dtype) if dtype is not None else self._array.copy()

    def assign(self, value, read_value: bool = True):
        """Set the variable to ``value`` (same shape; cast to the variable's dtype)."""
        return _context.update_variable(self, value, "assign")

    def assign_add(self, delta, read_value: bool = True):
        """Add ``delta`` to the variable."""
        return _context.update_variable(self, delta, "add")

    def assign_sub(self, delta, read_value: bool = True):
        """Subtract ``delta`` from the variable."""
        return _context.update_variable(self, delta, "sub")

    def _incoming(self, value, mode: str) -> np.ndarray:
        """``value`` as an array of this variable's shape and dtype, or a clear error."""
        op = _UPDATE_NAMES[mode]
        array = _to_array(value)
        if array.shape != self.shape:
            raise ShapeError(
                f"variable '{self.name}' has shape {self.shape}, "
                f"got a value of shape {array.shape}",
                op=op,
            )
        if array.dtype != self.dtype:
            if _dtypes.is_floating(array.dtype) and not _dtypes.is_floating(self.dtype):
                raise DTypeError(
                    f"variable '{self.name}' has dtype {self.dtype}, "
                    f"got a value of dtype {array.dtype}",
                    op=op,
                )
            array = array.astype(self.dtype)
        return array

    def _write(self, array: np.ndarray, mode: str) -> None:
        """Update the buffer in place when nobody else holds it, else replace it."""
        ufunc = _UPDATE_UFUNCS[mode]
        if self._exclusive():
            if ufunc is None:
                np.copyto(self._array, array, casting="unsafe")
            else:
                ufunc(self._array, array, out=self._array, casting="unsafe")
        elif ufunc is None:
            self._replace(np.array(array, dtype=self.dtype, copy=True))
        else:
            self._replace(np.asarray(ufunc(self._array, array), dtype=self.dtype))

    def _own_buffer(self) -> np.ndarray:
        """The buffer, made safe for a kernel to update in place: copied first when a tensor
        elsewhere still holds it (a read that must keep the old value) or when it is not
        C-contiguous (a compiled loop or threads walk it flat)."""
        if not (self._exclusive() and self._array.flags.c_contiguous):
            self._replace(np.array(self._array, order="C", copy=True))
        return self._array

    def _exclusive(self) -> bool:
        """True when no tensor outside this variable refers to its buffer."""
        buffer_refs, cache_refs = self._refcounts()
        return buffer_refs <= _EXCLUSIVE_REFCOUNTS[0] and cache_refs <= _EXCLUSIVE_REFCOUNTS[1]

    def _refcounts(self) -> tuple[int, int]:
        # References to the buffer (less the cached tensor's own) and to the cached tensor.
        if self._cache is None:
            return sys.getrefcount(self._array), 0
        return sys.getrefcount(self._array) - 1, sys.getrefcount(self._cache)

    def _replace(self, array: np.ndarray) -> None:
        self._array = array
        self._cache = None

    def __repr__(self) -> str:
        text = np.array2string(self._array, separator=", ")
        return (
            f"<rl.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}, numpy={text}>"
        )

    def __bool__(self) -> bool:
        return bool(self._rillet_read())

    def __float__(self) -> float:
        return float(self._array)

    def __int__(self) -> int:
        return int(self._array)

    def __len__(self) -> int:
        return len(self._rillet_read())

    __hash__ = object.__hash__

    def __deepcopy__(self, memo):
        raise ArgumentError("variables cannot be deep-copied; create a new rl.Variable")


_UPDATE_NAMES = {"assign": "assign", "add": "assign_add", "sub": "assign_sub"}
_UPDATE_UFUNCS = {"assign": None, "add": np.add, "sub": np.subtract}


def _calibrate() -> tuple[int, int]:
    """The reference counts of a variable nobody else refers to, on this interpreter."""
    read = Variable(np.zeros(1, np.float32))
    read._read_eager()
    unread = Variable(np.zeros(1, np.float32))
    return max(read._refcounts()[0], unread._refcounts()[0]), read._refcounts()[1]


def _initial_array(value, dtype) -> np.ndarray:
    """A new variable's buffer. A tensor's own array is shared, not copied (an initializer's
    draw, say): an update copies it while the tensor is alive elsewhere, as after any read.
    An array viewing memory that something else holds (a slice of another tensor) is copied,
    so that no update can write through it."""
    if type(value) is Tensor:
        array = value._value
        if dtype is None or _dtypes.as_dtype(dtype) == array.dtype:
            return array if _sole_owner(array) else np.array(array, copy=True)
    return _to_array(value, dtype, copy=True)


def _sole_owner(array: np.ndarray) -> bool:
    """Whether only ``array`` reaches its memory, and may write it: its own memory, or a base
    array only it holds (a fresh array reshaped; three references to that base: the view's,
    ``base``'s and getrefcount's argument)."""
    if not array.flags.writeable:
        return False
    base = array.base
    if base is None:
        return True
    return type(base) is np.ndarray and base.base is None and sys.getrefcount(base) <= 3


_EXCLUSIVE_REFCOUNTS = _calibrate()
