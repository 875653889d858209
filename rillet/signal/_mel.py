"""Mel filterbanks, log-mel spectrograms and MFCCs (TF's HTK mel scale and DCT-II)."""

from __future__ import annotations

import functools

import numpy as np

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ArgumentError, ShapeError
from ..tensor import asarray
from ._args import fft_length_arg, floating_tensor, positive_int
from ._spectral import stft
from ._windows import hann_window


def _hertz_to_mel(hertz):
    """The HTK mel scale TF uses: ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log1p(np.asarray(hertz, dtype=np.float64) / 700.0)


def _check_mel_args(num_mel_bins, num_spectrogram_bins, sample_rate, lower, upper) -> None:
    where = "linear_to_mel_weight_matrix"
    positive_int(num_mel_bins, "num_mel_bins", where)
    positive_int(num_spectrogram_bins, "num_spectrogram_bins", where)
    if not sample_rate > 0:
        raise ArgumentError(f"sample_rate must be positive, got {sample_rate!r}", op=where)
    if not 0.0 <= lower < upper:
        raise ArgumentError(
            "need 0 <= lower_edge_hertz < upper_edge_hertz, got "
            f"lower_edge_hertz={lower!r}, upper_edge_hertz={upper!r}",
            op=where,
        )
    if upper > sample_rate / 2:
        raise ArgumentError(
            f"upper_edge_hertz={upper!r} exceeds the Nyquist frequency {sample_rate / 2!r} "
            f"of sample_rate={sample_rate!r}",
            op=where,
        )


@functools.lru_cache(maxsize=32)
def _mel_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, lower, upper) -> np.ndarray:
    # Triangles overlapping by half, equally spaced in mels; the DC bin gets no weight.
    bins_mel = _hertz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins)[1:, None])
    edges = np.linspace(_hertz_to_mel(lower), _hertz_to_mel(upper), num_mel_bins + 2)
    left, center, right = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - left) / (center - left)
    falling = (right - bins_mel) / (right - center)
    return np.pad(np.maximum(0.0, np.minimum(rising, falling)), ((1, 0), (0, 0)))


def linear_to_mel_weight_matrix(
    num_mel_bins: int = 20,
    num_spectrogram_bins: int = 129,
    sample_rate: float = 8000,
    lower_edge_hertz: float = 125.0,
    upper_edge_hertz: float = 3800.0,
    dtype=_dtypes.float32,
):
    """A ``[num_spectrogram_bins, num_mel_bins]`` matrix that maps a linear-frequency
    spectrogram (``fft_length // 2 + 1`` bins up to ``sample_rate / 2``) onto mel bands:
    triangular filters on the HTK mel scale, as TF's ``tf.signal.linear_to_mel_weight_matrix``.

    >>> import rillet as rl
    >>> rl.signal.linear_to_mel_weight_matrix(num_mel_bins=4, num_spectrogram_bins=33).shape
    (33, 4)
    """
    _check_mel_args(num_mel_bins, num_spectrogram_bins, sample_rate, lower_edge_hertz,
                    upper_edge_hertz)  # fmt: skip
    matrix = _mel_matrix(int(num_mel_bins), int(num_spectrogram_bins), float(sample_rate),
                         float(lower_edge_hertz), float(upper_edge_hertz))  # fmt: skip
    return asarray(matrix, dtype=dtype)


def log_mel_spectrogram(signals, sample_rate: float, frame_length: int, frame_step: int,
                        fft_length: int | None = None, num_mel_bins: int = 40,
                        lower_edge_hertz: float = 20.0, upper_edge_hertz: float | None = None,
                        window_fn=hann_window, power: float = 2.0, log_offset: float = 1e-6,
                        pad_end: bool = False):  # fmt: skip
    """``log(mel(|stft(signals)| ** power) + log_offset)``, ``[..., frames, num_mel_bins]``:
    the usual speech front end in one call. ``power=2`` (the power spectrum) is smooth
    everywhere, so it differentiates safely; ``power=1`` uses the magnitude, whose gradient
    is infinite where a bin is exactly zero. ``upper_edge_hertz`` defaults to Nyquist.

    >>> import rillet as rl
    >>> rl.signal.log_mel_spectrogram(rl.zeros((16000,)), 16000, 400, 160).shape
    (98, 40)
    """
    where = "log_mel_spectrogram"
    if power not in (1, 2, 1.0, 2.0):
        raise ArgumentError(f"power must be 1.0 or 2.0, got {power!r}", op=where)
    if not log_offset > 0:
        raise ArgumentError(f"log_offset must be positive, got {log_offset!r}", op=where)
    fft_length = fft_length_arg(fft_length, positive_int(frame_length, "frame_length", where),
                                where)  # fmt: skip
    real, imag = stft(signals, frame_length, frame_step, fft_length, window_fn, pad_end)
    spectrum = real * real + imag * imag
    spectrum = ops.sqrt(spectrum) if power in (1, 1.0) else spectrum
    upper = sample_rate / 2 if upper_edge_hertz is None else upper_edge_hertz
    mel = linear_to_mel_weight_matrix(num_mel_bins, fft_length // 2 + 1, sample_rate,
                                      lower_edge_hertz, upper, dtype=spectrum.dtype)  # fmt: skip
    return ops.log(ops.matmul(spectrum, mel) + log_offset)


@functools.lru_cache(maxsize=32)
def _dct_matrix(n: int) -> np.ndarray:
    """TF's MFCC transform: the unnormalized DCT-II, ``2 sum x_n cos(pi k (2n + 1) / 2N)``,
    scaled by ``1 / sqrt(2N)`` (orthonormal except that ``k = 0`` is ``sqrt 2`` larger)."""
    k = np.arange(n)[None, :]
    m = np.arange(n)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * m + 1) / (2 * n)) / np.sqrt(2.0 * n)


def mfccs_from_log_mel_spectrograms(log_mel_spectrograms):
    """Mel-frequency cepstral coefficients of ``[..., num_mel_bins]`` log-mel spectrograms:
    the DCT-II over the last axis scaled as TF's ``tf.signal.mfccs_from_log_mel_spectrograms``
    (``scipy.fft.dct(x, type=2) / sqrt(2 * num_mel_bins)``); keep the first 13 or so.

    >>> import rillet as rl
    >>> rl.signal.mfccs_from_log_mel_spectrograms(rl.ones((2,))).tolist()
    [2.0, 0.0]
    """
    where = "mfccs_from_log_mel_spectrograms"
    x = floating_tensor(log_mel_spectrograms, "log_mel_spectrograms", where)
    if len(x.shape) < 1 or x.shape[-1] is None or x.shape[-1] < 1:
        raise ShapeError(
            f"log_mel_spectrograms must have a known, non-empty last axis, got {tuple(x.shape)}",
            op=where,
        )
    return ops.matmul(x, asarray(_dct_matrix(int(x.shape[-1])), dtype=x.dtype))
