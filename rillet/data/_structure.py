"""Nested structures (tuples, named tuples, dicts) of array leaves, as elements flow through a
dataset. Inside the pipeline leaves are NumPy arrays; users see rillet tensors. As in
``tf.data``, a list is one leaf (``[1, 2]`` is a vector), not a structure."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentTypeError
from ..graph.function import TensorSpec
from ..tensor import Tensor


def map_structure(fn, *structures):
    """``fn`` applied to the matching leaves of ``structures`` (which share one nesting)."""
    first = structures[0]
    if isinstance(first, dict):
        return {k: map_structure(fn, *(s[k] for s in structures)) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(map_structure(fn, *parts) for parts in zip(*structures)))
    if isinstance(first, tuple):
        return tuple(map_structure(fn, *parts) for parts in zip(*structures))
    return fn(*structures)


def flatten(structure) -> list:
    """The leaves of ``structure`` in a fixed order (dict keys as given)."""
    leaves: list = []
    map_structure(leaves.append, structure)
    return leaves


def pack_as(structure, leaves):
    """``structure`` with its leaves replaced, in order, by ``leaves``."""
    it = iter(leaves)
    return map_structure(lambda _: next(it), structure)


def same_nesting(a, b) -> bool:
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and list(a) == list(b)
            and all(same_nesting(a[k], b[k]) for k in a)
        )
    if isinstance(a, tuple) or isinstance(b, tuple):
        both = isinstance(a, tuple) and isinstance(b, tuple)
        return both and len(a) == len(b) and all(map(same_nesting, a, b))
    return True


def to_array(value, dtype=None) -> np.ndarray:
    """One leaf as a NumPy array: tensors unwrap, Python values follow NumPy (floats become
    float32 as in TensorFlow)."""
    if isinstance(value, Tensor):
        array = value._value
    elif hasattr(value, "_rillet_read"):
        array = value._rillet_read()._value
    else:
        try:
            array = np.asarray(value)
        except ValueError as exc:
            raise ArgumentTypeError(f"cannot make an array of {value!r}: {exc}") from None
        if array.dtype == np.float64 and not isinstance(value, np.ndarray | np.generic):
            array = array.astype(np.float32)
    if array.dtype == object:
        raise ArgumentTypeError(
            f"cannot make a tensor of {type(value).__name__} {value!r}: ragged or object data"
        )
    return array if dtype is None else array.astype(dtype, copy=False)


def to_arrays(structure):
    return map_structure(to_array, structure)


def to_tensor(array):
    """Numbers become rillet tensors; strings stay NumPy arrays (tensors hold numbers only)."""
    return array if array.dtype.kind in "USO" else Tensor._wrap(array)


def to_tensors(structure):
    return map_structure(to_tensor, structure)


def spec_of(array, batch_dim: bool = False) -> TensorSpec:
    shape = ((None,) + array.shape[1:]) if batch_dim else array.shape
    try:
        return TensorSpec(shape, array.dtype)
    except Exception:  # strings: TensorSpec only takes numeric dtypes, so set it directly
        spec = TensorSpec(shape)
        spec.dtype = array.dtype
        return spec


def describe(structure):
    """A JSON-able description of the nesting (leaves are ``None``)."""
    if isinstance(structure, dict):
        return {"dict": [[k, describe(v)] for k, v in structure.items()]}
    if isinstance(structure, tuple):
        return {"tuple": [describe(v) for v in structure]}
    return None


def rebuild(description, leaves):
    """The structure ``describe`` described, filled with ``leaves`` in order."""
    it = iter(leaves)

    def build(d):
        if d is None:
            return next(it)
        if "dict" in d:
            return {k: build(v) for k, v in d["dict"]}
        return tuple(build(v) for v in d["tuple"])

    return build(description)
