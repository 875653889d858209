"""A writer killed (SIGKILL) at random moments during saves never loses the last good
checkpoint: restoring the latest gives values that one save wrote, whole."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import rillet as rl
from rillet.train import Checkpoint, CheckpointManager

# Each save writes a big array filled with its step number, then the step itself; the
# writer resumes from the latest checkpoint, so the steps keep counting across kills.
_WRITER = """
import sys
import numpy as np
import rillet as rl

big = rl.Variable(np.zeros(2_000_000, np.float32))
step = rl.Variable(np.int64(0))
checkpoint = rl.train.Checkpoint(big=big, step=step)
manager = rl.train.CheckpointManager(checkpoint, sys.argv[1], max_to_keep=2)
manager.restore_or_initialize()
while True:
    step.assign_add(np.int64(1))
    big.assign(np.full(big.shape, float(step.numpy()), np.float32))
    manager.save()
    print(int(step.numpy()), flush=True)
"""


def _run_and_kill(directory, rng) -> int:
    """Start a writer, let it save at least once, kill it at a random moment; returns the
    last step it reported as saved."""
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(directory)], stdout=subprocess.PIPE, text=True
    )
    try:
        last = int(writer.stdout.readline())
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(writer.pid, signal.SIGKILL)
        for line in writer.stdout.read().split():
            last = int(line)
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    return last


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_writer_leaves_the_last_good_checkpoint_readable(tmp_path, rng):
    previous = 0
    for _ in range(5):
        reported = _run_and_kill(tmp_path, rng)
        latest = rl.train.latest_checkpoint(tmp_path)
        big = rl.Variable(np.zeros(2_000_000, np.float32))
        step = rl.Variable(np.int64(-1))
        Checkpoint(big=big, step=step).restore(latest).assert_consumed()
        saved = int(step.numpy())
        # Every save the writer reported is on disk; at most the one in flight is newer.
        assert reported <= saved <= reported + 1 and saved > previous
        assert latest.endswith(f"ckpt-{saved}")
        np.testing.assert_array_equal(big.numpy(), np.full(big.shape, saved, np.float32))
        manager = CheckpointManager(Checkpoint(big=big, step=step), tmp_path, max_to_keep=2)
        assert len(manager.checkpoints) <= 2
        previous = saved
