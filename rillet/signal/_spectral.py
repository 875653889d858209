"""The short-time Fourier transform and its inverse, as matmuls with precomputed DFT matrices.

rillet has no complex dtype, so :func:`stft` returns the real and imaginary parts as two
tensors ``(real, imag)``, each ``[..., frames, fft_length // 2 + 1]``; :func:`inverse_stft`
takes them back. A DFT by matmul costs ``O(frame_length * bins)`` per frame rather than an
FFT's ``O(n log n)``, which is nothing at speech frame sizes and keeps every step an
ordinary differentiable, traceable rillet op.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import ops
from ..errors import ArgumentError, ShapeError
from ._args import fft_length_arg, floating_tensor, positive_int
from ._framing import frame, overlap_and_add
from ._windows import hann_window


@functools.lru_cache(maxsize=32)
def _dft_matrices(frame_length: int, fft_length: int) -> tuple[np.ndarray, np.ndarray]:
    """``cos`` and ``-sin`` of ``2 pi n k / fft_length`` for ``n < frame_length`` (the zero
    padding up to ``fft_length`` contributes nothing) and ``k <= fft_length // 2``."""
    n = np.arange(frame_length)[:, None]
    k = np.arange(fft_length // 2 + 1)[None, :]
    angle = 2.0 * np.pi * ((n * k) % fft_length) / fft_length  # exact reduction mod 2 pi
    return _snap(np.cos(angle)), _snap(-np.sin(angle))


@functools.lru_cache(maxsize=32)
def _inverse_dft_matrices(frame_length: int, fft_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``frame_length`` samples of ``irfft``: bins other than DC and Nyquist stand
    for their conjugate twins too, so they count twice; the imaginary parts of DC and
    Nyquist are ignored (their sines vanish)."""
    k = np.arange(fft_length // 2 + 1)[:, None]
    n = np.arange(frame_length)[None, :]
    twice = np.where((k == 0) | (2 * k == fft_length), 1.0, 2.0) / fft_length
    angle = 2.0 * np.pi * ((n * k) % fft_length) / fft_length
    return twice * _snap(np.cos(angle)), -twice * _snap(np.sin(angle))


def _snap(values: np.ndarray) -> np.ndarray:
    """Exact zeros where cos/sin should vanish (``cos(pi / 2)`` is 6e-17 in floating point)."""
    return np.where(np.abs(values) < 1e-12, 0.0, values)


def _constant(array: np.ndarray, like):
    return ops.convert_to_tensor(array, dtype=like.dtype)


def _window(window_fn, frame_length: int, like, where: str):
    if window_fn is None:
        return None
    if not callable(window_fn):
        raise ArgumentError(f"window_fn must be callable or None, got {window_fn!r}", op=where)
    window = window_fn(frame_length, dtype=like.dtype)
    if tuple(window.shape) != (frame_length,):
        raise ShapeError(
            f"window_fn({frame_length}) returned shape {tuple(window.shape)}, expected "
            f"({frame_length},)",
            op=where,
        )
    return window


def stft(signals, frame_length: int, frame_step: int, fft_length: int | None = None,
         window_fn=hann_window, pad_end: bool = False):  # fmt: skip
    """The short-time Fourier transform of ``signals[..., samples]`` as ``(real, imag)``,
    each ``[..., frames, fft_length // 2 + 1]`` (TF's ``tf.signal.stft``, whose complex
    result is ``real + 1j * imag``). ``fft_length`` defaults to the smallest power of two
    >= ``frame_length``; ``window_fn=None`` uses no window.

    >>> import rillet as rl
    >>> real, imag = rl.signal.stft(rl.ones((8,)), 4, 2, window_fn=None)
    >>> real.tolist(), imag.tolist()
    ([[4.0, 0.0, 0.0], [4.0, 0.0, 0.0], [4.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    """  # noqa: E501
    signals = floating_tensor(signals, "signals", "stft")
    frame_length = positive_int(frame_length, "frame_length", "stft")
    fft_length = fft_length_arg(fft_length, frame_length, "stft")
    frames = frame(signals, frame_length, frame_step, pad_end=pad_end, axis=-1)
    window = _window(window_fn, frame_length, signals, "stft")
    if window is not None:
        frames = frames * window
    cos, minus_sin = _dft_matrices(frame_length, fft_length)
    real = ops.matmul(frames, _constant(cos, frames))
    return real, ops.matmul(frames, _constant(minus_sin, frames))


def inverse_stft(real, imag, frame_length: int, frame_step: int,
                 fft_length: int | None = None, window_fn=hann_window):  # fmt: skip
    """The signal whose :func:`stft` is ``(real, imag)``, by inverse DFT of each frame,
    windowing with ``window_fn`` and overlap-add (TF's ``tf.signal.inverse_stft``).
    For perfect reconstruction pass ``window_fn=inverse_stft_window_fn(frame_step)``
    (with the forward window's function); samples within ``frame_length - frame_step``
    of either end are covered by fewer frames and come back attenuated.

    >>> import rillet as rl
    >>> x = rl.random.normal((64,), seed=1)
    >>> inverse = rl.signal.inverse_stft_window_fn(4)
    >>> y = rl.signal.inverse_stft(*rl.signal.stft(x, 16, 4), 16, 4, window_fn=inverse)
    >>> bool(rl.max(rl.abs(y[12:52] - x[12:52])) < 1e-5)
    True
    """
    real = floating_tensor(real, "real", "inverse_stft")
    imag = floating_tensor(imag, "imag", "inverse_stft")
    frame_length = positive_int(frame_length, "frame_length", "inverse_stft")
    frame_step = positive_int(frame_step, "frame_step", "inverse_stft")
    fft_length = fft_length_arg(fft_length, frame_length, "inverse_stft")
    bins = fft_length // 2 + 1
    if tuple(real.shape) != tuple(imag.shape) or len(real.shape) < 2 or real.shape[-1] != bins:
        raise ShapeError(
            f"real and imag must share a shape [..., frames, {bins}] (fft_length={fft_length}), "
            f"got real{tuple(real.shape)} and imag{tuple(imag.shape)}",
            op="inverse_stft",
        )
    cos, minus_sin = _inverse_dft_matrices(frame_length, fft_length)
    frames = ops.matmul(real, _constant(cos, real)) + ops.matmul(imag, _constant(minus_sin, imag))
    window = _window(window_fn, frame_length, frames, "inverse_stft")
    return overlap_and_add(frames * window if window is not None else frames, frame_step)
