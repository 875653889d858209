"""malloc's thresholds (rillet/_allocator.py): a large buffer freed and allocated again is
reused, not mapped afresh and faulted in page by page."""

import os
import subprocess
import sys

import pytest

SCRIPT = """
import resource
import numpy as np
import rillet
def faults_of_a_fresh_buffer():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = np.empty(6 << 20, np.uint8)
    buffer[::4096] = 1  # touch every page
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_a_fresh_buffer()
print(rillet._allocator.TUNED, faults_of_a_fresh_buffer())
"""


def _run(tuning: str) -> tuple[str, int]:
    env = {**os.environ, "RILLET_MALLOC_TUNING": tuning}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    tuned, faults = done.stdout.split()
    return tuned, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_large_buffer_is_reused_without_page_faults():
    tuned, faults = _run("")
    assert tuned == "True"
    assert faults < 50  # 6 MiB is 1536 pages: reused, not mapped again
    tuned, untuned_faults = _run("0")
    assert tuned == "False"
    assert untuned_faults > 300  # glibc's own thresholds: (part) mapped afresh, faulted in


KEEPING = """
import numpy as np
import rillet
from rillet import _allocator

def rss_mib():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024

def touched(nbytes):
    buffer = np.empty(nbytes, np.uint8)
    buffer[::4096] = 1
    return buffer

small = [touched(1 << 10) for _ in range(8)]  # the heap does not end with the big block
base = rss_mib()
kept = touched(24 << 20)
small.append(touched(1 << 10))
del kept  # freed into the heap (tuned): still resident
after_free = rss_mib() - base
_allocator.release()
after_release = rss_mib() - base
with _allocator.mapped(), _allocator.mapped():  # nested: the outer block restores
    mapped = touched(24 << 20)
    del mapped  # unmapped at once
after_mapped = rss_mib() - base
reused = touched(24 << 20)  # the heap again, after the blocks
print(after_free, after_release, after_mapped, rss_mib() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_heap_memory_is_released_and_mapped_blocks_leave_nothing_behind():
    done = subprocess.run(
        [sys.executable, "-c", KEEPING], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    after_free, after_release, after_mapped, after_reuse = map(float, done.stdout.split())
    assert after_free > 20  # the tuned heap keeps 24 MiB freed...
    assert after_release < 4  # ...until release() hands the pages back
    assert after_mapped < 4  # a mapped block's array is gone with it
    assert after_reuse > 20
