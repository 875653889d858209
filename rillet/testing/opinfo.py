"""OpInfo: one table row per op drives every generic op test.

A row names the public callable, a NumPy/SciPy reference, and a function making sample
inputs for a dtype. ``tests/ops/test_opinfo.py`` runs every row through the same checks:
values against the reference (float16/bfloat16 too), the shape rule against the kernel
output, gradients against finite differences in float64, and second-order gradients for
smooth ops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from .. import dtypes as _dtypes

FLOATS = (_dtypes.float32, _dtypes.float64, _dtypes.float16, _dtypes.bfloat16)

# Relative/absolute tolerance of values against a float64 reference, by dtype.
TOLERANCE = {
    _dtypes.float64: (1e-10, 1e-12),
    _dtypes.float32: (2e-5, 1e-6),
    _dtypes.float16: (5e-3, 5e-3),
    _dtypes.bfloat16: (3e-2, 3e-2),
}


@dataclasses.dataclass
class Sample:
    """Arguments for one call: NumPy arrays become tensors, other values pass as they are."""

    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    grad_args: tuple[int, ...] | None = None  # None: every floating array argument


@dataclasses.dataclass
class OpInfo:
    """One op's test row.

    ``ref`` takes the sample's arguments with floating arrays in float64 and returns the
    expected value(s). ``samples(rng, dtype)`` returns a list of :class:`Sample`.
    """

    name: str
    op: Callable
    ref: Callable | None
    samples: Callable[[np.random.Generator, np.dtype], list[Sample]]
    dtypes: tuple = FLOATS
    grad: bool = True
    grad2: bool = False
    tolerance: dict = dataclasses.field(default_factory=dict)  # dtype -> (rtol, atol)
    grad_tolerance: tuple[float, float] = (1e-4, 1e-6)  # (rtol, atol) for gradients
    skips: dict = dataclasses.field(default_factory=dict)  # check name -> reason

    def tol(self, dtype) -> tuple[float, float]:
        return self.tolerance.get(dtype, TOLERANCE.get(dtype, (0.0, 0.0)))


def randn(rng: np.random.Generator, shape, dtype=np.float32, scale: float = 1.0) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape) * scale).astype(dtype)


def uniform(rng: np.random.Generator, shape, dtype=np.float32, low=-1.0, high=1.0) -> np.ndarray:
    return np.asarray(rng.uniform(low, high, shape)).astype(dtype)


def away_from(rng, shape, dtype=np.float32, points=(0.0,), gap: float = 0.1) -> np.ndarray:
    """Normal samples nudged at least ``gap`` away from each of ``points`` (kinks)."""
    x = rng.standard_normal(shape)
    for p in points:
        near = np.abs(x - p) < gap
        x = np.where(near, p + np.where(x >= p, gap, -gap) * 2, x)
    return np.asarray(x).astype(dtype)
