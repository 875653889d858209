"""The op catalog of the fuzzer: how to propose, print and guard each kind of step.

An entry's ``template`` prints a step as one Python expression of public rillet calls (the
ops' only definitions are in the registry; the catalog only knows how to call them). Its
``propose(builder)`` picks argument values and attributes that satisfy the op's shape rule
by construction (adding fresh inputs or constants of fitting shapes when no value fits),
and its optional ``guard(margin, attrs, *arrays)`` keeps the op away from points where a
rounding difference between modes would change the result discontinuously: kinks (``relu``
at 0), ties (``max`` of equal values), branch conditions near their threshold, and the
edges of domains (``log`` near 0).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

# Kinks and ties are avoided by this margin, relative to the values' scale. Float64 programs
# differ between modes by a few ulps (1e-16) amplified along the program; float32 (and mixed)
# ones by a few float32 ulps (1e-7). The margins leave room for 1e6 ulps of drift.
MARGIN = {"float64": 1e-10, "float32": 1e-3, "mixed": 1e-3}


@dataclasses.dataclass
class FuzzOp:
    """One catalog entry. ``effect``: the step updates state (kept when unused)."""

    name: str
    template: str | Callable[[list, dict], str]
    propose: Callable
    guard: Callable | None = None
    weight: float = 1.0
    family: str = "elementwise"
    effect: bool = False

    def source(self, names: list, attrs: dict) -> str:
        if callable(self.template):
            return self.template(names, attrs)
        return self.template.format(*names, **attrs)


CATALOG: dict[str, FuzzOp] = {}


def entry(name, template, propose, guard=None, weight=1.0, family="elementwise", effect=False):
    CATALOG[name] = FuzzOp(name, template, propose, guard, weight, family, effect)


def choose_op(rng: np.random.Generator, names: list[str]) -> str:
    weights = np.array([CATALOG[n].weight for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


# -- shapes -------------------------------------------------------------------------------


def random_shape(rng, max_rank: int = 4) -> tuple:
    rank = int(rng.choice(max_rank + 1, p=[0.05, 0.2, 0.35, 0.25, 0.15][: max_rank + 1]))
    return tuple(int(s) for s in rng.integers(1, 5, size=rank))


def broadcast_partner(rng, shape: tuple) -> tuple:
    """A shape that broadcasts with ``shape``: a suffix of it, some sizes set to 1 (or a
    size-1 axis grown), sometimes with a new leading axis.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> all(broadcasts((2, 1, 3), broadcast_partner(rng, (2, 1, 3))) for _ in range(200))
    True
    """
    keep = int(rng.integers(0, len(shape) + 1)) if rng.random() < 0.3 else len(shape)
    out = []
    for size in shape[len(shape) - keep :]:
        roll = rng.random()
        if size == 1:
            out.append(int(rng.integers(2, 4)) if roll < 0.3 else 1)
        else:
            out.append(1 if roll < 0.25 else size)
    if keep == len(shape) and len(out) < 4 and rng.random() < 0.1:
        out.insert(0, 2)  # a new leading axis (only in front of the whole shape)
    return tuple(out)


def broadcasts(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def random_axis(rng, rank: int):
    """None, an axis (maybe negative) or a tuple of distinct axes."""
    roll = rng.random()
    if rank == 0 or roll < 0.2:
        return None
    if roll < 0.7:
        axis = int(rng.integers(rank))
        return axis - rank if rng.random() < 0.3 else axis
    count = int(rng.integers(1, rank + 1))
    return tuple(sorted(int(a) for a in rng.choice(rank, size=count, replace=False)))


# -- guards -------------------------------------------------------------------------------


def scale_of(*arrays) -> float:
    return 1.0 + max((float(np.abs(a).max()) for a in arrays if np.size(a)), default=0.0)


def away_from(margin, x, *points) -> bool:
    """``x`` is farther than the margin from every one of ``points``."""
    gap = margin * scale_of(x)
    return all(bool((np.abs(x - p) > gap).all()) for p in points)


def distinct(margin, x) -> bool:
    """No two values of ``x`` are within the margin (no ties for max, sort, pooling)."""
    flat = np.sort(np.asarray(x, np.float64).reshape(-1))
    return flat.size < 2 or bool(np.diff(flat).min() > margin * scale_of(x))


def kink_guard(*points):
    return lambda margin, attrs, x: away_from(margin, x, *points)


def min_guard(low):
    return lambda margin, attrs, x: bool(np.size(x) == 0 or x.min() > low)


def abs_guard(low):
    return lambda margin, attrs, x: bool(np.size(x) == 0 or np.abs(x).min() > low)


def pick_ranked(builder, low: int = 1, high: int = 5):
    """A value of rank ``low`` to ``high - 1``, or None."""
    return builder.pick(lambda j: low <= len(builder.shape(j)) < high)


# Register the entries (the family modules import the helpers above).
from . import ops_control, ops_elementwise, ops_nn, ops_shape  # noqa: E402, F401
