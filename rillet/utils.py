"""Utilities (``keras.utils``): seeding, label encoding, the progress bar, batch packing.

>>> import rillet as rl
>>> rl.utils.to_categorical([0, 2, 1], num_classes=3).tolist()
[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import random as _random
import sys
import time

import numpy as np

from . import random as _rl_random
from .errors import ArgumentError
from .layers.layer import clear_session as _clear_layer_names
from .models.data_adapter import pack_x_y_sample_weight, unpack_x_y_sample_weight

__all__ = [
    "set_random_seed", "to_categorical", "normalize", "pad_sequences", "Progbar",
    "clear_session", "pack_x_y_sample_weight", "unpack_x_y_sample_weight",
]  # fmt: skip


def set_random_seed(seed: int) -> None:
    """Seed rillet's random numbers, NumPy's global generator and Python's ``random``
    (Keras's ``set_random_seed``): a script run twice draws the same numbers."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ArgumentError(
            f"set_random_seed: received seed={seed!r}, expected a non-negative integer"
        )
    seed = int(seed)
    _random.seed(seed)
    np.random.seed(seed % 2**32)
    _rl_random.set_seed(seed)


def clear_session() -> None:
    """Reset the automatic layer names (``dense``, ``dense_1``, ...), as Keras does."""
    _clear_layer_names()


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot rows (float32) for the class indices ``x``; a trailing axis of size 1 in
    ``x`` is dropped."""
    labels = np.asarray(x)
    if labels.dtype.kind not in "iub" and not (
        labels.dtype.kind == "f" and np.all(np.mod(labels, 1) == 0)
    ):
        raise ArgumentError(
            f"to_categorical: received x of dtype {labels.dtype}, expected integers"
        )
    labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.size and labels.min() < 0:
        raise ArgumentError(f"to_categorical: class indices must be >= 0, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ArgumentError(
            f"to_categorical: received num_classes={num_classes}, but x holds the class "
            f"{int(labels.max())}"
        )
    return np.eye(num_classes, dtype=np.float32)[labels]


def normalize(x, axis: int = -1, order: int = 2):
    """``x`` divided by its ``order``-norm along ``axis`` (NumPy arrays stay NumPy)."""
    from . import ops
    from .tensor import Tensor

    if isinstance(x, Tensor):
        norm = ops.norm(x, ord=order, axis=axis, keepdims=True)
        return x / ops.where(norm == 0, 1.0, norm)
    array = np.asarray(x)
    norm = np.linalg.norm(array, ord=order, axis=axis, keepdims=True)
    return array / np.where(norm == 0, 1, norm)


def pad_sequences(
    sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0
) -> np.ndarray:
    """Sequences of different lengths as one ``(count, maxlen, ...)`` array (Keras's
    ``pad_sequences``): longer ones lose their start (``truncating="pre"``) or end
    (``"post"``); shorter ones get ``value`` before (``padding="pre"``) or after them.
    ``maxlen`` defaults to the longest length.

    >>> import rillet as rl
    >>> rl.utils.pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
    [[2, 3], [0, 4]]
    """
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in ("pre", "post"):
            raise ArgumentError(
                f"pad_sequences: received {name}={side!r}, expected 'pre' or 'post'"
            )
    try:
        rows = [np.asarray(s) for s in sequences]
    except TypeError:
        rows = None
    if rows is None or any(r.ndim == 0 for r in rows):
        raise ArgumentError(
            f"pad_sequences: received sequences={sequences!r}, expected a list of sequences"
        )
    sample_shape = next((r.shape[1:] for r in rows if len(r)), ())
    if maxlen is None:
        maxlen = max((len(r) for r in rows), default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ArgumentError(f"pad_sequences: received maxlen={maxlen!r}, expected an int >= 0")
    out = np.full((len(rows), int(maxlen), *sample_shape), value, dtype=dtype)
    for i, row in enumerate(rows):
        if not len(row) or not maxlen:
            continue
        if row.shape[1:] != sample_shape:
            raise ArgumentError(
                f"pad_sequences: sequence {i} has samples of shape {row.shape[1:]}, expected "
                f"{sample_shape} (the shape in the first non-empty sequence)"
            )
        kept = row[-maxlen:] if truncating == "pre" else row[:maxlen]
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, maxlen - len(kept) :] = kept
    return out


# -- the progress bar -------------------------------------------------------------------------


def _format_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_step(seconds: float, unit: str) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def _format_value(value) -> str:
    if isinstance(value, (list, np.ndarray)) and np.ndim(value) > 0:
        return str(np.round(np.asarray(value, dtype=float), 4).tolist())
    value = float(value)
    return f"{value:.4f}" if abs(value) > 1e-3 or value == 0 else f"{value:.4e}"


class Progbar:
    """Keras's progress bar: ``5/10 ━━━━━━━━━━━━━━━━━━━━ 1s 20ms/step - loss: 0.6931``.

    ``verbose=1`` redraws one line (on a terminal; elsewhere it prints the final line
    only), ``verbose=2`` prints one line when done. Values of ``stateful_metrics`` are
    shown as given; others are averaged over the steps seen.
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step"):  # fmt: skip
        self.target = target
        self.width, self.verbose, self.interval = width, verbose, interval
        self.stateful_metrics = set(stateful_metrics or ())
        self.unit_name = unit_name
        self._dynamic = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
        self._values: dict = {}
        self._seen = 0
        self._start = time.time()
        self._last_update = 0.0
        self._finalized = False

    def update(self, current, values=None, finalize=None) -> None:
        """Move to step ``current`` with ``values``: a list of ``(name, value)``."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or []:
            if name in self.stateful_metrics:
                self._values[name] = (value, 1)
            else:
                steps = max(current - self._seen, 1)
                total, count = self._values.get(name, (0.0, 0))
                self._values[name] = (total + np.asarray(value) * steps, count + steps)
        self._seen = current
        now = time.time()
        if self.verbose == 0 or self._finalized:
            return
        if not finalize and (now - self._last_update < self.interval or not self._dynamic
                             or self.verbose == 2):  # fmt: skip
            return
        self._last_update = now
        line = self._line(current, now, finalize)
        if self._dynamic and self.verbose == 1:
            sys.stdout.write("\r" + line + ("\n" if finalize else ""))
        elif finalize:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        self._finalized = finalize

    def add(self, n, values=None) -> None:
        self.update(self._seen + n, values)

    def _line(self, current: int, now: float, finalize: bool) -> str:
        elapsed = now - self._start
        per_step = elapsed / current if current else 0.0
        if self.target is not None:
            digits = len(str(self.target))
            head = f"{current:{digits}d}/{self.target}"
            filled = int(self.width * min(current / self.target, 1.0)) if self.target else 0
            bar = "━" * filled + ("\x1b[2m" + "━" * (self.width - filled) + "\x1b[0m"
                                  if self.width > filled and self._dynamic else
                                  " " * (self.width - filled))  # fmt: skip
            head = f"{head} {bar}" if self.verbose == 1 else head
        else:
            head = f"{current}"
        if finalize or self.target is None:
            timing = f"{_format_time(elapsed)} {_format_step(per_step, self.unit_name)}"
        else:
            timing = f"{_format_time(per_step * (self.target - current))}"
        parts = (
            [head, timing]
            if self.verbose == 1
            else [head, _format_time(elapsed), _format_step(per_step, self.unit_name)]
        )
        line = " - ".join(parts) if self.verbose == 2 else " ".join(parts)
        for name in sorted(self._values):
            total, count = self._values[name]
            line += f" - {name}: {_format_value(total if count == 1 else total / count)}"
        return line


def image_dataset_from_directory(directory, **kwargs):
    """An ``rl.data.Dataset`` of ``(images, labels)`` batches from a folder with one
    sub-folder of PNG/JPEG/BMP/GIF images per class (Keras's function; needs Pillow).
    Images are float32 in [0, 255], ``(batch, height, width, channels)``; the dataset's
    ``class_names`` lists the sub-folders in label order."""
    from .data.directory import image_dataset_from_directory as build

    return build(directory, **kwargs)


def audio_dataset_from_directory(directory, **kwargs):
    """An ``rl.data.Dataset`` of ``(audio, labels)`` batches from a folder with one sub-folder
    of 16-bit PCM WAV files per class (Keras's function). Audio is float32 in [-1, 1),
    ``(batch, samples, channels)``, zero-padded to the longest clip in the batch."""
    from .data.directory import audio_dataset_from_directory as build

    return build(directory, **kwargs)
