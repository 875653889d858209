"""Op table for reductions, scans, norms and their private gradient helpers."""

import numpy as np
from scipy.special import logsumexp as scipy_logsumexp

import rillet as rl
from rillet.ops import reduction as red
from rillet.testing.opinfo import OpInfo, Sample, away_from, randn

# Reductions of rounded float16/bfloat16 inputs accumulate in float32 and round once, but a
# small result can come from a large cancelling sum: loosen the absolute tolerance.
SUMS = {np.dtype(np.float16): (1e-2, 1e-2), rl.bfloat16: (5e-2, 5e-2)}
AXES = (None, 0, -1, (0, 2), [1])


def _np_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _reducing(make=randn, axes=AXES, **extra):
    """A (2, 3, 4) input reduced over each of ``axes``, with and without keepdims."""

    def samples(rng, dtype):
        x = make(rng, (2, 3, 4), dtype)
        return [
            Sample((x,), {"axis": a, "keepdims": k, **extra}) for a in axes for k in (False, True)
        ]

    return samples


def _numpy_reduction(fn):
    return lambda x, axis=None, keepdims=False, **kw: fn(
        x, axis=_np_axis(axis), keepdims=keepdims, **kw
    )


def _with_zeros(rng, shape, dtype):
    """Normal values with one zero in row 0 and two in row 1 (along the last axis)."""
    x = away_from(rng, shape, np.float64, gap=0.2)
    x[..., 0, 1] = 0.0
    x[..., 1, 0] = x[..., 1, 2] = 0.0
    return x.astype(dtype)


def _prod_samples(rng, dtype):
    x = _with_zeros(rng, (2, 3), dtype)
    cases = [(None, False), (0, False), (-1, True), ((0, 1), True), (1, False)]
    return [Sample((x,), {"axis": a, "keepdims": k}) for a, k in cases]


def _moment_samples(rng, dtype):
    x = randn(rng, (2, 3, 4), dtype)
    return [
        Sample((x,), {"axis": a, "keepdims": k, "correction": c})
        for a, k, c in [(None, False, 0), (0, True, 1), (-1, False, 1), ((0, 2), False, 0)]
    ]


def _logsumexp_samples(rng, dtype):
    x = randn(rng, (2, 3, 4), dtype)
    big = (randn(rng, (3, 4), np.float64) * 3 + 80).astype(dtype)  # exp would overflow float32
    return _reducing()(rng, dtype)[:6] + [Sample((big,), {"axis": 1}), Sample((x,), {})]


def _logsumexp_ref(x, axis=None, keepdims=False):
    return scipy_logsumexp(x, axis=_np_axis(axis), keepdims=keepdims)


def _arg_samples(rng, dtype):
    x = randn(rng, (3, 4, 5), dtype)
    cases = [(None, False), (0, False), (-1, True), (1, False), (None, True)]
    return [Sample((x,), {"axis": a, "keepdims": k}) for a, k in cases]


def _truthy_samples(rng, dtype):
    x = randn(rng, (3, 4), dtype) * (rng.random((3, 4)) < 0.7)  # some exact zeros
    x = x.astype(dtype)
    ones = np.ones((2, 3), dtype)
    cases = [(x, None), (x, 0), (x, -1), (x, (0, 1)), (ones, None), (np.zeros((2, 0), dtype), 1)]
    return [Sample((v,), {"axis": a, "keepdims": k}) for v, a in cases for k in (False, True)]


def _scan_ref(fn, identity):
    """A scan with ``exclusive`` (shift the input right by one) and ``reverse`` (flip)."""

    def ref(x, axis=None, exclusive=False, reverse=False):
        if axis is None:
            x, axis = x.reshape(-1), 0
        x = np.flip(x, axis) if reverse else x
        if exclusive:
            head = np.full_like(np.take(x, [0], axis=axis), identity)
            x = np.concatenate([head, np.take(x, range(x.shape[axis] - 1), axis=axis)], axis)
        y = fn(x, axis=axis)
        return np.flip(y, axis) if reverse else y

    return ref


def _scan_samples(make):
    def samples(rng, dtype):
        x = make(rng, (3, 4), dtype)
        cases = [(None, False, False), (0, False, False), (-1, True, False), (1, False, True),
                 (0, True, True)]  # fmt: skip
        return [Sample((x,), {"axis": a, "exclusive": e, "reverse": r}) for a, e, r in cases]

    return samples


def _nonzero(rng, shape, dtype):
    return away_from(rng, shape, dtype, gap=0.3)


NORM_CASES = [
    (None, None), (None, 1), (2, 0), (1, -1), (np.inf, 0), (None, (0, 1)),
    ("fro", (0, 1)), (1, (0, 1)), (np.inf, (1, 0)), (1, None), (np.inf, None),
]  # fmt: skip


def _norm_samples(rng, dtype):
    x = away_from(rng, (3, 4), dtype, gap=0.2)
    return [
        Sample((x,), {"ord": o, "axis": a, "keepdims": k})
        for (o, a), k in zip(NORM_CASES, [False, True] * len(NORM_CASES))
    ] + [Sample((randn(rng, (2, 3, 2), dtype),), {"axis": (0, 2)})]


def _norm_ref(x, ord=None, axis=None, keepdims=False):
    if axis is not None and not isinstance(axis, int) and len(axis) > 2:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def _moved(x, axes):
    """(x with ``axes`` moved last and flattened, a function putting such a result back)."""
    moved = np.moveaxis(x, axes, range(-len(axes), 0))
    flat = moved.reshape(moved.shape[: x.ndim - len(axes)] + (-1,))
    return flat, lambda r: np.moveaxis(r.reshape(moved.shape), range(-len(axes), 0), axes)


def _prod_others_ref(x, axis=None):
    axes = tuple(range(x.ndim)) if axis is None else tuple(np.atleast_1d(axis) % x.ndim)
    flat, back = _moved(x, axes)
    others = [np.prod(np.delete(flat, i, axis=-1), axis=-1) for i in range(flat.shape[-1])]
    return back(np.stack(others, axis=-1))


def _prod_others_samples(rng, dtype):
    x = _with_zeros(rng, (2, 3), dtype)
    return [Sample((x,), {"axis": a}) for a in (None, 0, -1)] + [
        Sample((_with_zeros(rng, (2, 2, 3), dtype),), {"axis": (1, 2)})
    ]


def _weights_samples(rng, dtype):
    x = (np.round(randn(rng, (3, 4), np.float64) * 1.5) / 2).astype(dtype)  # many ties
    out = []
    for op in (np.max, np.min):
        for axis, keep in [(None, False), (0, True), (1, False)]:
            out.append(
                Sample((x, op(x, axis=axis, keepdims=keep)), {"axis": axis, "keepdims": keep})
            )
    return out


def _weights_ref(x, y, axis=None, keepdims=False):
    """Ties counted slice by slice."""
    y = y if keepdims or axis is None else np.expand_dims(y, axis)
    hits = (x == y).astype(np.float64)
    return hits / hits.sum(axis=axis, keepdims=True)


def _masks_ref(x, axis=0, reverse=False):
    moved = np.moveaxis(x, axis, -1)
    before, first = np.zeros_like(moved), np.zeros_like(moved)
    order = range(moved.shape[-1] - 1, -1, -1) if reverse else range(moved.shape[-1])
    for index in np.ndindex(moved.shape[:-1]):
        for i in order:
            if moved[index + (i,)] == 0:
                first[index + (i,)] = 1
                break
            before[index + (i,)] = 1
    return np.moveaxis(before, -1, axis), np.moveaxis(first, -1, axis)


def _masks_samples(rng, dtype):
    x = _with_zeros(rng, (3, 4), dtype)
    return [Sample((x,), {"axis": a, "reverse": r}) for a in (0, 1, -1) for r in (False, True)]


def _reciprocal_ref(x):
    with np.errstate(divide="ignore"):
        return np.where(x == 0, 0.0, 1 / x)


def _reciprocal_samples(rng, dtype):
    zeros = np.array([0.0, 2.0, -0.5, 0.0], dtype)
    # the function jumps at 0: check the gradient only away from it
    return [Sample((away_from(rng, (3, 4), dtype, gap=0.3),)), Sample((zeros,), grad_args=())]


def _subgradient_ref(x, ord=None, axis=None):
    """Central differences of NumPy's norm (the norms are piecewise linear away from ties)."""
    grad, eps = np.zeros_like(x), 1e-6
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        up = np.linalg.norm(x + step, ord=ord, axis=axis)
        down = np.linalg.norm(x - step, ord=ord, axis=axis)
        grad[index] = np.sum(up - down) / (2 * eps)
    return grad


def _subgradient_samples(rng, dtype):
    x = away_from(rng, (3, 4), dtype, gap=0.2)
    cases = [(1, 0), (np.inf, -1), (1, (0, 1)), (np.inf, (1, 0)), (1, None)]
    # the spectral norm's subgradient has no gradient rule of its own (second order)
    return [Sample((x,), {"ord": o, "axis": a}) for o, a in cases] + [
        Sample((x,), {"ord": 2, "axis": (0, 1)}, grad_args=())
    ]


# a finite-difference reference, and an SVD in float32
HELPERS = {np.dtype(np.float64): (1e-6, 1e-7), np.dtype(np.float32): (1e-4, 1e-5)}


OPS = [
    OpInfo("mean", rl.mean, _numpy_reduction(np.mean), _reducing(), grad2=True, tolerance=SUMS),
    OpInfo("prod", rl.prod, _numpy_reduction(np.prod), _prod_samples, grad2=True,
           tolerance=SUMS),
    OpInfo("max", rl.max, _numpy_reduction(np.max), _reducing(), grad2=True),
    OpInfo("min", rl.min, _numpy_reduction(np.min), _reducing(), grad2=True),
    OpInfo("var", rl.var, lambda x, correction, **kw: _numpy_reduction(np.var)(
        x, ddof=correction, **kw), _moment_samples, grad2=True, tolerance=SUMS),
    OpInfo("std", rl.std, lambda x, correction, **kw: _numpy_reduction(np.std)(
        x, ddof=correction, **kw), _moment_samples, grad2=True, tolerance=SUMS),
    OpInfo("logsumexp", rl.logsumexp, _logsumexp_ref, _logsumexp_samples, grad2=True,
           tolerance=SUMS),
    OpInfo("argmax", rl.argmax, np.argmax, _arg_samples, grad=False),
    OpInfo("argmin", rl.argmin, np.argmin, _arg_samples, grad=False),
    OpInfo("all", rl.all, _numpy_reduction(np.all), _truthy_samples, grad=False),
    OpInfo("any", rl.any, _numpy_reduction(np.any), _truthy_samples, grad=False),
    OpInfo("cumsum", rl.cumsum, _scan_ref(np.cumsum, 0), _scan_samples(randn), grad2=True,
           tolerance=SUMS),
    # second order at exact zeros is not exact for cumprod (first order is: test_reduction.py)
    OpInfo("cumprod", rl.cumprod, _scan_ref(np.cumprod, 1), _scan_samples(_nonzero),
           grad2=True, tolerance=SUMS),
    OpInfo("norm", rl.norm, _norm_ref, _norm_samples, grad2=True, tolerance=SUMS),
    OpInfo("_prod_others", red._prod_others, _prod_others_ref, _prod_others_samples,
           grad2=True, tolerance=SUMS),
    OpInfo("_extremum_weights", red._extremum_weights, _weights_ref, _weights_samples,
           grad=False),
    OpInfo("_cumprod_zero_masks", red._cumprod_zero_masks, _masks_ref, _masks_samples,
           grad=False),
    OpInfo("_reciprocal_or_zero", red._reciprocal_or_zero, _reciprocal_ref,
           _reciprocal_samples, grad2=True),
    OpInfo("_norm_subgradient", red._norm_subgradient, _subgradient_ref, _subgradient_samples,
           tolerance={**SUMS, **HELPERS}),
]  # fmt: skip
