"""Learning-rate schedules (``keras.optimizers.schedules``): callables of the step count.

Each schedule is written with rillet ops and no Python branching on the step, so the
optimizer's step traces into a graph with the schedule inside it.

>>> import rillet as rl
>>> from rillet.optimizers import schedules
>>> decay = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> round(float(decay(10)), 6), round(float(decay(rl.asarray(20))), 6)
(0.05, 0.025)
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ArgumentError, ArgumentTypeError
from ..tensor import Tensor


def _number(owner: str, name: str, value, positive: bool = False, low=None) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)):
        raise ArgumentError(f"{owner}: received {name}={value!r}, expected a finite number")
    if positive and value <= 0:
        raise ArgumentError(f"{owner}: received {name}={value!r}, expected a value > 0")
    if low is not None and value < low:
        raise ArgumentError(f"{owner}: received {name}={value!r}, expected a value >= {low}")
    return float(value)


def _as_step(step, dtype=_dtypes.float32):
    """The step as a floating tensor (from an int, a tensor or the iterations variable)."""
    if isinstance(step, (int, float, np.integer, np.floating)):
        return Tensor._wrap(np.asarray(step, dtype))
    return ops.cast(step, dtype=dtype)


class LearningRateSchedule:
    """Base class: ``schedule(step)`` is the learning rate at that step (a float32 tensor)."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _StepDecay(LearningRateSchedule):
    """A rate that decays with ``p = step / decay_steps`` (floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool, name):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.decay_rate = _number(owner, "decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def _progress(self, step):
        p = _as_step(step) / self.decay_steps
        return ops.floor(p) if self.staircase else p

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored
    when ``staircase``)."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate * ops.power(self.decay_rate, self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to and including step ``boundaries[0]``, ``values[1]`` up to
    ``boundaries[1]``, ..., ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values, name: str = "PiecewiseConstant"):
        owner = type(self).__name__
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ArgumentError(
                f"{owner}: the length of boundaries should be 1 less than the length of "
                f"values. Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}"
            )
        self.boundaries = [_number(owner, "boundaries", b) for b in boundaries]
        if any(b < a for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ArgumentError(
                f"{owner}: received boundaries={boundaries}, expected them in increasing order"
            )
        self.values = [_number(owner, "values", v) for v in values]
        self.name = name

    def __call__(self, step):
        step = _as_step(step, _dtypes.float64)  # exact for any int step up to 2**53
        rate = Tensor._wrap(np.asarray(self.values[0], _dtypes.float32))
        for boundary, value in zip(self.boundaries, self.values[1:]):
            rate = ops.where(step > boundary, value, rate)
        return rate

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps`` along
    ``(1 - step / decay_steps) ** power``; with ``cycle`` the horizon grows by
    ``decay_steps`` each time it is reached."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.end_learning_rate = _number(owner, "end_learning_rate", end_learning_rate)
        self.power = _number(owner, "power", power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step = _as_step(step)
        if self.cycle:
            # The first multiple of decay_steps at or above step (1 at step 0).
            multiplier = ops.maximum(ops.ceil(step / self.decay_steps), 1.0)
            horizon = multiplier * self.decay_steps
        else:
            step = ops.minimum(step, self.decay_steps)
            horizon = self.decay_steps
        fraction = 1.0 - step / horizon
        span = self.initial_learning_rate - self.end_learning_rate
        return span * ops.power(fraction, self.power) + self.end_learning_rate

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the ratio floored
    when ``staircase``)."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup, then cosine decay (Keras 3's ``CosineDecay``).

    Without ``warmup_target``: ``initial_learning_rate * ((1 - alpha) * c + alpha)`` with
    ``c = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))``. With it, the rate
    rises linearly from ``initial_learning_rate`` to ``warmup_target`` over
    ``warmup_steps``, then decays from ``warmup_target`` the same way over ``decay_steps``.
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name: str = "CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.alpha = _number(owner, "alpha", alpha)
        self.name = name
        if warmup_target is not None:
            warmup_target = _number(owner, "warmup_target", warmup_target)
        self.warmup_target = warmup_target
        self.warmup_steps = _number(owner, "warmup_steps", warmup_steps, low=0)

    def _decay(self, step, peak):
        cosine = 0.5 * (1.0 + ops.cos(math.pi * (step / self.decay_steps)))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = _as_step(step)
        if self.warmup_target is None:
            return self._decay(ops.minimum(step, self.decay_steps), self.initial_learning_rate)
        step = ops.minimum(step, self.decay_steps + self.warmup_steps)
        decayed = self._decay(ops.maximum(step - self.warmup_steps, 0.0), self.warmup_target)
        if self.warmup_steps == 0:
            return decayed
        rise = self.warmup_target - self.initial_learning_rate
        warm = rise * (step / self.warmup_steps) + self.initial_learning_rate
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): each period is ``t_mul`` times longer than
    the last and starts from ``m_mul`` times the previous peak."""

    def __init__(
        self,
        initial_learning_rate,
        first_decay_steps,
        t_mul=2.0,
        m_mul=1.0,
        alpha=0.0,
        name: str = "SGDRDecay",
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _number(owner, "first_decay_steps", first_decay_steps, True)
        self.t_mul = _number(owner, "t_mul", t_mul, positive=True)
        self.m_mul = _number(owner, "m_mul", m_mul)
        self.alpha = _number(owner, "alpha", alpha)
        self.name = name

    def __call__(self, step):
        done = _as_step(step) / self.first_decay_steps
        if self.t_mul == 1.0:
            restarts = ops.floor(done)
            done = done - restarts
        else:
            # The restart index i solves (t_mul**i - 1) / (t_mul - 1) <= done.
            log_t = math.log(self.t_mul)
            restarts = ops.floor(ops.log(1.0 - done * (1.0 - self.t_mul)) / log_t)
            passed = (1.0 - ops.power(self.t_mul, restarts)) / (1.0 - self.t_mul)
            done = (done - passed) / ops.power(self.t_mul, restarts)
        cosine = 0.5 * ops.power(self.m_mul, restarts) * (1.0 + ops.cos(math.pi * done))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_SCHEDULES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` as Keras writes it."""
    if not isinstance(schedule, LearningRateSchedule):
        raise ArgumentTypeError(
            f"schedules.serialize: expected a LearningRateSchedule, got {type(schedule).__name__}"
        )
    return {
        "module": "rillet.optimizers.schedules",
        "class_name": type(schedule).__name__,
        "config": schedule.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """The schedule described by ``config`` (from :func:`serialize`)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ArgumentError(f"schedules.deserialize: received config={config!r}")
    classes = {**_SCHEDULES, **(custom_objects or {})}
    cls = classes.get(config["class_name"])
    if cls is None:
        raise ArgumentError(
            f"schedules.deserialize: unknown schedule class_name={config['class_name']!r}; "
            f"expected one of {sorted(_SCHEDULES)}"
        )
    return cls.from_config(config.get("config", {}))


__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "serialize",
    "deserialize",
]
