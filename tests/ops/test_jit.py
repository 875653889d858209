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


def test_a_loop_calls_a_helper_compiled_and_as_python():
    """A helper named by a loop is compiled with it and rebound in the loop's namespace;
    before that, and for the Python path, it is the plain function."""
    namespace: dict = {}
    exec(  # noqa: S102
        "def halve(x):\n    return 0.5 * x\n"
        "def halve_all(a):\n    for i in range(a.size):\n        a[i] = halve(a[i])\n",
        namespace,
    )
    helper = _jit.loop_helper(namespace["halve"])
    kernel = _jit.loop_kernel(namespace["halve_all"])
    a = np.arange(4.0)
    kernel.py_func(a)
    np.testing.assert_array_equal(a, [0.0, 0.5, 1.0, 1.5])
    if kernel.compiled is None:
        pytest.skip("compiled loops are off here")
    assert namespace["halve"] is not helper  # now the compiled helper
    kernel(a)
    np.testing.assert_array_equal(a, [0.0, 0.25, 0.5, 0.75])
    assert namespace["halve"](3.0) == 1.5


def test_tanh32_matches_tanh_to_a_few_ulp_as_python():
    x = np.linspace(-12, 12, 97, dtype=np.float32)
    got = np.array([_jit.tanh32(v) for v in x], np.float32)
    exact = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 7.0
