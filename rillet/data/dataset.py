"""``rl.data.Dataset``: an input pipeline in the ``tf.data`` mould, iterated eagerly in Python.

Each dataset is a recipe: iterating it starts a fresh pass (so ``model.fit`` can run many
epochs over one dataset), and elements come out as rillet tensors, or nested tuples/dicts of
them (string data stays NumPy, since tensors hold numbers).
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from . import _iterators as it
from . import _structure as st

AUTOTUNE = it.AUTOTUNE
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2
_INF, _UNKNOWN = INFINITE_CARDINALITY, UNKNOWN_CARDINALITY


class Dataset:
    """A re-iterable sequence of elements with transformations that return new datasets.

    >>> import rillet as rl
    >>> ds = rl.data.Dataset.range(10).filter(lambda x: x % 2 == 0).map(lambda x: x * 10)
    >>> [int(x) for x in ds.batch(2, drop_remainder=True).unbatch()]
    [0, 20, 40, 60]
    """

    def __init__(self, make_iterator, cardinality: int = _UNKNOWN, spec=None):
        self._make_iterator = make_iterator  # () -> iterator of elements of NumPy arrays
        self._cardinality = int(cardinality)
        self._spec = spec

    # -- iteration and metadata ---------------------------------------------------------------

    def __iter__(self):
        return (st.to_tensors(e) for e in self._make_iterator())

    def as_numpy_iterator(self):
        """The elements as NumPy arrays (nested like the elements)."""
        return iter(self._make_iterator())

    def cardinality(self) -> int:
        """The number of elements, or ``INFINITE_CARDINALITY``/``UNKNOWN_CARDINALITY``."""
        return self._cardinality

    def __len__(self) -> int:
        if self._cardinality == _INF:
            raise TypeError("The dataset is infinite.")
        if self._cardinality == _UNKNOWN:
            raise TypeError("The dataset length is unknown.")
        return self._cardinality

    @property
    def element_spec(self):
        """The structure of ``rl.TensorSpec`` of one element."""
        if self._spec is None:
            first = next(iter(self._make_iterator()), None)
            if first is None:
                raise ArgumentError("element_spec: the dataset is empty, so it has no spec")
            self._spec = st.map_structure(st.spec_of, first)
        return self._spec

    def __repr__(self) -> str:
        return f"<Dataset cardinality={self._cardinality}>"

    def _derive(self, make_iterator, cardinality=_UNKNOWN, spec=None) -> Dataset:
        return Dataset(make_iterator, cardinality, spec)

    # -- sources ------------------------------------------------------------------------------

    @staticmethod
    def from_tensor_slices(tensors) -> Dataset:
        """One element per row of ``tensors`` (all leaves share their first dimension)."""
        arrays = st.to_arrays(tensors)
        leaves = st.flatten(arrays)
        if any(a.ndim == 0 for a in leaves):
            raise ShapeError("every component needs a leading dimension to slice, got a scalar",
                             op="from_tensor_slices")  # fmt: skip
        sizes = {len(a) for a in leaves}
        if len(sizes) != 1:
            shapes = [a.shape for a in leaves]
            raise ShapeError(f"components have different leading dimensions: shapes {shapes}",
                             op="from_tensor_slices")  # fmt: skip
        n = sizes.pop()
        make = lambda: (st.pack_as(arrays, [a[i] for a in leaves]) for i in range(n))
        spec = st.map_structure(lambda a: st.spec_of(a[0]) if n else st.spec_of(a), arrays)
        return Dataset(make, n, spec)

    @staticmethod
    def from_tensors(tensors) -> Dataset:
        """A dataset of the single element ``tensors``."""
        arrays = st.to_arrays(tensors)
        return Dataset(lambda: iter([arrays]), 1, st.map_structure(st.spec_of, arrays))

    @staticmethod
    def range(*args, dtype=np.int64) -> Dataset:
        """Like Python's ``range``: ``range(stop)``, ``range(start, stop[, step])``."""
        values = range(*args)
        dtype = np.dtype(dtype)
        make = lambda: (np.asarray(v, dtype) for v in values)
        return Dataset(make, len(values), st.spec_of(np.zeros((), dtype)))

    @staticmethod
    def from_generator(generator, output_signature=None, args=None) -> Dataset:
        """Elements from ``generator(*args)``, a callable (called afresh for each pass),
        checked against ``output_signature`` (a structure of ``rl.TensorSpec``)."""
        if not callable(generator):
            raise ArgumentTypeError(
                f"from_generator: generator must be callable, received {type(generator).__name__}"
            )
        args = tuple(args or ())

        def make():
            for index, value in enumerate(generator(*args)):
                yield _conform(value, output_signature, index)

        return Dataset(make, _UNKNOWN, output_signature)

    @staticmethod
    def zip(*datasets) -> Dataset:
        """Elements of ``datasets`` (a tuple or dict of datasets) side by side, until the
        shortest runs out."""
        structure = datasets[0] if len(datasets) == 1 else datasets
        parts = st.flatten(structure)
        if not parts or not all(isinstance(d, Dataset) for d in parts):
            raise ArgumentTypeError("zip: expected datasets, or a tuple or dict of datasets")
        make = lambda: (st.pack_as(structure, e) for e in zip(*(d._make_iterator() for d in parts)))
        cards = [d._cardinality for d in parts]
        known = [c for c in cards if c >= 0]
        card = min(known) if known else (_UNKNOWN if _UNKNOWN in cards else _INF)
        if _UNKNOWN in cards and known:
            card = _UNKNOWN
        return Dataset(make, card)

    @staticmethod
    def from_npy(path, mmap_mode: str | None = "r") -> Dataset:
        """One element per row of the ``.npy`` file (memory-mapped by default)."""
        return Dataset.from_tensor_slices(np.load(path, mmap_mode=mmap_mode))

    @staticmethod
    def from_npz(path, keys=None) -> Dataset:
        """One element per row of the arrays in the ``.npz`` file: a dict keyed by name, or
        a tuple in the order of ``keys`` when given."""
        with np.load(path) as data:
            if keys is None:
                return Dataset.from_tensor_slices({k: data[k] for k in data.files})
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise ArgumentError(f"from_npz: {path} has no arrays {missing}; it holds "
                                    f"{data.files}")  # fmt: skip
            return Dataset.from_tensor_slices(tuple(data[k] for k in keys))

    # -- transformations ----------------------------------------------------------------------

    def concatenate(self, dataset: Dataset) -> Dataset:
        """This dataset's elements, then ``dataset``'s (same structure)."""
        a, b = self._make_iterator, dataset._make_iterator
        cards = (self._cardinality, dataset._cardinality)
        card = _INF if _INF in cards else (_UNKNOWN if _UNKNOWN in cards else sum(cards))
        return self._derive(lambda: itertools.chain(a(), b()), card)

    def map(self, map_func, num_parallel_calls=None, deterministic=None) -> Dataset:
        """``map_func`` applied to each element (tuples are unpacked into arguments), on a
        pool of ``num_parallel_calls`` threads when given; order is kept unless
        ``deterministic=False``."""
        call = _element_fn(map_func, "map")
        source = self._make_iterator
        if num_parallel_calls in (None, 0, 1):
            make = lambda: (call(e) for e in source())
        else:
            workers = it.worker_count(num_parallel_calls)
            ordered = deterministic is not False
            make = lambda: it.parallel_map(source(), call, workers, ordered)
        return self._derive(make, self._cardinality)

    def filter(self, predicate) -> Dataset:
        """The elements for which ``predicate`` returns true."""
        call = _element_fn(predicate, "filter")
        source = self._make_iterator
        return self._derive(lambda: (e for e in source() if bool(call(e))), _UNKNOWN)

    def batch(self, batch_size: int, drop_remainder: bool = False, num_parallel_calls=None,
              deterministic=None) -> Dataset:  # fmt: skip
        """Consecutive elements stacked into batches of ``batch_size``."""
        size = _positive(batch_size, "batch", "batch_size")
        source = self._make_iterator
        make = lambda: it.batch(source(), size, drop_remainder, lambda c: it.stack(c, "batch"))
        spec = None
        if self._spec is not None:
            lead = size if drop_remainder else None
            spec = st.map_structure(lambda s: st.spec_of(_Shaped((lead,) + s.shape, s.dtype)),
                                    self._spec)  # fmt: skip
        return self._derive(make, _batched(self._cardinality, size, drop_remainder), spec)

    def padded_batch(self, batch_size: int, padded_shapes=None, padding_values=None,
                     drop_remainder: bool = False) -> Dataset:  # fmt: skip
        """Batches whose elements are padded at the end of each axis to ``padded_shapes``
        (``None`` or -1: the largest in the batch) with ``padding_values`` (default 0)."""
        size = _positive(batch_size, "padded_batch", "batch_size")
        source = self._make_iterator
        pad = lambda c: it.pad_stack(c, padded_shapes, padding_values)
        make = lambda: it.batch(source(), size, drop_remainder, pad)
        return self._derive(make, _batched(self._cardinality, size, drop_remainder))

    def unbatch(self) -> Dataset:
        """Each element split along its first axis into separate elements."""
        source = self._make_iterator
        return self._derive(lambda: it.unbatch(source()), _UNKNOWN)

    def shuffle(self, buffer_size: int, seed: int | None = None,
                reshuffle_each_iteration: bool = True) -> Dataset:  # fmt: skip
        """Elements drawn at random from a buffer of ``buffer_size`` (a full shuffle when
        ``buffer_size`` is at least the dataset's length). Seeds come from NumPy's global
        generator when ``seed`` is None, so ``rl.utils.set_random_seed`` fixes them."""
        size = _positive(buffer_size, "shuffle", "buffer_size")
        seeds = np.random.default_rng(np.random.randint(2**31) if seed is None else seed)
        fixed = int(seeds.integers(2**63))
        source = self._make_iterator

        def make():
            pass_seed = int(seeds.integers(2**63)) if reshuffle_each_iteration else fixed
            return it.shuffle(source(), size, np.random.default_rng(pass_seed))

        return self._derive(make, self._cardinality, self._spec)

    def repeat(self, count: int | None = None) -> Dataset:
        """The elements ``count`` times over (forever when ``count`` is None or -1)."""
        forever = count is None or count == -1
        if not forever and count < 0:
            raise ArgumentError(f"repeat: received count={count}, expected >= 0, -1 or None")
        source = self._make_iterator
        passes = lambda: itertools.count() if forever else range(count)
        make = lambda: itertools.chain.from_iterable(source() for _ in passes())
        card = self._cardinality
        if card >= 0:
            card = (_INF if card else 0) if forever else card * count
        return self._derive(make, card, self._spec)

    def take(self, count: int) -> Dataset:
        """At most the first ``count`` elements (all of them when ``count`` is -1)."""
        if count == -1:
            return self
        _non_negative(count, "take")
        source = self._make_iterator
        card = self._cardinality
        card = count if card == _INF else (min(card, count) if card >= 0 else _UNKNOWN)
        return self._derive(lambda: itertools.islice(source(), count), card, self._spec)

    def skip(self, count: int) -> Dataset:
        """All but the first ``count`` elements (none when ``count`` is -1)."""
        if count == -1:
            return self._derive(lambda: iter(()), 0, self._spec)
        _non_negative(count, "skip")
        source = self._make_iterator
        card = max(self._cardinality - count, 0) if self._cardinality >= 0 else self._cardinality
        return self._derive(lambda: itertools.islice(source(), count, None), card, self._spec)

    def shard(self, num_shards: int, index: int) -> Dataset:
        """Every ``num_shards``-th element, starting at ``index``."""
        _positive(num_shards, "shard", "num_shards")
        if not 0 <= index < num_shards:
            raise ArgumentError(f"shard: received index={index}, expected 0 <= index < "
                                f"num_shards={num_shards}")  # fmt: skip
        source = self._make_iterator
        card = self._cardinality
        if card >= 0:
            card = len(range(index, card, num_shards))
        make = lambda: itertools.islice(source(), index, None, num_shards)
        return self._derive(make, card, self._spec)

    def cache(self, filename: str = "") -> Dataset:
        """Elements remembered after the first complete pass: in memory, or in ``.npz``
        chunk files named after ``filename`` (reused by later programs)."""
        store = it.FileCache(filename) if filename else it.MemoryCache()
        source = self._make_iterator
        return self._derive(lambda: store.iterate(source), self._cardinality, self._spec)

    def prefetch(self, buffer_size: int) -> Dataset:
        """Elements made ready on a background thread, up to ``buffer_size`` ahead
        (``AUTOTUNE``: 2), so the pipeline's work overlaps the consumer's."""
        size = 2 if buffer_size == AUTOTUNE else _positive(buffer_size, "prefetch", "buffer_size")
        source = self._make_iterator
        return self._derive(lambda: it.prefetch(source(), size), self._cardinality, self._spec)

    def interleave(self, map_func, cycle_length: int | None = None, block_length: int = 1,
                   num_parallel_calls=None, deterministic=None) -> Dataset:  # fmt: skip
        """Elements of the datasets ``map_func`` returns for each input element, taken from
        ``cycle_length`` of them in turn, ``block_length`` at a time."""
        call = _element_fn(map_func, "interleave", convert=False)
        cycle = (
            it.worker_count(AUTOTUNE)
            if cycle_length in (None, AUTOTUNE)
            else _positive(cycle_length, "interleave", "cycle_length")
        )
        block = _positive(block_length, "interleave", "block_length")

        def open_inner(element):
            inner = call(element)
            if not isinstance(inner, Dataset):
                raise ArgumentTypeError(f"interleave: map_func must return a Dataset, it "
                                        f"returned {type(inner).__name__}")  # fmt: skip
            return inner._make_iterator()

        source = self._make_iterator
        return self._derive(lambda: it.interleave(source(), open_inner, cycle, block))

    def flat_map(self, map_func) -> Dataset:
        """The elements of the datasets ``map_func`` returns, one after another."""
        return self.interleave(map_func, cycle_length=1)

    def enumerate(self, start: int = 0) -> Dataset:
        """``(index, element)`` pairs."""
        counter = Dataset.range(start, 2**62)
        return Dataset.zip(counter, self)


class _Shaped:
    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


def _element_fn(fn, who: str, convert: bool = True):
    """``fn`` called with an element as tensors (a tuple is spread over the arguments); its
    result comes back as NumPy arrays."""
    if not callable(fn):
        raise ArgumentTypeError(f"{who}: expected a callable, received {type(fn).__name__}")

    def call(element):
        tensors = st.to_tensors(element)
        out = fn(*tensors) if isinstance(tensors, tuple) else fn(tensors)
        return st.to_arrays(out) if convert else out

    return call


def _conform(value, signature, index: int):
    arrays = st.to_arrays(value)
    if signature is None:
        return arrays
    if not st.same_nesting(arrays, signature):
        raise ArgumentTypeError(f"from_generator: element {index} is {value!r}, which does not "
                                f"match output_signature {signature!r}")  # fmt: skip

    def check(array, spec):
        if not spec.is_compatible_with(array):
            raise ShapeError(f"from_generator: element {index} has shape {array.shape}, "
                             f"expected {spec.shape} from output_signature")  # fmt: skip
        return array.astype(spec.dtype, copy=False)

    return st.map_structure(check, arrays, signature)


def _positive(value, who: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ArgumentError(f"{who}: received {name}={value!r}, expected a positive integer")
    return int(value)


def _non_negative(value, who: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ArgumentError(f"{who}: received count={value!r}, expected >= 0 or -1")


def _batched(card: int, size: int, drop_remainder: bool) -> int:
    if card < 0:
        return card
    return card // size if drop_remainder else -(-card // size)
