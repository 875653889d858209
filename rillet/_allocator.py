"""Keep freed array memory in the process, so that a training step's large buffers are not
mapped afresh, and faulted in page by page, at every step.

glibc's malloc maps each allocation above a threshold (128 KiB at first) with mmap and
unmaps it when freed. It raises that threshold when such a chunk is freed, up to the chunk's
size, and gives the top of the heap back to the system beyond a trim threshold. So whether
a step's multi-megabyte buffers (an LSTM's reserve: 5.8 MB at batch 32 over 50 steps) are
reused or mapped again depends on what the process happened to free before (loading LLVM,
say), and a buffer mapped afresh pays a page fault for every 4 KiB at its first touch: the
suite's LSTM step took 8-9 ms instead of 5 so (benchmarks/RESULTS.md). :func:`tune`, run
when rillet is imported, fixes both thresholds: allocations up to 32 MiB (glibc's largest
mmap threshold) come from the heap, and up to 64 MiB of free memory at its top is kept.
``RILLET_MALLOC_TUNING=0`` leaves malloc as it is; elsewhere than glibc nothing changes.

The price is that memory freed stays in the process. :func:`release` hands the heap's free
pages back to the system: tracing a function does, once compiled, so that what building the
model and compiling the step freed is not held through training (the suite's mlp step: peak
RSS 51.9 -> 51.3 MiB). Within :func:`mapped`, allocations of a megabyte and more are mapped
on their own and unmapped when freed: large arrays made only to be dropped at once (a kernel
probed on zeros of a graph's sizes) are made so, and never raise the heap's high-water mark
(the suite's cnn step: 59.9 -> 58.1 MiB; benchmarks/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20
MAPPED_THRESHOLD = 1 << 20  # within mapped(): smaller arrays reuse the heap (no page faults)
_mallopt = _malloc_trim = None
_lock = threading.Lock()
_depth = 0  # nested or concurrent mapped() blocks: the last one out restores the threshold


def tune() -> bool:
    """Set malloc's mmap and trim thresholds (above); whether they were set."""
    if os.environ.get("RILLET_MALLOC_TUNING", "").strip() == "0":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):  # no C library symbols to reach, or not glibc's
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    malloc_trim.argtypes, malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    global _mallopt, _malloc_trim
    _mallopt, _malloc_trim = mallopt, malloc_trim
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def release() -> None:
    """Give the free memory of the heap back to the system (``malloc_trim``)."""
    if TUNED:
        _malloc_trim(0)


@contextlib.contextmanager
def mapped():
    """Within the block, allocations of 1 MiB and more are mapped, and unmapped when freed."""
    global _depth
    if not TUNED:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            _mallopt(_M_MMAP_THRESHOLD, MAPPED_THRESHOLD)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


TUNED = tune()
