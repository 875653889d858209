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
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20


def tune() -> bool:
    """Set malloc's mmap and trim thresholds (above); whether they were set."""
    if os.environ.get("RILLET_MALLOC_TUNING", "").strip() == "0":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library symbols to reach, or no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


TUNED = tune()
