"""The UCI handwritten digits: 1797 grey-scale 8x8 images of the digits 0-9.

Each pixel counts the "on" pixels of a 4x4 block of a 32x32 bitmap, so values run from 0 to
16. This is the copy shipped with scikit-learn as ``load_digits`` (the test set of UCI's
"Optical Recognition of Handwritten Digits", CC BY 4.0); see ``data/README.md``.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import ArgumentError, attach_context

__all__ = ["load_data", "NUM_CLASSES", "NUM_SAMPLES"]

NUM_CLASSES = 10
NUM_SAMPLES = 1797
_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.npz")


def _load_all() -> tuple[np.ndarray, np.ndarray]:
    # Plain arrays only: allow_pickle=False so a tampered file cannot run code.
    with np.load(_PATH, allow_pickle=False) as data:
        return data["images"], data["labels"]


def _error(message: str) -> ArgumentError:
    """An ArgumentError naming this function and the caller's line."""
    return attach_context(ArgumentError(message), "digits.load_data")


def load_data(test_split: float = 0.2, seed: int = 0):
    """Load the digits, shuffled and split into a training and a held-out test set.

    Returns ``(x_train, y_train), (x_test, y_test)``: images as uint8 arrays of shape
    ``(n, 8, 8)`` with values 0..16 and labels as uint8 arrays of shape ``(n,)``. The test
    set holds ``round(test_split * 1797)`` samples; the same ``seed`` gives the same split
    on every machine.

    >>> import rillet as rl
    >>> (x_train, y_train), (x_test, y_test) = rl.datasets.digits.load_data(test_split=0.25)
    >>> x_train.shape, y_train.dtype, len(x_test), int(x_train.max())
    ((1348, 8, 8), dtype('uint8'), 449, 16)
    """
    if isinstance(test_split, bool) or not isinstance(test_split, (int, float)):
        raise _error(f"test_split must be a number, got {test_split!r}")
    if not 0.0 <= test_split < 1.0:
        raise _error(f"test_split must be in [0, 1), got test_split={test_split}")
    images, labels = _load_all()
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_split * len(labels)))
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])
