"""rl.random and dropout: Philox known answers, seeding, statistics, gradients and errors."""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

import rillet as rl
from rillet.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from rillet.ops import _philox
from rillet.ops import random as random_ops
from rillet.testing.gradcheck import check_grads
from tests.ops.opinfo.random import (
    keep_reference,
    key_words,
    philox_reference,
    stream_reference,
)

N = 20000  # samples for the statistical tests
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Random123 tests/kat_vectors: rounds, counter (4 words), key (2 words), expected output.
KAT = [
    (10, [0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    (10, [0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (
        10,
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
    (7, [0, 0, 0, 0], [0, 0], [0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48]),
    (7, [0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662]),
]


@pytest.fixture(autouse=True)
def _fresh_global_seed():
    """Each test starts and ends with an unseeded global stream."""
    rl.random.set_seed(None)
    yield
    rl.random.set_seed(None)


def _np(tensor):
    return np.asarray(tensor)


# --- Philox --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounds, counter, key, expected", KAT)
def test_philox_matches_random123_known_answers(rounds, counter, key, expected):
    got = random_ops.philox4x32(np, counter, key, rounds=rounds)
    assert [int(w) for w in got] == expected
    assert philox_reference(counter, key, rounds) == expected


@settings(max_examples=50, deadline=None)
@given(
    counters=st.lists(
        st.lists(st.integers(0, 2**32 - 1), min_size=4, max_size=4), min_size=1, max_size=8
    ),
    key=st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=2),
)
def test_philox_vectorized_matches_scalar_reference_for_any_counter(counters, key):
    columns = np.array(counters, dtype=np.uint32).T
    got = np.stack(random_ops.philox4x32(np, tuple(columns), key), axis=-1)
    assert got.tolist() == [philox_reference(c, key) for c in counters]


def test_stream_words_match_reference_across_blocks():
    key = rl.random.key((2**40 + 3, 2**33 + 7))
    got = random_ops.random_words(np, _np(key), 11)
    assert got.dtype == np.uint32
    assert got.tolist() == stream_reference(key, 11)


def test_words_read_from_any_position_continue_the_stream():
    key = _np(rl.random.key((7, 9)))
    whole = random_ops.random_words(np, key, 103)
    for start in (1, 3, 4, 5, 50, 99):
        part = random_ops.random_words(np, key, 103 - start, start)
        np.testing.assert_array_equal(part, whole[start:])


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("draw", ["uniform", "normal", "truncated_normal"])
def test_a_large_draw_made_span_by_span_equals_one_pass(monkeypatch, draw, dtype):
    """Large draws are computed a span at a time (so their float64 working arrays stay
    small); spans of any (even) length give the very same numbers, odd sizes included."""
    draw = getattr(rl.random, f"stateless_{draw}")
    one_pass = _np(draw((7, 143), seed=(3, 4), dtype=dtype))
    monkeypatch.setattr(_philox, "SPAN", 64)
    np.testing.assert_array_equal(_np(draw((7, 143), seed=(3, 4), dtype=dtype)), one_pass)


def test_key_holds_low_and_high_words_of_seed_pair():
    key = rl.random.key((2**32 + 5, -1))
    assert key.dtype == np.uint32
    assert _np(key).tolist() == key_words((2**32 + 5, -1)) == [5, 1, 2**32 - 1, 2**32 - 1]


# --- golden values: an independent scalar Philox and the documented float conversions ------------


def test_stateless_uniform_float32_matches_scalar_philox():
    words = stream_reference(key_words((1, 2)), 4)
    expected = np.array([(w >> 8) * 2.0**-24 for w in words], dtype=np.float32)  # top 24 bits
    got = rl.random.stateless_uniform(shape=(4,), seed=(1, 2))
    assert got.dtype == rl.float32
    np.testing.assert_array_equal(_np(got), expected)


def test_stateless_uniform_float64_uses_53_bits_of_two_words():
    words = stream_reference(key_words((1, 2)), 6)
    expected = [((words[2 * i] << 32 | words[2 * i + 1]) >> 11) * 2.0**-53 for i in range(3)]
    got = rl.random.stateless_uniform((3,), seed=(1, 2), minval=-2.0, maxval=6.0, dtype=rl.float64)
    np.testing.assert_array_equal(_np(got), [-2.0 + 8.0 * e for e in expected])


def test_stateless_uniform_ints_take_64_bit_words_modulo_span():
    words = stream_reference(key_words((9, 4)), 10)
    expected = [(words[2 * i] << 32 | words[2 * i + 1]) % 7 - 3 for i in range(5)]
    got = rl.random.stateless_uniform((5,), seed=(9, 4), minval=-3, maxval=4, dtype=rl.int32)
    assert got.dtype == rl.int32
    assert _np(got).tolist() == expected


def test_stateless_values_follow_row_major_order_of_shape():
    flat = rl.random.stateless_normal((6,), seed=(4, 4))
    grid = rl.random.stateless_normal((2, 3), seed=(4, 4))
    np.testing.assert_array_equal(_np(grid).ravel(), _np(flat))


# --- same seed, same numbers ---------------------------------------------------------------------

STATELESS = {
    "normal": lambda seed: rl.random.stateless_normal((50,), seed=seed),
    "uniform": lambda seed: rl.random.stateless_uniform((50,), seed=seed),
    "uniform_int": lambda seed: rl.random.stateless_uniform((50,), seed, 0, 2**40, rl.int64),
    "truncated_normal": lambda seed: rl.random.stateless_truncated_normal((50,), seed=seed),
    "bernoulli": lambda seed: rl.random.stateless_bernoulli((50,), seed=seed),
    "categorical": lambda seed: rl.random.stateless_categorical(rl.zeros((2, 10)), 25, seed=seed),
    "shuffle": lambda seed: rl.random.stateless_shuffle(rl.arange(50), seed=seed),
}


@pytest.mark.parametrize("draw", STATELESS.values(), ids=STATELESS.keys())
def test_stateless_draws_repeat_for_same_seed(draw):
    np.testing.assert_array_equal(_np(draw((3, 8))), _np(draw((3, 8))))
    np.testing.assert_array_equal(_np(draw(rl.asarray([3, 8]))), _np(draw([3, 8])))


@pytest.mark.parametrize("draw", STATELESS.values(), ids=STATELESS.keys())
def test_stateless_draws_differ_for_different_seeds(draw):
    base = _np(draw((3, 8)))
    for other in [(3, 9), (4, 8), (8, 3), (3 + 2**32, 8)]:
        assert not np.array_equal(base, _np(draw(other))), other


def test_seeds_are_taken_modulo_two_to_the_64():
    a = rl.random.stateless_uniform((5,), seed=(-1, 2))
    b = rl.random.stateless_uniform((5,), seed=(2**64 - 1, 2))
    np.testing.assert_array_equal(_np(a), _np(b))


# --- the global seed -----------------------------------------------------------------------------


def _program():
    return [
        _np(rl.random.normal((3,))),
        _np(rl.random.uniform((2,), seed=5)),
        _np(rl.random.uniform((4,), 0, 10, rl.int64)),
        _np(rl.dropout(rl.ones((6,)), 0.5)),
    ]


def test_set_seed_replays_the_same_program():
    rl.random.set_seed(1234)
    first = _program()
    rl.random.set_seed(1234)
    for a, b in zip(first, _program()):
        np.testing.assert_array_equal(a, b)


def test_draw_i_after_set_seed_equals_stateless_draw_with_seed_s_i():
    rl.random.set_seed(42)
    draws = [rl.random.normal((3,)), rl.random.uniform((3,)), rl.random.truncated_normal((3,))]
    expected = [
        rl.random.stateless_normal((3,), seed=(42, 0)),
        rl.random.stateless_uniform((3,), seed=(42, 1)),
        rl.random.stateless_truncated_normal((3,), seed=(42, 2)),
    ]
    for got, want in zip(draws, expected):
        np.testing.assert_array_equal(_np(got), _np(want))


def test_successive_unseeded_draws_differ():
    assert not np.array_equal(_np(rl.random.normal((5,))), _np(rl.random.normal((5,))))


def test_op_seed_draws_differ_per_call_and_replay_after_set_seed():
    rl.random.set_seed(3)
    a, b = _np(rl.random.normal((4,), seed=9)), _np(rl.random.normal((4,), seed=9))
    assert not np.array_equal(a, b)
    rl.random.set_seed(3)
    np.testing.assert_array_equal(_np(rl.random.normal((4,), seed=9)), a)


def test_op_seed_draws_are_not_shifted_by_unseeded_draws():
    rl.random.set_seed(3)
    a = _np(rl.random.normal((4,), seed=9))
    rl.random.set_seed(3)
    rl.random.normal((10,))
    np.testing.assert_array_equal(_np(rl.random.normal((4,), seed=9)), a)


def test_op_seed_combines_with_global_seed_by_fold():
    rl.random.set_seed(3)
    got = rl.random.normal((4,), seed=9)
    expected = rl.random.stateless_normal((4,), seed=(random_ops.fold_seeds(3, 9), 0))
    np.testing.assert_array_equal(_np(got), _np(expected))
    rl.random.set_seed(4)
    assert not np.array_equal(_np(rl.random.normal((4,), seed=9)), _np(got))


def test_fold_seeds_matches_scalar_philox():
    words = philox_reference([9, 0, 0, 0], [3, 0])
    assert random_ops.fold_seeds(3, 9) == words[0] | words[1] << 32


_SCRIPT = """
import json, rillet as rl
{setup}
draws = [rl.random.normal((3,)), rl.random.uniform((3,), seed=7), rl.dropout(rl.ones((4,)), 0.5)]
print(json.dumps([d.numpy().tolist() for d in draws]))
"""


def _run_program(setup: str):
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(setup=setup)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout)


def test_set_seed_gives_same_numbers_in_separate_processes():
    first, second = (
        _run_program("rl.random.set_seed(2024)"),
        _run_program("rl.random.set_seed(2024)"),
    )
    assert first == second
    rl.random.set_seed(2024)
    here = [rl.random.normal((3,)), rl.random.uniform((3,), seed=7), rl.dropout(rl.ones((4,)), 0.5)]
    assert first == [d.numpy().tolist() for d in here]


def test_unseeded_processes_draw_different_numbers_but_op_seeds_agree():
    first, second = _run_program(""), _run_program("")
    assert first[0] != second[0]  # the global seed comes from the OS
    assert first[1] == second[1]  # an op seed alone uses the default global seed, as in TF


# --- Generator -----------------------------------------------------------------------------------


def test_generator_from_seed_replays_global_stream_after_set_seed():
    g = rl.random.Generator.from_seed(11)
    rl.random.set_seed(11)
    np.testing.assert_array_equal(_np(g.normal((3,))), _np(rl.random.normal((3,))))
    np.testing.assert_array_equal(
        _np(g.uniform((3,), 0, 9, rl.int32)), _np(rl.random.uniform((3,), 0, 9, rl.int32))
    )


def test_generator_split_gives_independent_reproducible_streams():
    a, b = rl.random.Generator.from_seed(1).split(2)
    c, _ = rl.random.Generator.from_seed(1).split(2)
    x, y, z = _np(a.normal((8,))), _np(b.normal((8,))), _np(c.normal((8,)))
    assert not np.array_equal(x, y)
    np.testing.assert_array_equal(x, z)


def test_generator_methods_return_requested_kinds():
    g = rl.random.Generator.from_non_deterministic_state()
    assert g.truncated_normal((2,), dtype=rl.float64).dtype == rl.float64
    assert g.bernoulli((3,), 0.2).dtype == rl.bool
    assert g.categorical(rl.zeros((1, 4)), 5).shape == (1, 5)
    assert sorted(_np(g.permutation(6)).tolist()) == list(range(6))


# --- statistics ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [rl.float32, rl.float64])
def test_uniform_passes_ks_test(dtype):
    x = _np(rl.random.stateless_uniform((N,), (1, 1), minval=-2.0, maxval=3.0, dtype=dtype))
    assert x.dtype == dtype and x.min() >= -2.0 and x.max() < 3.0
    assert stats.kstest(x, "uniform", args=(-2.0, 5.0)).pvalue > 1e-4


@pytest.mark.parametrize("dtype", [rl.float32, rl.float64])
def test_normal_passes_ks_test(dtype):
    x = _np(rl.random.stateless_normal((N,), (2, 2), mean=1.5, stddev=0.5, dtype=dtype))
    assert x.dtype == dtype
    assert stats.kstest(x, "norm", args=(1.5, 0.5)).pvalue > 1e-4


@pytest.mark.parametrize("dtype", [rl.float32, rl.float64])
def test_truncated_normal_passes_ks_test(dtype):
    x = _np(rl.random.stateless_truncated_normal((N,), (3, 3), -1.0, 2.0, dtype=dtype))
    assert stats.kstest(x, stats.truncnorm(-2, 2, loc=-1.0, scale=2.0).cdf).pvalue > 1e-4


@pytest.mark.parametrize("dtype", [rl.float16, rl.bfloat16, rl.float32, rl.float64])
def test_truncated_normal_stays_within_two_stddev(dtype):
    x = rl.random.stateless_truncated_normal((N,), (4, 4), mean=0.3, stddev=0.7, dtype=dtype)
    bounds = np.array([0.3 - 1.4, 0.3 + 1.4]).astype(dtype)
    assert x.dtype == dtype
    assert bounds[0] <= _np(x).min() and _np(x).max() <= bounds[1]
    assert _np(x).astype(np.float64).std() > 0.5  # not collapsed onto the bounds


def test_ndtri_central_matches_scipy_to_float64_precision():
    p = np.linspace(random_ops.PHI_LOW, random_ops.PHI_HIGH, 2001)
    expected = special.ndtri(p)
    np.testing.assert_allclose(random_ops.ndtri_central(np, p), expected, rtol=1e-13, atol=1e-14)
    unrefined = random_ops.ndtri_central(np, p, refine=False)
    np.testing.assert_allclose(unrefined, expected, rtol=2e-9, atol=1e-12)


def test_bernoulli_mean_and_variance_match_p():
    x = _np(rl.random.stateless_bernoulli((N,), (5, 5), p=0.3)).astype(np.float64)
    tolerance = 4.5 * math.sqrt(0.3 * 0.7 / N)
    assert abs(x.mean() - 0.3) < tolerance
    assert abs(x.var() - 0.21) < tolerance


def test_bernoulli_takes_a_probability_tensor_per_column():
    p = rl.asarray([0.0, 0.5, 1.0])
    x = _np(rl.random.stateless_bernoulli((N // 4, 3), (6, 6), p=p))
    assert not x[:, 0].any() and x[:, 2].all()
    assert abs(x[:, 1].mean() - 0.5) < 0.03


def test_categorical_frequencies_match_softmax_chi_square():
    logits = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 3.0, 0.0]], dtype=np.float32)
    draws = _np(rl.random.stateless_categorical(rl.asarray(logits), N, seed=(7, 7)))
    assert draws.shape == (2, N) and draws.dtype == np.int64
    for row, samples in zip(logits, draws):
        expected = N * special.softmax(row.astype(np.float64))
        counts = np.bincount(samples, minlength=len(row))
        assert stats.chisquare(counts, expected).pvalue > 1e-4


def test_categorical_never_draws_classes_with_minus_inf_logits():
    logits = rl.asarray([[-np.inf, 0.0, -np.inf, 1.0]])
    draws = _np(rl.random.stateless_categorical(logits, 500, seed=(1, 2), dtype=rl.int32))
    assert draws.dtype == np.int32 and set(draws.ravel().tolist()) == {1, 3}


def test_uniform_ints_are_uniform_over_range_chi_square():
    x = _np(rl.random.stateless_uniform((N,), (8, 8), minval=3, maxval=10, dtype=rl.int8))
    assert x.dtype == np.int8 and x.min() == 3 and x.max() == 9
    assert stats.chisquare(np.bincount(x - 3)).pvalue > 1e-4


@pytest.mark.parametrize("dtype", [rl.int64, rl.uint8])
def test_uniform_ints_cover_the_full_dtype_range(dtype):
    info = np.iinfo(dtype)
    x = _np(rl.random.stateless_uniform((1000,), (1, 3), info.min, int(info.max) + 1, dtype))
    assert x.dtype == dtype and (x < 0).any() == (info.min < 0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**64 - 1),
    low=st.floats(-1e3, 1e3),
    width=st.floats(1e-3, 1e3),
    dtype=st.sampled_from([rl.float16, rl.bfloat16, rl.float32, rl.float64]),
)
def test_uniform_stays_in_half_open_interval_after_rounding(seed, low, width, dtype):
    high = float(np.asarray(low + width).astype(dtype))
    low = float(np.asarray(low).astype(dtype))
    if not low < high:
        return
    x = _np(rl.random.stateless_uniform((64,), (seed, 1), low, high, dtype)).astype(np.float64)
    assert (x >= low).all() and (x < high).all()


# --- permutations --------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 2**64 - 1))
def test_permutation_is_a_permutation(n, seed):
    rl.random.set_seed(seed)
    p = _np(rl.random.permutation(n))
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(n))


def test_shuffle_moves_whole_rows():
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    y = _np(rl.random.stateless_shuffle(rl.asarray(x), seed=(0, 1)))
    assert y.dtype == np.float32 and not np.array_equal(x, y)
    assert sorted(map(tuple, y.tolist())) == sorted(map(tuple, x.tolist()))
    np.testing.assert_array_equal(y[:, 1:] - y[:, :1], x[:, 1:] - x[:, :1])


def test_permutation_of_tensor_shuffles_it_and_is_roughly_uniform():
    firsts = [int(_np(rl.random.stateless_shuffle(rl.arange(4), (s, 0)))[0]) for s in range(400)]
    assert stats.chisquare(np.bincount(firsts, minlength=4)).pvalue > 1e-4
    rl.random.set_seed(5)
    assert sorted(_np(rl.random.permutation(rl.arange(5) * 2)).tolist()) == [0, 2, 4, 6, 8]


# --- dtypes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [rl.float16, rl.bfloat16, rl.float32, rl.float64])
def test_float_draws_have_requested_dtype(dtype):
    for draw in (rl.random.normal, rl.random.uniform, rl.random.truncated_normal):
        x = draw((2, 3), dtype=dtype)
        assert x.dtype == dtype and x.shape == (2, 3)
        assert np.isfinite(_np(x).astype(np.float64)).all()


def test_low_precision_uniform_uses_the_dtype_significand():
    x = _np(rl.random.stateless_uniform((4096,), (2, 9), dtype=rl.float16)).astype(np.float64)
    assert x.max() < 1.0 and len(np.unique(x)) > 1000  # 11 bits: up to 2048 values
    np.testing.assert_array_equal(x * 2**11, np.round(x * 2**11))


def test_empty_shapes_give_empty_tensors():
    assert rl.random.normal((0, 3)).shape == (0, 3)
    assert rl.random.permutation(0).shape == (0,)
    assert rl.random.uniform(()).shape == ()


# --- the kernel contract: rule == kernel output, out= honoured ---------------------------------

KEY = rl.random.key((12, 34))
KERNEL_CALLS = [
    (random_ops.stateless_random_uniform, (KEY,), {"shape": (3, 2), "dtype": rl.bfloat16}),
    (
        random_ops.stateless_random_uniform,
        (KEY,),
        {"shape": (5,), "minval": -4, "maxval": 9, "dtype": rl.int16},
    ),
    (random_ops.stateless_random_normal, (KEY,), {"shape": (3,), "dtype": rl.float16}),
    (random_ops.stateless_random_normal, (KEY,), {"shape": (2, 3), "dtype": rl.float64}),
    (random_ops.stateless_truncated_normal, (KEY,), {"shape": (4, 1), "stddev": -2.0}),
    (random_ops.stateless_random_bernoulli, (KEY, rl.asarray([[0.2], [0.9]])), {"shape": (2, 3)}),
    (random_ops.stateless_categorical, (KEY, rl.zeros((3,))), {"num_samples": 4}),
    (
        random_ops.stateless_categorical,
        (KEY, rl.zeros((2, 3), rl.float16)),
        {"num_samples": 4, "dtype": rl.int32},
    ),
    (random_ops.stateless_shuffle, (KEY, rl.ones((4, 2), rl.float16)), {}),
    (random_ops.dropout_mask, (KEY,), {"shape": (2, 2), "rate": 0.5, "dtype": rl.float64}),
]


@pytest.mark.parametrize("op, args, attrs", KERNEL_CALLS, ids=lambda v: getattr(v, "name", ""))
def test_random_kernels_match_their_rules(op, args, attrs, check_rules):
    out = op(*args, **attrs)
    spec = op.rule(*[np.asarray(a) for a in args], **attrs)
    assert (out.shape, out.dtype) == (spec.shape, spec.dtype)


@pytest.mark.parametrize("op, args, attrs", KERNEL_CALLS, ids=lambda v: getattr(v, "name", ""))
def test_random_kernels_write_into_out(op, args, attrs):
    values = [np.asarray(a) for a in args]
    spec = op.rule(*values, **attrs)
    buffer = np.zeros(spec.shape, spec.dtype)
    result = op.kernel(np, *values, **attrs, out=buffer)
    assert result is buffer
    np.testing.assert_array_equal(buffer, np.asarray(op(*args, **attrs)))


def test_random_ops_are_not_differentiable_and_not_recorded():
    """A random op whose input p is watched contributes no gradient (it is declared
    non-differentiable), so only the multiply's gradient flows."""
    assert not random_ops.stateless_random_bernoulli.differentiable
    p = rl.asarray([0.5, 0.5, 0.5, 0.5])
    with rl.GradientTape() as tape:
        tape.watch(p)
        draws = rl.random.stateless_bernoulli((4,), (1, 1), p=p).astype(rl.float32)
        total = rl.sum(draws * p)
    np.testing.assert_array_equal(np.asarray(tape.gradient(total, p)), np.asarray(draws))


# --- dropout -------------------------------------------------------------------------------------


def test_dropout_preserves_expected_value():
    y = _np(rl.dropout(rl.ones((N,)), 0.3, seed=1))
    assert set(np.unique(y).tolist()) <= {0.0, float(np.float32(1 / 0.7))}
    tolerance = 4.5 * math.sqrt(0.3 / 0.7 / N)  # std of one element: sqrt(rate / (1 - rate))
    assert abs(y.mean() - 1.0) < tolerance
    assert abs((y == 0).mean() - 0.3) < 4.5 * math.sqrt(0.21 / N)


def test_dropout_with_rate_zero_is_identity():
    x = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    np.testing.assert_array_equal(_np(rl.dropout(rl.asarray(x), 0.0)), x)


def test_dropout_mask_depends_only_on_key():
    key = rl.random.key((6, 1))
    a = _np(random_ops.stateless_dropout(rl.ones((50,)), key, rate=0.5))
    b = _np(random_ops.stateless_dropout(rl.full((50,), 3.0), key, rate=0.5))
    np.testing.assert_array_equal(a == 0, b == 0)
    np.testing.assert_array_equal(a == 0, keep_reference(key, (50,)) < 0.5)


def test_dropout_noise_shape_shares_mask_along_broadcast_axes():
    y = _np(rl.dropout(rl.ones((3, 50, 4)), 0.5, noise_shape=(3, 1, 4), seed=2))
    assert (y == y[:, :1, :]).all()
    assert 0 < (y == 0).mean() < 1


def test_dropout_gradient_equals_mask_over_keep_probability():
    key, rate = rl.random.key((8, 2)), 0.4
    x = rl.asarray(np.random.default_rng(1).standard_normal((4, 6)))
    with rl.GradientTape() as tape:
        tape.watch(x)
        total = rl.sum(random_ops.stateless_dropout(x, key, rate=rate))
    grad = _np(tape.gradient(total, x))
    expected = (keep_reference(key, (4, 6)) >= rate) / (1 - rate)
    np.testing.assert_allclose(grad, expected, rtol=1e-15)
    check_grads(lambda t: random_ops.stateless_dropout(t, key, rate=rate), [_np(x)])


def test_public_dropout_gradient_uses_the_forward_mask():
    x = rl.asarray(np.random.default_rng(2).uniform(1.0, 2.0, (30,)))
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = rl.dropout(x, 0.25)
        total = rl.sum(y)
    grad = _np(tape.gradient(total, x))
    np.testing.assert_allclose(grad, np.where(_np(y) != 0, 1 / 0.75, 0.0))


# --- errors --------------------------------------------------------------------------------------


def test_dropout_rate_out_of_range_names_function_value_and_line():
    with pytest.raises(ArgumentError, match=r"dropout: rate=1\.5 must be in \[0, 1\)") as info:
        rl.dropout(rl.ones((3,)), 1.5)
    assert "test_random.py:" in str(info.value)


def test_negative_shape_is_an_argument_error():
    with pytest.raises(ArgumentError, match=r"random\.normal: shape=\(2, -1\) has a negative"):
        rl.random.normal((2, -1))


@pytest.mark.parametrize("minval, maxval", [(5, 3), (4, 4)])
def test_uniform_ints_need_maxval_above_minval(minval, maxval):
    with pytest.raises(ArgumentError, match=rf"random\.uniform: maxval={maxval} .*minval={minval}"):
        rl.random.uniform((3,), minval, maxval, dtype=rl.int32)


def test_uniform_ints_require_maxval():
    with pytest.raises(ArgumentError, match=r"random\.uniform: maxval is required .*int64"):
        rl.random.uniform((3,), dtype=rl.int64)


def test_uniform_range_must_fit_dtype():
    with pytest.raises(ArgumentError, match=r"stateless_uniform: .*\[0, 300\).*uint8"):
        rl.random.stateless_uniform((3,), (1, 2), 0, 300, rl.uint8)


@pytest.mark.parametrize("seed", ["abc", 1.5, True, [1]])
def test_set_seed_rejects_non_int_seeds(seed):
    with pytest.raises(
        ArgumentTypeError,
        match=rf"random\.set_seed: seed must be an int, got "
        rf"{re.escape(repr(seed))}",
    ):
        rl.random.set_seed(seed)


def test_op_seed_must_be_an_int():
    with pytest.raises(ArgumentTypeError, match=r"random\.uniform: seed must be an int, got 0\.5"):
        rl.random.uniform((2,), seed=0.5)


@pytest.mark.parametrize("seed", [1, (1,), (1, 2, 3), "ab"])
def test_stateless_seed_must_be_a_pair(seed):
    with pytest.raises(ArgumentTypeError, match=r"random\.stateless_normal: seed must be a pair"):
        rl.random.stateless_normal((2,), seed=seed)


def test_float_tensor_seed_is_rejected():
    with pytest.raises(ArgumentTypeError, match=r"stateless_bernoulli: seed must hold ints"):
        rl.random.stateless_bernoulli((2,), seed=rl.asarray([1.0, 2.0]))


def test_normal_rejects_integer_dtype():
    with pytest.raises(DTypeError, match=r"truncated_normal: dtype=int32 is not a floating dtype"):
        rl.random.truncated_normal((2,), dtype=rl.int32)


def test_bernoulli_probability_out_of_range():
    with pytest.raises(ArgumentError, match=r"random\.bernoulli: p=1\.5 must be in \[0, 1\]"):
        rl.random.bernoulli((2,), p=1.5)


def test_categorical_needs_rank_one_or_two_float_logits():
    with pytest.raises(
        ShapeError,
        match=r"random\.categorical: logits must have rank 1 or 2, "
        r"got shape \(1, 2, 3\)",
    ):
        rl.random.categorical(rl.zeros((1, 2, 3)), 4)
    with pytest.raises(DTypeError, match=r"random\.categorical: logits has dtype int64"):
        rl.random.categorical(rl.asarray([[1, 2]]), 4)


def test_dropout_noise_shape_must_broadcast_to_x():
    with pytest.raises(
        ShapeError,
        match=r"dropout: noise_shape=\(2, 3\) does not broadcast "
        r"to x\(2, 4\)",
    ):
        rl.dropout(rl.ones((2, 4)), 0.5, noise_shape=(2, 3))


def test_dropout_rejects_integer_x():
    with pytest.raises(DTypeError, match=r"dropout: x has dtype int64, expected a floating"):
        rl.dropout(rl.asarray([1, 2]), 0.5)


def test_random_op_rejects_key_of_wrong_dtype_or_shape():
    with pytest.raises(
        DTypeError,
        match=r"stateless_random_normal: key has dtype int64, "
        r"expected uint32",
    ):
        random_ops.stateless_random_normal(rl.asarray([1, 2, 3, 4]), shape=(2,))
    with pytest.raises(
        ShapeError,
        match=r"stateless_shuffle: key must have shape \(4,\), "
        r"got \(2,\)",
    ):
        short_key = rl.Tensor._wrap(np.array([1, 2], np.uint32))  # uint32: not a public dtype
        random_ops.stateless_shuffle(short_key, rl.arange(3))


def test_shuffle_of_scalar_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"random\.shuffle: x must have rank >= 1"):
        rl.random.shuffle(rl.asarray(3.0))
