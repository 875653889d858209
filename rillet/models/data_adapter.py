"""Turning what ``fit``/``evaluate``/``predict`` receive into batches of tensors.

Arrays (NumPy arrays, tensors, lists or dicts of them) are sliced into batches, shuffled
each epoch when asked (with NumPy's global generator, so ``rl.utils.set_random_seed``
replays it); any other iterable (an ``rl.data.Dataset``, a generator, a list of batches) is
taken to yield ready batches ``x``, ``(x, y)`` or ``(x, y, sample_weight)``. Floating
NumPy data becomes float32 (Keras's floatx); integer data keeps its dtype.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..tensor import Tensor, asarray
from .symbolic import flatten, map_structure


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sw)``.

    >>> from rillet.utils import unpack_x_y_sample_weight
    >>> unpack_x_y_sample_weight((1, 2))
    (1, 2, None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) == 1:
        return (data[0], None, None)
    if len(data) == 2:
        return (data[0], data[1], None)
    if len(data) == 3:
        return data
    raise ArgumentError(
        "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
        f"found a tuple of {len(data)} elements"
    )


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch ``unpack_x_y_sample_weight`` takes apart (Keras's packing)."""
    if y is None:
        return x if not isinstance(x, (tuple, list)) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def _is_array(value) -> bool:
    return isinstance(value, (np.ndarray, Tensor)) or hasattr(value, "_rillet_read")


def to_numpy(value):
    """An array leaf as a NumPy array (tensors are read)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value
    return np.asarray(value)


def _floatx(array: np.ndarray) -> np.ndarray:
    """Floating data in Keras's default float type (float32); half precision is kept."""
    if array.dtype.kind == "f" and array.dtype not in (np.float32, np.float16):
        return array.astype(np.float32)
    return array


def to_tensor(value):
    """A batch leaf as a tensor: float64 NumPy data becomes float32."""
    if value is None or isinstance(value, Tensor):
        return value
    return asarray(_floatx(np.asarray(value)))


def batch_to_tensors(batch):
    return map_structure(to_tensor, batch)


def _num_samples(arrays) -> int:
    sizes = {len(a) for a in flatten(arrays) if a is not None}
    if not sizes:
        raise ArgumentError("fit: received no data")
    if len(sizes) > 1:
        shapes = [tuple(np.shape(a)) for a in flatten(arrays) if a is not None]
        raise ShapeError(
            f"Data cardinality is ambiguous: the arrays have different numbers of samples "
            f"{sorted(sizes)} (shapes {shapes}); make sure all arrays contain the same number "
            "of samples"
        )
    return sizes.pop()


def class_weight_to_sample_weight(y, class_weight: dict) -> np.ndarray:
    """Per-sample weights from a ``{class: weight}`` dict and the targets ``y`` (class
    indices, or one-hot rows whose argmax is the class)."""
    if isinstance(y, (list, tuple, dict)):
        raise ArgumentError("fit: class_weight is only supported for models with one output")
    y = to_numpy(y)
    classes = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)
    classes = classes.reshape(len(y), -1)[:, 0] if classes.ndim > 1 else classes
    classes = classes.astype(np.int64)
    missing = sorted(set(np.unique(classes).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ArgumentError(
            f"fit: class_weight has no entry for the classes {missing} found in y; received "
            f"class_weight={class_weight!r}"
        )
    table = {int(k): float(v) for k, v in class_weight.items()}
    return np.asarray([table[int(c)] for c in classes], dtype=np.float32)


class ArrayBatches:
    """Batches sliced from arrays, reshuffled at each epoch when ``shuffle``."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, steps=None):
        self.data = map_structure(lambda a: None if a is None else _floatx(to_numpy(a)),
                                  (x, y, sample_weight))  # fmt: skip
        self.num_samples = _num_samples(self.data)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        batches = math.ceil(self.num_samples / self.batch_size)
        self.num_batches = batches if steps is None else int(steps)

    def epoch(self):
        order = np.random.permutation(self.num_samples) if self.shuffle else None
        for step in range(self.num_batches):
            start = (step * self.batch_size) % self.num_samples
            # In order, a batch is a slice: a view of the arrays, not a copy.
            index = slice(start, start + self.batch_size) if order is None else (
                order[start : start + self.batch_size]
            )  # fmt: skip
            x, y, sw = map_structure(lambda a, i=index: None if a is None else a[i], self.data)
            yield batch_to_tensors(pack_x_y_sample_weight(x, y, sw))


class IterableBatches:
    """Batches drawn from an iterable. With ``steps``, one iterator runs across epochs (it
    is restarted when it runs out); otherwise each epoch iterates the data afresh."""

    def __init__(self, data, steps=None):
        if not hasattr(data, "__iter__"):
            raise ArgumentTypeError(
                f"expected arrays or an iterable of batches, received {type(data).__name__}"
            )
        self.source = data
        self.num_batches = None if steps is None else int(steps)
        if self.num_batches is None and hasattr(data, "__len__"):
            try:
                self.num_batches = len(data)
            except TypeError:
                self.num_batches = None
        self._steps = steps
        self._iterator = None

    def epoch(self):
        if self._steps is None:
            for batch in self.source:
                yield batch_to_tensors(batch)
            return
        for _ in range(int(self._steps)):
            batch = self._next()
            if batch is None:
                return
            yield batch_to_tensors(batch)

    def _next(self):
        if self._iterator is None:
            self._iterator = iter(self.source)
        try:
            return next(self._iterator)
        except StopIteration:
            self._iterator = iter(self.source)
            if self._iterator is self.source:  # a generator: it cannot restart
                return None
            return next(self._iterator, None)


def make_batches(
    x,
    y=None,
    sample_weight=None,
    batch_size=None,
    shuffle=False,
    steps=None,
    class_weight=None,
    who="fit",
):
    """``ArrayBatches`` for array data, ``IterableBatches`` for anything iterable."""
    if x is None:
        raise ArgumentError(f"{who}: received x=None; pass the input data")
    if _is_arrays(x):
        if sample_weight is None and class_weight is not None:
            sample_weight = class_weight_to_sample_weight(y, class_weight)
        return ArrayBatches(x, y, sample_weight, batch_size or 32, shuffle, steps)
    if y is not None or sample_weight is not None:
        raise ArgumentError(
            f"{who}: when x is an iterable of batches ({type(x).__name__}), y and "
            "sample_weight must come from it: received y or sample_weight as well"
        )
    if class_weight is not None:
        raise ArgumentError(f"{who}: class_weight is only supported for array data")
    return IterableBatches(x, steps)


def _is_arrays(x) -> bool:
    if _is_array(x):
        return True
    if isinstance(x, dict):
        return all(_is_array(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and all(_is_array(v) for v in x)
    return False


def split_for_validation(x, y, sample_weight, validation_split: float):
    """The training and validation parts of the arrays: the last ``validation_split`` of
    the samples, before any shuffling (as Keras does)."""
    if not 0.0 <= validation_split < 1.0:
        raise ArgumentError(
            f"fit: received validation_split={validation_split!r}, expected a float in [0, 1)"
        )
    if not _is_arrays(x):
        raise ArgumentError(
            "fit: validation_split is only supported for arrays (NumPy arrays or tensors), "
            f"received x of type {type(x).__name__}; pass validation_data instead"
        )
    data = map_structure(to_numpy, (x, y, sample_weight))
    total = _num_samples(data)
    cut = int(total * (1.0 - validation_split))
    if cut == 0 or cut == total:
        raise ArgumentError(
            f"fit: validation_split={validation_split} of {total} samples leaves no "
            "training or no validation sample"
        )
    train = map_structure(lambda a: None if a is None else a[:cut], data)
    val = map_structure(lambda a: None if a is None else a[cut:], data)
    return train, val
