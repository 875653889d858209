"""Argument checks shared by the rl.signal functions."""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, DTypeError
from ..tensor import asarray


def positive_int(value, name: str, where: str) -> int:
    """``value`` as an int, which must be a positive integer."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"{name} must be a positive int, got {value!r}", op=where)
    if value <= 0:
        raise ArgumentError(f"{name} must be positive, got {name}={value}", op=where)
    return int(value)


def floating_tensor(x, name: str, where: str):
    """``x`` as a tensor, which must have a floating dtype."""
    x = x if hasattr(x, "dtype") and not isinstance(x, np.ndarray) else asarray(x)
    if not _dtypes.is_floating(x.dtype):
        raise DTypeError(f"{name} has dtype {x.dtype}, expected a floating dtype", op=where)
    return x


def default_fft_length(frame_length: int) -> int:
    """TF's default: the smallest power of two enclosing ``frame_length``."""
    return 1 << (frame_length - 1).bit_length()


def fft_length_arg(fft_length, frame_length: int, where: str) -> int:
    if fft_length is None:
        return default_fft_length(frame_length)
    fft_length = positive_int(fft_length, "fft_length", where)
    if fft_length < frame_length:
        raise ArgumentError(
            f"fft_length must be >= frame_length, got fft_length={fft_length} < "
            f"frame_length={frame_length}",
            op=where,
        )
    return fft_length
