"""Elementwise regions of a compiled program, run over slices of their arrays on several threads.

NumPy runs each ufunc on one core. A run of consecutive elementwise nodes over large arrays
of one shape (an optimizer's update of a weight matrix is eleven of them) is cut instead into
one contiguous slice of the flattened arrays per thread; each thread runs the whole run of
nodes on its slice, so one hand-off per region, not per op, is paid. Every node of a region
reads and writes element ``i`` of its arrays only at element ``i``, so the slices are
independent, and the results are bit for bit those of the sequential program.

A region is accepted only when the memory it touches makes that true: arena values that
overlap must start at the same offset (then element ``i`` of both lives in the same bytes, in
the same slice), values read from outside the region are placeholders, variable reads or
planned arena values (never views with another layout), and every variable it updates is
made exclusive and contiguous before the threads start (its copy-on-write check, done once).
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from ...ops.fused import ELEMENTWISE
from ...variable import _UPDATE_UFUNCS
from ..ir import CONSTANT, PLACEHOLDER, Graph, Node, Value
from ..passes.memory_plan import MemoryPlan, kernel_traits, nbytes

# A region is worth its hand-off (some tens of microseconds) from about a million element
# operations on; slices are whole cache lines of float32.
MIN_ELEMENTS = 1 << 15
MIN_WORK = 1 << 20
_ALIGN = 16


@dataclass
class Region:
    """Consecutive nodes ``graph.nodes[start:stop]`` (constants among them) over ``shape``."""

    start: int
    stop: int
    shape: tuple
    nodes: list = field(default_factory=list)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def find_regions(graph: Graph, plan: MemoryPlan) -> list[Region]:
    """The regions of ``graph`` worth running on several threads, in program order."""
    regions, current = [], None
    for i, node in enumerate(graph.nodes):
        if node.op == CONSTANT:
            continue
        shape = _region_shape(node, plan)
        if current is not None and shape == current.shape:
            current.nodes.append(node)
            current.stop = i + 1
            continue
        if current is not None:
            regions.append(current)
        current = Region(i, i + 1, shape, [node]) if shape is not None else None
    if current is not None:
        regions.append(current)
    return [r for r in regions if _worth_it(r) and _safe(r, graph, plan)]


def _region_shape(node: Node, plan: MemoryPlan) -> tuple | None:
    """The shape over which ``node`` may join a region, or None."""
    if node.op == "read_variable":
        variable = node.attrs["variable"]
        return tuple(variable.shape) if variable.dtype == node.outputs[0].dtype else None
    if node.op == "assign_variable":
        value, variable = node.inputs[0], node.attrs["variable"]
        ok = value.dtype == variable.dtype and tuple(value.shape) == tuple(variable.shape)
        return tuple(value.shape) if ok and node.attrs["mode"] in _UPDATE_UFUNCS else None
    if node.op not in ELEMENTWISE or len(node.outputs) != 1:
        return None
    shape = tuple(node.outputs[0].shape)
    if any(s is None for s in shape) or plan.offset_of(node.outputs[0]) is None:
        return None
    if any(v is None or (tuple(v.shape) not in (shape, ())) for v in node.inputs):
        return None
    return shape if kernel_traits(node).writes_out else None


def _worth_it(region: Region) -> bool:
    size = region.size
    return size >= MIN_ELEMENTS and size * len(region.nodes) >= MIN_WORK


def _safe(region: Region, graph: Graph, plan: MemoryPlan) -> bool:
    inside = {id(v) for n in region.nodes for v in n.outputs}
    touched = [v for n in region.nodes for v in n.outputs if plan.offset_of(v) is not None]
    for node in region.nodes:
        for value in node.inputs:
            if id(value) in inside or value.shape == ():
                continue
            if value.node.op in (PLACEHOLDER, CONSTANT, "read_variable"):
                continue
            if plan.offset_of(value) is None:
                return False  # of unknown layout: it might be a view into what we write
            touched.append(value)
    return _aligned_overlaps(touched, plan) and not _stale_reads(region, graph, inside)


def _aligned_overlaps(values: list[Value], plan: MemoryPlan) -> bool:
    """Whether every two of ``values`` that share arena bytes share them element for element."""
    spans = sorted(
        (plan.offset_of(v), plan.offset_of(v) + nbytes(v), v.dtype.itemsize) for v in values
    )
    for k, (a0, a1, ai) in enumerate(spans):
        for b0, _, bi in spans[k + 1 :]:
            if b0 >= a1:
                break
            if (a0, ai) != (b0, bi):
                return False
    return True


def _stale_reads(region: Region, graph: Graph, inside: set) -> bool:
    """Whether a variable read in the region is used after it (it would see the update)."""
    reads = {id(n.outputs[0]) for n in region.nodes if n.op == "read_variable"}
    later = graph.nodes[region.stop :]
    outputs = {id(v) for v in graph.outputs}
    return bool(reads & outputs) or any(
        id(v) in reads for n in later for v in n.inputs if v is not None
    )


# --- running ----------------------------------------------------------------------------------


def prepare_variables(variables: tuple) -> None:
    """Make each variable's buffer its own and C-contiguous, so that the region's threads
    update it in place (the copy-on-write check of ``assign``, done once for all slices)."""
    for variable in variables:
        variable._own_buffer()


def run_parallel(region, size: int, threads: int, *args) -> None:
    """Run ``region(lo, hi, *args)`` over ``[0, size)`` cut into ``threads`` slices."""
    bounds = _bounds(size, threads)
    futures = [_pool(threads).submit(_run_slice, region, lo, hi, args) for lo, hi in bounds[1:]]
    try:
        region(*bounds[0], *args)
    finally:
        for future in futures:
            future.result()


def _run_slice(region, lo: int, hi: int, args: tuple) -> None:
    with np.errstate(all="ignore"):  # NaN and Inf are IEEE results, as on the calling thread
        region(lo, hi, *args)


def _bounds(size: int, threads: int) -> list[tuple[int, int]]:
    step = -(-size // threads // _ALIGN) * _ALIGN
    return [(lo, min(lo + step, size)) for lo in range(0, size, step)]


_POOL: dict = {}
_POOL_LOCK = threading.Lock()


def _pool(threads: int):
    """The intra-op thread pool (concurrent.futures, and the logging it imports, load here)."""
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        pool = _POOL.get("pool")
        if pool is None or pool._max_workers < threads - 1:
            if pool is not None:
                pool.shutdown(wait=False)
            pool = _POOL["pool"] = ThreadPoolExecutor(threads - 1, "rillet-intra-op")
        return pool


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: it starts its own pool."""
    _POOL.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
