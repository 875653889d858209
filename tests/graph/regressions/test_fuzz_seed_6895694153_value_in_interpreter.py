"""Regression test found by the graph-mode fuzzer (rillet.testing.fuzz), seed 6895694153.

value disagreement in mode 'interpreter':
value 0 differs at (0, 0, 0): got 0.125, eager gives 1.6142783164978027 (tolerance 0.001 x scale
1.61428)

Found by `make fuzz` (shrunk again after its shapes were shrunk together). The cause is in
the core: indexing a Variable while rl.function traces reads its value at trace time
(rillet/ops/indexing.py ``_as_tensor`` calls ``Variable._rillet_read()`` instead of
``_context.read_variable``), so ``var[...]`` is a constant in the graph: it misses the
assignment before it, and every later change of the variable. Fixed: variables read
through ``_context.read_variable`` everywhere.
"""
# ruff: noqa: E501, F401, F841

import numpy as np

import rillet as rl
from rillet.testing.fuzz import check_function


def program(x1, var0):
    v2 = var0.assign(x1).value()
    v3 = var0[(Ellipsis,)]
    return (v3,)


def test_fuzz_seed_6895694153_value_in_interpreter():
    inputs = [
        np.array([[[1.6142783164978027]]], dtype=np.float32),
    ]
    variables = [
        np.array([[[0.125]]], dtype=np.float32),
    ]
    tolerance = 0.001
    check_function(program, inputs, variables, tolerance)
