"""Window functions (TF's ``tf.signal.hann_window`` and ``hamming_window``)."""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, DTypeError
from ..tensor import asarray
from ._args import positive_int


def _raised_cosine(name, window_length, periodic, dtype, a: float, b: float):
    """``a - b * cos(2 pi n / N)`` with ``N = window_length`` (periodic) or ``- 1``."""
    window_length = positive_int(window_length, "window_length", name)
    dtype = _dtypes.as_dtype(dtype)
    if not _dtypes.is_floating(dtype):
        raise DTypeError(f"dtype must be a floating dtype, got {dtype}", op=name)
    if window_length == 1:
        return asarray(np.ones(1), dtype=dtype)  # TF: a single-sample window is [1.0]
    denominator = window_length if periodic else window_length - 1
    n = np.arange(window_length, dtype=np.float64)
    return asarray(a - b * np.cos(2.0 * np.pi * n / denominator), dtype=dtype)


def hann_window(window_length: int, periodic: bool = True, dtype=_dtypes.float32):
    """A Hann window, ``0.5 - 0.5 cos(2 pi n / N)``; ``periodic=True`` suits spectral
    analysis (``N = window_length``), ``False`` gives the symmetric window.

    >>> import rillet as rl
    >>> rl.signal.hann_window(4).tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    return _raised_cosine("hann_window", window_length, periodic, dtype, 0.5, 0.5)


def hamming_window(window_length: int, periodic: bool = True, dtype=_dtypes.float32):
    """A Hamming window, ``0.54 - 0.46 cos(2 pi n / N)`` (see :func:`hann_window`).

    >>> import rillet as rl
    >>> [round(v, 2) for v in rl.signal.hamming_window(4).tolist()]
    [0.08, 0.54, 1.0, 0.54]
    """
    return _raised_cosine("hamming_window", window_length, periodic, dtype, 0.54, 0.46)


def inverse_stft_window_fn(frame_step: int, forward_window_fn=hann_window):
    """A window function for :func:`inverse_stft` that inverts ``forward_window_fn``'s
    overlap-add: the forward window divided by the sum of its squares over the overlaps.

    >>> import rillet as rl
    >>> window_fn = rl.signal.inverse_stft_window_fn(2)
    >>> window_fn(4).tolist()
    [0.0, 1.0, 1.0, 1.0]
    """
    frame_step = positive_int(frame_step, "frame_step", "inverse_stft_window_fn")
    if not callable(forward_window_fn):
        raise ArgumentError(
            f"forward_window_fn must be callable, got {forward_window_fn!r}",
            op="inverse_stft_window_fn",
        )

    def inverse_window(frame_length: int, dtype=_dtypes.float32):
        forward = np.asarray(forward_window_fn(frame_length, dtype=_dtypes.float64))
        overlaps = -(-frame_length // frame_step)
        squares = np.pad(forward**2, (0, overlaps * frame_step - frame_length))
        denominator = np.tile(squares.reshape(overlaps, frame_step).sum(0), overlaps)
        return asarray(forward / denominator[:frame_length], dtype=dtype)

    return inverse_window
