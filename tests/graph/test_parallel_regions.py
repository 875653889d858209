"""Elementwise regions of compiled programs run on several threads (executors/parallel.py)."""

from __future__ import annotations

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError
from rillet.graph.executors import parallel


@pytest.fixture
def threads():
    """Set the intra-op threads for the test; small regions count, so tests stay fast."""
    saved = rl.config.threading.get_intra_op_parallelism_threads()
    limits = parallel.MIN_ELEMENTS, parallel.MIN_WORK
    parallel.MIN_ELEMENTS, parallel.MIN_WORK = 64, 256
    yield rl.config.threading.set_intra_op_parallelism_threads
    parallel.MIN_ELEMENTS, parallel.MIN_WORK = limits
    rl.config.threading.set_intra_op_parallelism_threads(saved)


def _adam_like(shape, seed=0):
    """A variable, its two moments and a step that updates all three from a gradient."""
    rng = np.random.default_rng(seed)
    w = rl.Variable(rng.standard_normal(shape).astype(np.float32))
    m = rl.Variable(np.zeros(shape, np.float32))
    v = rl.Variable(np.zeros(shape, np.float32))

    def step(x):
        with rl.GradientTape() as tape:
            loss = rl.sum(rl.tanh(w * x))
        g = tape.gradient(loss, w)
        m.assign_add((g - m) * 0.1)
        v.assign_add((g * g - v) * 0.001)
        w.assign_sub(0.01 * m / (rl.sqrt(v) + 1e-7))
        return loss

    return (w, m, v), step


def _run(threads_count, threads, shape=(37, 29), steps=4):
    threads(threads_count)
    variables, step = _adam_like(shape)
    f = rl.function(step)
    x = rl.asarray(np.linspace(-1, 1, np.prod(shape), dtype=np.float32).reshape(shape))
    losses = [f(x).numpy() for _ in range(steps)]
    return f, x, losses, [v.numpy() for v in variables]


def test_region_results_equal_one_thread_bit_for_bit(threads):
    f2, x, losses2, values2 = _run(2, threads)
    _, _, losses1, values1 = _run(1, threads)
    assert "_run_parallel" in f2.get_concrete_function(x).executor.source
    np.testing.assert_array_equal(losses1, losses2)
    for a, b in zip(values1, values2):
        np.testing.assert_array_equal(a, b)


def test_region_results_equal_eager(threads):
    _, _, losses, values = _run(3, threads, shape=(101,))
    threads(1)
    variables, step = _adam_like((101,))
    x = rl.asarray(np.linspace(-1, 1, 101, dtype=np.float32))
    eager = [step(x).numpy() for _ in range(4)]
    np.testing.assert_allclose(losses, eager, rtol=1e-6)
    for a, b in zip(values, variables):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-7)


def test_one_thread_or_small_arrays_have_no_region(threads):
    f, x, _, _ = _run(1, threads)
    assert "_run_parallel" not in f.get_concrete_function(x).executor.source
    parallel.MIN_ELEMENTS = 10**9
    f, x, _, _ = _run(2, threads)
    assert "_run_parallel" not in f.get_concrete_function(x).executor.source


def test_value_read_before_the_step_keeps_its_contents(threads):
    threads(2)
    (w, _, _), step = _adam_like((64, 16))
    f = rl.function(step)
    x = rl.ones((64, 16))
    f(x)
    held = w.value()  # a reader of the buffer: the update must not write into it
    before = held.numpy().copy()
    f(x)
    np.testing.assert_array_equal(held.numpy(), before)
    assert not np.array_equal(w.numpy(), before)


def test_non_contiguous_variable_is_updated(threads):
    threads(2)
    base = np.arange(2 * 48 * 32, dtype=np.float32).reshape(2, 48, 32)
    w = rl.Variable(np.zeros((48, 32), np.float32))
    w._replace(np.asfortranarray(base[0]))  # not C-contiguous, as a restored buffer might be

    @rl.function
    def step(x):
        w.assign_add(x * 2.0 + 1.0)
        w.assign_sub(rl.sqrt(rl.abs(x)))
        return rl.sum(w)

    x = rl.asarray(np.linspace(-2, 2, 48 * 32, dtype=np.float32).reshape(48, 32))
    expected = base[0] + (x.numpy() * 2.0 + 1.0) - np.sqrt(np.abs(x.numpy()))
    total = step(x)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(total.numpy(), expected.sum(), rtol=1e-5)


def test_region_values_read_after_the_region(threads):
    threads(2)

    @rl.function
    def f(a, b):
        c = rl.tanh(a) * b + a
        d = rl.exp(-c * c) - b
        return rl.sum(c * d, axis=0)  # a reduction after the region reads c and d

    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((128, 40)).astype(np.float32) for _ in range(2))
    c = np.tanh(a) * b + a
    np.testing.assert_allclose(f(a, b).numpy(), (c * (np.exp(-c * c) - b)).sum(0), rtol=1e-5)


def test_overlapping_values_must_share_their_offset():
    class Plan:
        def __init__(self, offsets):
            self.offsets = offsets

        def offset_of(self, value):
            return self.offsets[id(value)]

    g = rl.function(lambda x: x + 1.0).get_concrete_function(rl.ones((8,))).graph
    a, b, c = g.inputs[0], g.outputs[0], g.nodes[-1].inputs[-1]
    same = Plan({id(a): 0, id(b): 0, id(c): 64})
    shifted = Plan({id(a): 0, id(b): 8, id(c): 64})
    assert parallel._aligned_overlaps([a, b, c], same)
    assert not parallel._aligned_overlaps([a, b, c], shifted)


def test_slices_cover_the_array_on_cache_line_bounds():
    assert parallel._bounds(100, 2) == [(0, 64), (64, 100)]
    assert parallel._bounds(401408, 2) == [(0, 200704), (200704, 401408)]
    assert parallel._bounds(10, 4) == [(0, 10)]  # too small to cut
    bounds = parallel._bounds(1000, 3)
    assert bounds[0][0] == 0 and bounds[-1][1] == 1000
    assert all(hi == lo2 for (_, hi), (lo2, _) in zip(bounds, bounds[1:]))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_thread_setting_rejects_bad_values(bad):
    with pytest.raises(ArgumentError, match="num_threads"):
        rl.config.threading.set_intra_op_parallelism_threads(bad)
