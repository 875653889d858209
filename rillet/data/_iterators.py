"""The element streams behind the dataset transformations: each function takes the input
stream(s) and yields elements (nested structures of NumPy arrays)."""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import queue
import threading

import numpy as np

from ..errors import ShapeError
from . import _structure as st

AUTOTUNE = -1


def worker_count(num_parallel_calls) -> int:
    if num_parallel_calls == AUTOTUNE:
        return max(2, os.cpu_count() or 2)
    return int(num_parallel_calls)


def parallel_map(elements, fn, workers: int, deterministic: bool):
    """``fn`` over ``elements`` on a thread pool, at most ``2 * workers`` calls in flight;
    in input order unless ``deterministic`` is False (then as they finish)."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending: collections.deque = collections.deque()
        for element in elements:
            pending.append(pool.submit(fn, element))
            if len(pending) >= 2 * workers:
                yield _next_done(pending, deterministic)
        while pending:
            yield _next_done(pending, deterministic)


def _next_done(pending, deterministic: bool):
    if not deterministic:
        done, _ = concurrent.futures.wait(pending, return_when="FIRST_COMPLETED")
        future = next(iter(done))
        pending.remove(future)
        return future.result()
    return pending.popleft().result()


def shuffle(elements, buffer_size: int, rng: np.random.Generator):
    """TensorFlow's shuffle: fill a buffer, yield a random slot and refill it from input."""
    buffer: list = []
    for element in elements:
        if len(buffer) < buffer_size:
            buffer.append(element)
            continue
        index = int(rng.integers(buffer_size))
        yield buffer[index]
        buffer[index] = element
    rng.shuffle(buffer)
    yield from buffer


def stack(elements: list, who: str):
    """One batch: the elements' leaves stacked on a new leading axis."""
    leaves = [st.flatten(e) for e in elements]
    columns = []
    for j, column in enumerate(zip(*leaves)):
        first = column[0].shape
        for i, array in enumerate(column):
            if array.shape != first:
                raise ShapeError(
                    f"cannot batch element {i} with shape {array.shape} in component {j}: the "
                    f"first element has shape {first}; use padded_batch for varying shapes",
                    op=who,
                )
        columns.append(np.stack(column))
    return st.pack_as(elements[0], columns)


def batch(elements, batch_size: int, drop_remainder: bool, make):
    chunk: list = []
    for element in elements:
        chunk.append(element)
        if len(chunk) == batch_size:
            yield make(chunk)
            chunk = []
    if chunk and not drop_remainder:
        yield make(chunk)


def pad_stack(elements: list, padded_shapes, padding_values):
    """One padded batch: each leaf padded (at the end of each axis) to its padded shape, or
    to the largest in the batch where that shape says ``None``/-1."""
    leaves = [st.flatten(e) for e in elements]
    shapes = st.flatten(padded_shapes) if padded_shapes is not None else [None] * len(leaves[0])
    values = st.flatten(padding_values) if padding_values is not None else [0] * len(leaves[0])
    columns = []
    for j, column in enumerate(zip(*leaves)):
        target = _padded_shape(column, shapes[j], j)
        out = np.full((len(column),) + target, values[j], dtype=column[0].dtype)
        for i, array in enumerate(column):
            out[(i,) + tuple(slice(0, n) for n in array.shape)] = array
        columns.append(out)
    return st.pack_as(elements[0], columns)


def _padded_shape(column, wanted, j: int) -> tuple:
    ranks = {a.ndim for a in column}
    if len(ranks) > 1:
        raise ShapeError(f"component {j} has elements of ranks {sorted(ranks)}", op="padded_batch")
    largest = tuple(np.max([a.shape for a in column], axis=0)) if column[0].ndim else ()
    if wanted is None:
        return tuple(int(n) for n in largest)
    wanted = tuple(wanted)
    if len(wanted) != len(largest):
        raise ShapeError(
            f"padded_shapes {wanted} for component {j} has rank {len(wanted)}, but its "
            f"elements have rank {len(largest)}",
            op="padded_batch",
        )
    target = tuple(int(m) if w in (None, -1) else int(w) for w, m in zip(wanted, largest))
    if any(m > t for m, t in zip(largest, target)):
        raise ShapeError(
            f"component {j} has an element of shape {largest}, larger than padded_shapes {wanted}",
            op="padded_batch",
        )
    return target


def unbatch(elements):
    for element in elements:
        leaves = st.flatten(element)
        sizes = {len(a) if a.ndim else None for a in leaves}
        if len(sizes) != 1 or None in sizes:
            raise ShapeError(
                f"every component needs the same leading dimension, got shapes "
                f"{[a.shape for a in leaves]}",
                op="unbatch",
            )
        for i in range(sizes.pop()):
            yield st.pack_as(element, [a[i] for a in leaves])


def interleave(elements, open_fn, cycle_length: int, block_length: int):
    """TensorFlow's interleave: up to ``cycle_length`` open inner streams, taken round robin,
    ``block_length`` elements at a time; an exhausted stream's slot takes the next input."""
    elements = iter(elements)
    slots: list = []
    for element in elements:
        slots.append(open_fn(element))
        if len(slots) == cycle_length:
            break
    while any(s is not None for s in slots):
        for k, inner in enumerate(slots):
            count = 0
            while inner is not None and count < block_length:
                value = next(inner, _END)
                if value is _END:
                    nxt = next(elements, _END)
                    inner = slots[k] = None if nxt is _END else open_fn(nxt)
                    if inner is None or count:
                        break
                    continue
                count += 1
                yield value


_END = object()


def prefetch(elements, buffer_size: int):
    """``elements`` produced on a background thread, up to ``buffer_size`` ahead. Closing the
    consumer (or dropping it) stops the thread."""
    ready: queue.Queue = queue.Queue(maxsize=max(1, buffer_size))
    stop = threading.Event()

    def produce():
        try:
            for element in elements:
                if not _put(ready, ("item", element), stop):
                    return
            _put(ready, ("end", None), stop)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            _put(ready, ("error", exc), stop)

    thread = threading.Thread(target=produce, daemon=True, name="rillet-prefetch")
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


def _put(ready: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


# -- caches -----------------------------------------------------------------------------------


class MemoryCache:
    """Elements kept from the first complete pass; later passes replay them."""

    def __init__(self):
        self.elements: list | None = None

    def iterate(self, source):
        if self.elements is not None:
            yield from self.elements
            return
        seen = []
        for element in source():
            seen.append(element)
            yield element
        self.elements = seen


class FileCache:
    """Elements written to ``<filename>.<k>.npz`` chunks, then ``<filename>.index.json`` once
    a pass completes; later passes (and later programs) read the chunks back."""

    CHUNK = 1024

    def __init__(self, filename: str):
        self.filename = os.fspath(filename)
        self.index = self.filename + ".index.json"

    def iterate(self, source):
        if os.path.exists(self.index):
            yield from self._read()
            return
        chunk: list = []
        count = 0
        self._structure = None
        for element in source():
            chunk.append(element)
            yield element
            if len(chunk) == self.CHUNK:
                self._write(chunk, count // self.CHUNK)
                chunk = []
            count += 1
        if chunk:
            self._write(chunk, count // self.CHUNK)
        info = {"elements": count, "chunk": self.CHUNK, "structure": self._structure}
        with open(self.index, "w") as f:
            json.dump(info, f)

    def _write(self, chunk: list, k: int):
        arrays = {f"{i}_{j}": a for i, e in enumerate(chunk) for j, a in enumerate(st.flatten(e))}
        np.savez(f"{self.filename}.{k}.npz", **arrays)
        self._structure = st.describe(chunk[0])

    def _read(self):
        with open(self.index) as f:
            info = json.load(f)
        count, size = info["elements"], info["chunk"]
        for k in range(-(-count // size)):
            with np.load(f"{self.filename}.{k}.npz") as data:
                width = len(data.files) // min(size, count - k * size)
                for i in range(min(size, count - k * size)):
                    leaves = [data[f"{i}_{j}"] for j in range(width)]
                    yield st.rebuild(info["structure"], leaves)
