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
