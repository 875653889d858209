"""Framing a signal into overlapping windows, and the inverse overlap-add."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ArgumentError, AxisError, ShapeError
from ._args import floating_tensor, positive_int


def frame(signal, frame_length: int, frame_step: int, pad_end: bool = False, pad_value=0,
          axis: int = -1):  # fmt: skip
    """Overlapping frames of ``frame_length`` samples, ``frame_step`` apart, along ``axis``
    (TF's ``tf.signal.frame``). ``axis`` becomes two axes, ``(num_frames, frame_length)``.
    With ``pad_end`` the end is padded with ``pad_value`` so that every sample starts a frame
    ``ceil(n / frame_step)`` frames; otherwise only whole frames are kept.

    >>> import rillet as rl
    >>> rl.signal.frame(rl.arange(5), 3, 2).tolist()
    [[0, 1, 2], [2, 3, 4]]
    """
    signal = signal if hasattr(signal, "dtype") and not isinstance(signal, np.ndarray) else (
        ops.convert_to_tensor(signal))  # fmt: skip
    frame_length = positive_int(frame_length, "frame_length", "frame")
    frame_step = positive_int(frame_step, "frame_step", "frame")
    rank = len(signal.shape)
    if not -rank <= axis < rank:
        raise AxisError(f"axis {axis} is out of range for a signal of rank {rank}", op="frame")
    axis %= rank
    length = signal.shape[axis]
    if length is None:
        raise ShapeError(f"the length along axis {axis} must be known, got None", op="frame")
    if pad_end:
        num_frames = -(-length // frame_step)
        extra = max(0, (num_frames - 1) * frame_step + frame_length - length)
        pairs = [(0, 0)] * rank
        pairs[axis] = (0, extra)
        signal = ops.pad(signal, tuple(pairs), constant_values=pad_value)
    else:
        num_frames = max(0, 1 + (length - frame_length) // frame_step)
    return ops.take(signal, _frame_indices(num_frames, frame_length, frame_step), axis=axis)


def _frame_indices(num_frames: int, frame_length: int, frame_step: int) -> np.ndarray:
    starts = np.arange(num_frames, dtype=np.int64)[:, None] * frame_step
    return starts + np.arange(frame_length, dtype=np.int64)[None, :]


def overlap_and_add(signal, frame_step: int):
    """The sum of frames ``signal[..., frames, frame_length]`` placed ``frame_step`` apart:
    ``(frames - 1) * frame_step + frame_length`` samples (TF's ``tf.signal.overlap_and_add``).

    >>> import rillet as rl
    >>> rl.signal.overlap_and_add(rl.ones((3, 2)), 1).tolist()
    [1.0, 2.0, 2.0, 1.0]
    """
    signal = floating_tensor(signal, "signal", "overlap_and_add")
    frame_step = positive_int(frame_step, "frame_step", "overlap_and_add")
    if len(signal.shape) < 2 or None in signal.shape:
        raise ShapeError(
            f"signal must be at least 2-D with a known shape, got {tuple(signal.shape)}",
            op="overlap_and_add",
        )
    *batch, num_frames, frame_length = signal.shape
    if frame_step > frame_length:
        raise ArgumentError(
            f"frame_step must be <= frame_length, got {frame_step} > {frame_length}",
            op="overlap_and_add",
        )
    length = (num_frames - 1) * frame_step + frame_length if num_frames else 0
    zeros = ops.zeros((*batch, length), dtype=signal.dtype)
    indices = _frame_indices(num_frames, frame_length, frame_step)
    return ops.scatter_add(zeros, indices, signal, axis=-1)
