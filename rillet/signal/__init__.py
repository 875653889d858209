"""Signal processing with TF's names (``tf.signal``): framing, windows, the STFT and its
inverse, mel filterbanks, log-mel spectrograms, MFCCs and a streaming log-mel front end.

Everything is written with rillet ops, so it differentiates and traces under
``rl.function``. rillet has no complex dtype: :func:`stft` returns ``(real, imag)``.

>>> import rillet as rl
>>> real, imag = rl.signal.stft(rl.zeros((1, 400)), frame_length=256, frame_step=128)
>>> real.shape, imag.shape
((1, 2, 129), (1, 2, 129))
"""

from ._framing import frame, overlap_and_add
from ._mel import linear_to_mel_weight_matrix, log_mel_spectrogram, mfccs_from_log_mel_spectrograms
from ._spectral import inverse_stft, stft
from ._streaming import StreamingLogMel
from ._windows import hamming_window, hann_window, inverse_stft_window_fn

__all__ = [
    "StreamingLogMel",
    "frame",
    "hamming_window",
    "hann_window",
    "inverse_stft",
    "inverse_stft_window_fn",
    "linear_to_mel_weight_matrix",
    "log_mel_spectrogram",
    "mfccs_from_log_mel_spectrograms",
    "overlap_and_add",
    "stft",
]
