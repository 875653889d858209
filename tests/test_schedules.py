"""Learning-rate schedules against NumPy formulas, in eager and traced code."""

import math

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError
from rillet.optimizers import schedules

STEPS = [0, 1, 3, 4, 5, 9, 10, 11, 12, 25, 28, 100]


def _exponential(step, staircase):
    p = step / 5
    return 0.1 * 0.5 ** (math.floor(p) if staircase else p)


def _inverse_time(step, staircase):
    p = step / 4
    return 0.2 / (1 + 0.5 * (math.floor(p) if staircase else p))


def _polynomial(step, cycle):
    init, end, steps, power = 0.1, 0.01, 10, 2.0
    if cycle:
        steps = steps * max(math.ceil(step / steps), 1)
    else:
        step = min(step, steps)
    return (init - end) * (1 - step / steps) ** power + end


def _cosine(step, initial=0.1, decay_steps=10, alpha=0.1, target=None, warmup=0):
    if target is None:
        step = min(step, decay_steps)
        return initial * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * step / decay_steps)) + alpha)
    step = min(step, decay_steps + warmup)
    if step < warmup:
        return (target - initial) * step / warmup + initial
    done = (step - warmup) / decay_steps
    return target * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * done)) + alpha)


def _piecewise(step):
    return 1.0 if step <= 3 else 0.5 if step <= 10 else 0.1


def _restarts(step, first=4, t_mul=2.0, m_mul=0.5, alpha=0.1):
    done = step / first
    i = 0
    length = 1.0
    while done >= length:  # walk through the periods
        done -= length
        length *= t_mul
        i += 1
    done /= length
    cosine = 0.5 * m_mul**i * (1 + math.cos(math.pi * done))
    return 0.1 * ((1 - alpha) * cosine + alpha)


CASES = [
    ("exponential", schedules.ExponentialDecay(0.1, 5, 0.5), lambda s: _exponential(s, False)),
    (
        "exponential_staircase",
        schedules.ExponentialDecay(0.1, 5, 0.5, staircase=True),
        lambda s: _exponential(s, True),
    ),
    ("inverse_time", schedules.InverseTimeDecay(0.2, 4, 0.5), lambda s: _inverse_time(s, False)),
    (
        "inverse_time_staircase",
        schedules.InverseTimeDecay(0.2, 4, 0.5, staircase=True),
        lambda s: _inverse_time(s, True),
    ),
    (
        "polynomial",
        schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0),
        lambda s: _polynomial(s, False),
    ),
    (
        "polynomial_cycle",
        schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0, cycle=True),
        lambda s: _polynomial(s, True),
    ),
    ("cosine", schedules.CosineDecay(0.1, 10, alpha=0.1), _cosine),
    (
        "cosine_warmup",
        schedules.CosineDecay(0.0, 10, alpha=0.1, warmup_target=0.2, warmup_steps=4),
        lambda s: _cosine(s, initial=0.0, target=0.2, warmup=4),
    ),
    (
        "piecewise",
        schedules.PiecewiseConstantDecay([3, 10], [1.0, 0.5, 0.1]),
        _piecewise,
    ),
    (
        "cosine_restarts",
        schedules.CosineDecayRestarts(0.1, 4, t_mul=2.0, m_mul=0.5, alpha=0.1),
        _restarts,
    ),
    (
        "cosine_restarts_constant_period",
        schedules.CosineDecayRestarts(0.1, 4, t_mul=1.0, m_mul=0.5, alpha=0.1),
        lambda s: _restarts(s, t_mul=1.0),
    ),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("schedule, reference", [c[1:] for c in CASES], ids=IDS)
def test_schedule_matches_numpy(schedule, reference):
    got = [float(schedule(step)) for step in STEPS]
    np.testing.assert_allclose(got, [reference(s) for s in STEPS], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("schedule, reference", [c[1:] for c in CASES], ids=IDS)
def test_schedule_takes_tensors_and_variables(schedule, reference):
    step = rl.Variable(np.int64(7), trainable=False)
    assert float(schedule(step)) == pytest.approx(reference(7), rel=1e-5, abs=1e-7)
    assert float(schedule(rl.asarray(7))) == pytest.approx(reference(7), rel=1e-5, abs=1e-7)
    assert schedule(rl.asarray(7)).dtype == rl.float32


@pytest.mark.parametrize("schedule, reference", [c[1:] for c in CASES], ids=IDS)
def test_schedule_traces(schedule, reference):
    traced = rl.function(lambda step: schedule(step))
    got = [float(traced(rl.asarray(s))) for s in STEPS]
    np.testing.assert_allclose(got, [reference(s) for s in STEPS], rtol=1e-5, atol=1e-7)
    assert traced.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("schedule", [c[1] for c in CASES], ids=IDS)
def test_get_config_round_trip(schedule):
    config = schedule.get_config()
    clone = type(schedule).from_config(config)
    assert clone.get_config() == config
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == config
    assert float(again(6)) == float(schedule(6))


def test_keras_default_names():
    assert schedules.ExponentialDecay(0.1, 1, 0.9).name == "ExponentialDecay"
    assert schedules.PiecewiseConstantDecay([1], [1.0, 0.5]).name == "PiecewiseConstant"
    assert schedules.CosineDecay(0.1, 10).get_config()["warmup_steps"] == 0


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.9), "decay_steps=0"),
        (lambda: schedules.PolynomialDecay(0.1, -5), "decay_steps=-5"),
        (lambda: schedules.CosineDecay("a", 10), "initial_learning_rate='a'"),
        (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1), "warmup_steps=-1"),
        (lambda: schedules.PiecewiseConstantDecay([1, 2], [1.0]), "1 less than the length"),
        (lambda: schedules.PiecewiseConstantDecay([5, 2], [1.0, 0.5, 0.1]), "increasing"),
        (lambda: schedules.deserialize({"class_name": "Nope", "config": {}}), "'Nope'"),
    ],
)
def test_bad_arguments_name_the_value(make, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        make()
