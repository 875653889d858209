"""Synthetic data sets made from a seed, for tests and examples: no download, the same
arrays on every machine (NumPy's PCG64 with an explicit seed).

>>> import rillet as rl
>>> (x, y) = rl.datasets.synthetic.classification(100, n_features=4, n_classes=3, seed=0)
>>> x.shape, y.shape, sorted(set(y.tolist()))
((100, 4), (100,), [0, 1, 2])
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError

__all__ = ["classification", "regression", "sequences", "images"]


def _check(name: str, **sizes) -> None:
    for key, value in sizes.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ArgumentError(f"received {key}={value!r}, expected a positive int", op=name)


def classification(
    n_samples: int = 1000,
    n_features: int = 20,
    n_classes: int = 2,
    noise: float = 0.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters, one per class around random centres: ``(x float32, y int64)``."""
    _check("synthetic.classification", n_samples=n_samples, n_features=n_features,
           n_classes=n_classes)  # fmt: skip
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n_features)) * 2.0
    y = rng.integers(0, n_classes, n_samples)
    x = centres[y] + noise * rng.standard_normal((n_samples, n_features))
    return x.astype(np.float32), y.astype(np.int64)


def regression(
    n_samples: int = 1000,
    n_features: int = 10,
    n_targets: int = 1,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A random linear map plus Gaussian noise: ``(x, y)`` float32, y of shape
    ``(n_samples, n_targets)``."""
    _check("synthetic.regression", n_samples=n_samples, n_features=n_features,
           n_targets=n_targets)  # fmt: skip
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_features))
    y = x @ rng.standard_normal((n_features, n_targets)) + noise * rng.standard_normal(
        (n_samples, n_targets)
    )
    return x.astype(np.float32), y.astype(np.float32)


def sequences(
    n_samples: int = 1000, length: int = 20, vocabulary: int = 50, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences (``int64``, 0 reserved for padding); the label says whether token 1
    (the "keyword") occurs: a task an RNN or attention model must look over time to solve."""
    _check("synthetic.sequences", n_samples=n_samples, length=length)
    if vocabulary < 3:
        raise ArgumentError(f"received vocabulary={vocabulary!r}, expected >= 3",
                            op="synthetic.sequences")  # fmt: skip
    rng = np.random.default_rng(seed)
    x = rng.integers(2, vocabulary, (n_samples, length))
    y = rng.integers(0, 2, n_samples)
    positions = rng.integers(0, length, n_samples)
    x[y == 1, positions[y == 1]] = 1
    return x.astype(np.int64), y.astype(np.int64)


def images(
    n_samples: int = 1000, size: int = 16, channels: int = 1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images (NHWC float32 in [0, 1]) holding a bright horizontal (label 0) or
    vertical (label 1) bar at a random place."""
    _check("synthetic.images", n_samples=n_samples, size=size, channels=channels)
    rng = np.random.default_rng(seed)
    x = 0.2 * rng.random((n_samples, size, size, channels))
    y = rng.integers(0, 2, n_samples)
    where = rng.integers(0, size, n_samples)
    for i in range(n_samples):
        if y[i] == 0:
            x[i, where[i], :, :] = 1.0
        else:
            x[i, :, where[i], :] = 1.0
    return x.astype(np.float32), y.astype(np.int64)
