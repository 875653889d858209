"""A streaming log-mel front end: chunks of audio in, completed frames out."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ShapeError
from ._args import positive_int
from ._mel import log_mel_spectrogram
from ._windows import hann_window


class StreamingLogMel:
    """Log-mel features computed as audio arrives. Each call takes a chunk of any length
    (``[..., samples]``, the leading axes fixed for the stream) and returns the frames it
    completed, ``[..., new_frames, num_mel_bins]``; the frames of all calls together equal
    :func:`log_mel_spectrogram` of the concatenated audio. The last ``frame_length -
    frame_step`` samples (and any partial hop) wait in a buffer for the next chunk;
    :meth:`reset` starts a new stream. Keyword arguments go to :func:`log_mel_spectrogram`.

    >>> import rillet as rl
    >>> features = rl.signal.StreamingLogMel(400, 160, sample_rate=16000)
    >>> features(rl.zeros((300,))).shape, features(rl.zeros((300,))).shape
    ((0, 40), (2, 40))
    """

    def __init__(self, frame_length: int, frame_step: int, sample_rate: float = 16000,
                 window_fn=hann_window, **kwargs):  # fmt: skip
        self.frame_length = positive_int(frame_length, "frame_length", "StreamingLogMel")
        self.frame_step = positive_int(frame_step, "frame_step", "StreamingLogMel")
        if "pad_end" in kwargs:
            raise ArgumentError(
                "pad_end is not supported: a stream has no end", op="StreamingLogMel"
            )
        self.sample_rate = sample_rate
        self.window_fn = window_fn
        self.kwargs = kwargs
        self._num_mel_bins = kwargs.get("num_mel_bins", 40)
        self.reset()

    def reset(self) -> None:
        """Forget buffered samples: the next call starts a new stream."""
        self._buffer: np.ndarray | None = None

    def __call__(self, chunk):
        chunk = np.asarray(chunk)
        if chunk.ndim < 1 or not np.issubdtype(chunk.dtype, np.floating):
            raise ShapeError(
                f"chunk must be a floating array [..., samples], got shape {chunk.shape} "
                f"and dtype {chunk.dtype}",
                op="StreamingLogMel",
            )
        audio = chunk if self._buffer is None else self._join(chunk)
        frames = max(0, 1 + (audio.shape[-1] - self.frame_length) // self.frame_step)
        self._buffer = audio[..., frames * self.frame_step :]
        if frames == 0:
            return self._empty(audio)
        used = audio[..., : (frames - 1) * self.frame_step + self.frame_length]
        return log_mel_spectrogram(used, self.sample_rate, self.frame_length, self.frame_step,
                                   window_fn=self.window_fn, **self.kwargs)  # fmt: skip

    def _join(self, chunk: np.ndarray) -> np.ndarray:
        if chunk.shape[:-1] != self._buffer.shape[:-1] or chunk.dtype != self._buffer.dtype:
            raise ShapeError(
                f"chunk has leading shape {chunk.shape[:-1]} and dtype {chunk.dtype}, but the "
                f"stream has {self._buffer.shape[:-1]} and {self._buffer.dtype}",
                op="StreamingLogMel",
            )
        return np.concatenate([self._buffer, chunk], axis=-1)

    def _empty(self, audio: np.ndarray):
        from ..tensor import asarray

        return asarray(np.zeros(audio.shape[:-1] + (0, self._num_mel_bins), dtype=audio.dtype))
