"""Indexing: ``x[key]`` with NumPy semantics, and boolean masks.

``x[key]`` becomes at most two ops. ``getitem`` applies the basic part of the key (ints,
slices, ``None``) as a view; ``advanced_index`` then applies index arrays and boolean masks.
Each one's gradient is a scatter-add op whose gradient is the gather again, so gradients of
any order work: ``getitem`` <-> ``slice_scatter``, ``advanced_index`` <->
``advanced_index_add``. Out-of-range indices raise :class:`IndexingError` (an
``IndexError``) naming the index, the axis and its size. The gathers by index arrays
(``take``, ``gather``, ``take_along_axis`` ...) are in ``gathers.py``.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

from .. import dtypes as _dtypes
from ..errors import (
    ArgumentError,
    ArgumentTypeError,
    DTypeError,
    RilletError,
    ShapeError,
    attach_context,
)
from ..tensor import Tensor, asarray
from . import _rules as rules
from ._registry import Spec, defop
from .creation import zeros_like
from .shapes import reshape

__all__ = ["getitem", "boolean_mask"]


class IndexingError(RilletError, IndexError):
    """An index is out of range, or there are more indices than axes."""


class Slice(NamedTuple):
    """A hashable ``slice`` (Python 3.11 slices are not), as stored in ``getitem`` keys."""

    start: int | None
    stop: int | None
    step: int | None

    def to_slice(self) -> slice:
        return slice(self.start, self.stop, self.step)


_FULL = Slice(None, None, None)


# ----------------------------------------------------------------------------- shared checks


def _check_integer(x, what: str) -> None:
    if not _dtypes.is_integer(x.dtype):
        raise DTypeError(f"{what} has dtype {x.dtype}, expected an integer dtype")


def _check_range(indices, size: int, axis, negative: bool = True, what: str = "index") -> None:
    """Raise IndexingError unless every index lies in [-size, size) (or [0, size))."""
    if indices.size == 0:
        return
    low = -size if negative else 0
    smallest, largest = indices.min(), indices.max()
    if smallest >= low and largest < size:
        return
    bad = int(smallest if smallest < low else largest)
    raise IndexingError(
        f"{what} {bad} is out of range for axis {axis} of size {size}; expected [{low}, {size})"
    )


def _check_broadcastable(shape: tuple, target: tuple, what: str, onto: str) -> None:
    """``shape`` must broadcast to ``target`` (unknown sizes pass)."""
    fits = len(shape) <= len(target) and all(
        s == 1 or s is None or t is None or s == t
        for s, t in zip(reversed(tuple(shape)), reversed(tuple(target)))
    )
    if not fits:
        raise ShapeError(
            f"{what}{rules.fmt(tuple(shape))} cannot be broadcast to {onto} {rules.fmt(target)}"
        )


def _is_count(value) -> bool:
    """A non-negative int (NumPy ints too, bools not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


def _copy_into(x, out):
    """A writable copy of ``x``, in ``out`` when given."""
    if out is None:
        return x.copy()
    out[...] = x
    return out


# ------------------------------------------------------------------ basic indexing (views)


def _as_slice(entry) -> slice:
    return entry.to_slice() if isinstance(entry, Slice) else entry


def _slice_length(entry, size):
    if size is None:
        return None
    try:
        return len(range(*_as_slice(entry).indices(size)))
    except ValueError as exc:  # a zero step
        raise ArgumentError(f"bad slice {_as_slice(entry)}: {exc}") from None


def _check_int_index(index: int, axis: int, size) -> None:
    if size is not None and not -size <= index < size:
        raise IndexingError(f"index {index} is out of range for axis {axis} of size {size}")


def _too_many(ndim: int, count: int) -> IndexingError:
    return IndexingError(f"too many indices: a tensor of rank {ndim} indexed by {count} indices")


def _basic_shape(shape: tuple, key: tuple) -> tuple:
    """The shape of ``x[key]`` for a key of ints, slices and None."""
    result, axis = [], 0
    consumed = sum(entry is not None for entry in key)
    if consumed > len(shape):
        raise _too_many(len(shape), consumed)
    for entry in key:
        if entry is None:
            result.append(1)
            continue
        if isinstance(entry, (Slice, slice)):
            result.append(_slice_length(entry, shape[axis]))
        else:
            _check_int_index(operator.index(entry), axis, shape[axis])
        axis += 1
    return tuple(result) + tuple(shape[axis:])


def _numpy_basic(key: tuple) -> tuple:
    # The trailing Ellipsis makes NumPy return a 0-d array rather than a scalar.
    return tuple(_as_slice(entry) for entry in key) + (Ellipsis,)


def _getitem_rule(x, *, key):
    return Spec(_basic_shape(tuple(x.shape), key), x.dtype)


@defop(rule=_getitem_rule, name="getitem", low_precision="native")
def _getitem(xp, x, *, key, out=None):
    """``x[key]`` for a normalized basic key: a tuple of ints, :class:`Slice` and None."""
    result = x[_numpy_basic(key)]
    if out is None:
        return result
    out[...] = result
    return out


@_getitem.defvjp
def _getitem_vjp(g, y, x, *, key):
    return (slice_scatter(zeros_like(x), g, key=key),)  # pad g into zeros


def _slice_scatter_rule(x, src, *, key):
    region = _basic_shape(tuple(x.shape), key)
    _check_broadcastable(tuple(src.shape), region, "src", "the indexed region")
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_slice_scatter_rule, promote=True, low_precision="native")
def slice_scatter(xp, x, src, *, key, out=None):
    """``x`` with ``x[key]`` replaced by ``src``: a functional ``x[key] = src`` (basic key)."""
    result = _copy_into(x, out)
    result[_numpy_basic(key)] = src
    return result


@slice_scatter.defvjp
def _slice_scatter_vjp(g, y, x, src, *, key):
    return (slice_scatter(g, 0.0, key=key), _getitem(g, key=key))


# ------------------------------------------------------- advanced indexing (arrays, masks)


def _index_spans(x, indices, axes) -> list[range]:
    """The axes of ``x`` each index covers: one for an integer array, ``ndim`` for a mask."""
    if len(indices) != len(axes):
        raise ArgumentError(f"got {len(indices)} index arrays for axes={axes}")
    spans = []
    for i, (index, axis) in enumerate(zip(indices, axes)):
        if index.dtype == _dtypes.bool_:
            spans.append(range(axis, axis + len(index.shape)))
        elif _dtypes.is_integer(index.dtype):
            spans.append(range(axis, axis + 1))
        else:
            raise DTypeError(f"index{i} has dtype {index.dtype}, expected an integer or bool dtype")
    covered = [a for span in spans for a in span]
    if covered != sorted(set(covered)) or (covered and covered[0] < 0):
        raise ArgumentError(f"axes={axes} must be increasing and must not overlap")
    if covered and covered[-1] >= len(x.shape):
        raise _too_many(len(x.shape), len(covered))
    return spans


def _check_mask(x, mask, span: range) -> None:
    sizes = tuple(x.shape[a] for a in span)
    if any(m is not None and s is not None and m != s for m, s in zip(mask.shape, sizes)):
        raise ShapeError(
            f"boolean mask{rules.fmt(tuple(mask.shape))} does not match the sizes "
            f"{rules.fmt(sizes)} of x{rules.fmt(tuple(x.shape))} at axes "
            f"{span.start}..{span.stop - 1}"
        )


def _advanced_shape(x, indices, axes) -> tuple:
    """NumPy's rule: the broadcast index shape replaces the indexed axes in place when they
    are adjacent, else it goes first."""
    spans = _index_spans(x, indices, axes)
    shapes = []
    for index, span in zip(indices, spans):
        if index.dtype == _dtypes.bool_:
            _check_mask(x, index, span)
            shapes.append((None,))  # the number of True entries is known only at run time
        else:
            shapes.append(tuple(index.shape))
    names = [f"index{i}" for i in range(len(shapes))]
    broadcast = rules.broadcast_shapes(*shapes, names=names) if shapes else ()
    covered = [a for span in spans for a in span]
    if not covered:
        return tuple(x.shape)
    rest = tuple(s for a, s in enumerate(x.shape) if a not in covered)
    if covered == list(range(covered[0], covered[-1] + 1)):
        return tuple(x.shape[: covered[0]]) + broadcast + tuple(x.shape[covered[-1] + 1 :])
    return broadcast + rest


def _numpy_advanced(x, indices, axes) -> tuple:
    """The NumPy key placing each index at its axis, after checking integer ranges."""
    key, axis = [], 0
    for index, start in zip(indices, axes):
        key.extend([slice(None)] * (start - axis))
        if index.dtype != _dtypes.bool_:
            _check_range(index, x.shape[start], start)
        key.append(index)
        axis = start + (index.ndim if index.dtype == _dtypes.bool_ else 1)
    return tuple(key)


def _advanced_index_rule(x, *indices, axes):
    return Spec(_advanced_shape(x, indices, axes), x.dtype)


@defop(rule=_advanced_index_rule, variadic=True, low_precision="native")
def advanced_index(xp, x, *indices, axes, out=None):
    """``x`` indexed by integer arrays or boolean masks starting at ``axes`` (NumPy rules).

    Called as ``advanced_index([x, *indices], axes=...)``.
    """
    return x[_numpy_advanced(x, indices, axes)]


@advanced_index.defvjp
def _advanced_index_vjp(g, y, x, *indices, axes):
    scattered = advanced_index_add([zeros_like(x), g, *indices], axes=axes)
    return (scattered,) + (None,) * len(indices)


def _advanced_index_add_rule(x, updates, *indices, axes):
    region = _advanced_shape(x, indices, axes)
    _check_broadcastable(tuple(updates.shape), region, "updates", "the indexed region")
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_advanced_index_add_rule, variadic=True, promote=(0, 1))
def advanced_index_add(xp, x, updates, *indices, axes, out=None):
    """``x`` plus ``updates`` scattered at advanced indices; repeated indices accumulate.

    Called as ``advanced_index_add([x, updates, *indices], axes=...)``.
    """
    result = _copy_into(x, out)
    xp.add.at(result, _numpy_advanced(x, indices, axes), updates)
    return result


@advanced_index_add.defvjp
def _advanced_index_add_vjp(g, y, x, updates, *indices, axes):
    return (g, advanced_index([g, *indices], axes=axes)) + (None,) * len(indices)


# ----------------------------------------------------------------------- x[key] front door


def getitem(x, key):
    """``x[key]`` with NumPy semantics: ints, slices, ``None``, ``...``, integer index
    arrays (lists, arrays, tensors; several broadcast together) and boolean masks.

    >>> import rillet as rl
    >>> x = rl.reshape(rl.arange(6.0), shape=(2, 3))
    >>> x[1, ::-1].tolist()
    [5.0, 4.0, 3.0]
    >>> x[[1, 0, 1], 0].tolist()
    [3.0, 0.0, 3.0]
    """
    x = _as_tensor(x)
    if type(key) is int and x.ndim:  # the common x[i] (iteration, too): straight to the op
        return _getitem(x, key=(key,))
    try:
        entries = _expand_ellipsis([_convert(e) for e in _as_tuple(key)], x.ndim)
    except RilletError as error:
        raise attach_context(error, "getitem") from None
    if any(isinstance(e, Tensor) for e in entries):
        return _apply_advanced(x, entries)
    return _apply_basic(x, entries)


def _as_tensor(x):
    if isinstance(x, Tensor):
        return x
    if hasattr(x, "_rillet_read"):  # a Variable: reading it lets tapes watch it
        return x._rillet_read()
    return asarray(x)


def _as_tuple(key) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _convert(entry):
    """One key entry as an int, a Slice, None, Ellipsis or an integer/bool tensor."""
    if entry is None or entry is Ellipsis:
        return entry
    if isinstance(entry, slice):
        return Slice(*(_slice_bound(v) for v in (entry.start, entry.stop, entry.step)))
    if isinstance(entry, (bool, np.bool_)):
        return asarray(bool(entry))  # a 0-d mask, as in NumPy
    if isinstance(entry, (int, np.integer)):
        return operator.index(entry)
    if hasattr(entry, "_rillet_read"):
        entry = entry._rillet_read()
    if not isinstance(entry, (Tensor, list, tuple, range, np.ndarray)):
        raise ArgumentTypeError(
            f"index {entry!r} of type {type(entry).__name__} is not an int, slice, None, "
            "Ellipsis, integer index array or boolean mask"
        )
    return _index_tensor(entry)


def _slice_bound(value):
    if value is None:
        return None
    try:
        return operator.index(value)
    except TypeError:
        raise ArgumentTypeError(f"slice bounds must be ints or None, got {value!r}") from None


def _index_tensor(entry) -> Tensor:
    tensor = asarray(entry)
    if tensor.size == 0 and _dtypes.is_floating(tensor.dtype):
        tensor = asarray(tensor, dtype=_dtypes.int64)  # [] indexes nothing, as in NumPy
    if not (_dtypes.is_integer(tensor.dtype) or tensor.dtype == _dtypes.bool_):
        raise DTypeError(
            f"index arrays must have an integer or bool dtype, got {tensor.dtype} "
            f"of shape {tuple(tensor.shape)}"
        )
    return tensor


def _consumed(entry) -> int:
    """How many axes of ``x`` a key entry uses up."""
    if entry is None or entry is Ellipsis:
        return 0
    if isinstance(entry, Tensor) and entry.dtype == _dtypes.bool_:
        return entry.ndim
    return 1


def _expand_ellipsis(entries: list, ndim: int) -> list:
    ellipses = [i for i, e in enumerate(entries) if e is Ellipsis]
    if len(ellipses) > 1:
        raise IndexingError(f"an index can have only one Ellipsis (...), got {len(ellipses)}")
    consumed = sum(_consumed(e) for e in entries)
    if consumed > ndim:
        raise _too_many(ndim, consumed)
    fill = [_FULL] * (ndim - consumed)
    if not ellipses:
        return entries + fill
    at = ellipses[0]
    return entries[:at] + fill + entries[at + 1 :]


def _apply_basic(x, entries: list):
    while entries and isinstance(entries[-1], Slice) and entries[-1] == _FULL:
        entries = entries[:-1]  # trailing full slices change nothing
    if not entries:
        return x
    return _getitem(x, key=tuple(entries))


def _apply_advanced(x, entries: list):
    """Basic part first (index arrays replaced by full slices), then the index arrays at the
    axes they land on; ints become 0-d index arrays, as NumPy treats them beside arrays."""
    basic, indices, axes = [], [], []
    for entry in entries:
        if entry is None or isinstance(entry, Slice):
            basic.append(entry)
            continue
        index = entry if isinstance(entry, Tensor) else asarray(entry)
        if index.dtype == _dtypes.bool_ and index.ndim == 0:
            basic.append(None)  # x[True] is x[None][[True]]: a new axis, then a mask on it
            axes.append(len(basic) - 1)
            index = reshape(index, shape=(1,))
        else:
            axes.append(len(basic))  # each basic entry makes one axis of the intermediate
            basic.extend([_FULL] * _consumed(index))
        indices.append(index)
    return advanced_index([_apply_basic(x, basic), *indices], axes=tuple(axes))


def boolean_mask(tensor, mask, axis: int = 0):
    """The entries of ``tensor`` where ``mask`` is True; ``mask`` covers the axes from
    ``axis`` on (TensorFlow's ``tf.boolean_mask``).

    >>> import rillet as rl
    >>> rl.boolean_mask(rl.asarray([1.0, 2.0, 3.0]), [True, False, True]).tolist()
    [1.0, 3.0]
    """
    tensor, mask = _as_tensor(tensor), _as_tensor(mask)
    try:
        if mask.dtype != _dtypes.bool_:
            raise DTypeError(f"mask has dtype {mask.dtype}, expected bool")
        axis = rules.normalize_axis(axis, max(tensor.ndim, 1))
    except RilletError as error:
        raise attach_context(error, "boolean_mask") from None
    return advanced_index([tensor, mask], axes=(axis,))
