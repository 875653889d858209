import numpy as np

import rillet as rl
from rillet.testing.opinfo import OpInfo, Sample, randn


def _stable_order(x, axis=-1, descending=False):
    """Stable argsort; descending sorts the negation, so equal values keep their order."""
    return np.argsort(-x if descending else x, axis=axis, kind="stable")


def _sort_ref(x, axis=-1, descending=False):
    return np.take_along_axis(x, _stable_order(x, axis, descending), axis=axis)


def _top_k_ref(x, k=1, sorted=True):
    indices = _stable_order(x, descending=True)[..., :k]
    return np.take_along_axis(x, indices, axis=-1), indices


def _sort_samples(rng, dtype):
    x = randn(rng, (3, 5), dtype)
    return [
        Sample((x,), {"axis": axis, "descending": descending})
        for axis in (-1, 0)
        for descending in (False, True)
    ] + [Sample((randn(rng, (2, 3, 4), dtype),), {"axis": 1, "descending": True})]


def _argsort_samples(rng, dtype):
    tied = np.array([[2.0, 1.0, 2.0, 0.5, 1.0], [3.0, 3.0, 3.0, -1.0, 3.0]], dtype=dtype)
    return _sort_samples(rng, dtype) + [
        Sample((tied,), {"descending": True}),
        Sample((tied,), {"descending": False}),
    ]


def _top_k_samples(rng, dtype):
    return [
        Sample((randn(rng, (6,), dtype),), {"k": 3}),
        Sample((randn(rng, (2, 3, 5), dtype),), {"k": 5}),
        Sample((randn(rng, (3, 4), dtype),), {"k": 1, "sorted": False}),
        # Ties: values and the lower-index-first order are checked; the gradient at a tie
        # is not differentiable, so finite differences skip this sample.
        Sample(
            (np.array([[1.0, 4.0, 2.0, 4.0], [0.0, 0.0, 0.0, 0.0]], dtype=dtype),),
            {"k": 3},
            grad_args=(),
        ),
    ]


OPS = [
    OpInfo("sort", rl.sort, _sort_ref, _sort_samples, grad2=True),
    OpInfo(
        "argsort",
        rl.argsort,
        lambda x, axis=-1, descending=False: _stable_order(x, axis, descending),
        _argsort_samples,
        grad=False,
    ),
    OpInfo("top_k", rl.top_k, _top_k_ref, _top_k_samples, grad2=True),
]
