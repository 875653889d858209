"""Compiled loops (rillet/ops/_jit.py): compiled where Numba is, the Python loop where it is
switched off, and never a second BLAS beside NumPy's."""

import os
import subprocess
import sys

import numpy as np
import pytest

from rillet.ops import _jit

SCRIPT = """
import sys
import numpy as np
import threadpoolctl
from rillet.ops import _jit, state
before = len(threadpoolctl.threadpool_info())
compiled = state._adam_loop.compiled
print(compiled is not None, _jit.enabled(), "scipy.linalg.cython_blas" in sys.modules,
      len(threadpoolctl.threadpool_info()) - before)
"""


def _run(env_extra: dict) -> list[str]:
    env = {**os.environ, **env_extra}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_loops_compile_without_loading_a_second_blas():
    if not _jit.enabled():
        pytest.skip("compiled loops are off here")
    compiled, enabled, scipy_blas, new_pools = _run({"RILLET_DISABLE_JIT": ""})
    assert (compiled, enabled, scipy_blas, new_pools) == ("True", "True", "False", "0")


def test_disable_jit_environment_variable_keeps_the_numpy_path():
    compiled, enabled, _, _ = _run({"RILLET_DISABLE_JIT": "1"})
    assert (compiled, enabled) == ("False", "False")


def test_a_loop_kernel_made_outside_a_file_compiles_without_a_cache():
    namespace: dict = {}
    exec(  # noqa: S102
        "def double(a):\n    for i in range(a.size):\n        a[i] *= 2.0\n", namespace
    )
    kernel = _jit.loop_kernel(namespace["double"])
    a = np.arange(4.0)
    kernel(a)
    np.testing.assert_array_equal(a, [0.0, 2.0, 4.0, 6.0])
