"""Callbacks that watch a logged quantity: early stopping, checkpoints, learning-rate
changes."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from .base import Callback

# -- monitoring a metric --------------------------------------------------------------------

_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "true_positives",
              "true_negatives", "fmeasure")  # fmt: skip


def _mode_arg(who: str, mode) -> str:
    if mode not in ("auto", "min", "max"):
        raise ArgumentError(f"{who}: received mode={mode!r}, expected 'auto', 'min' or 'max'")
    return mode


def _maximize(mode: str, monitor: str) -> bool:
    """Whether ``monitor`` improves upward: from ``mode``, or for ``mode="auto"`` from its
    name (losses and errors go down; accuracy, AUC, precision, ... go up)."""
    if mode != "auto":
        return mode == "max"
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name.endswith("loss") or "error" in name:
        return False
    return any(part in name for part in _MAXIMIZED)


def _monitored(who: str, logs: dict, monitor: str):
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(
            f"{who} conditioned on metric `{monitor}` which is not available. Available "
            f"metrics are: {','.join(sorted(logs or {}))}",
            stacklevel=3,
        )
    return value


def non_negative_int(who: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ArgumentError(f"{who}: received {name}={value!r}, expected an int >= 0")
    return int(value)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):  # fmt: skip
        super().__init__()
        self.monitor = monitor
        self.patience = non_negative_int("EarlyStopping", "patience", patience)
        self.start_from_epoch = non_negative_int(
            "EarlyStopping", "start_from_epoch", start_from_epoch
        )
        self.verbose, self.baseline = verbose, baseline
        self.min_delta = abs(float(min_delta))
        self.mode = _mode_arg("EarlyStopping", mode)
        self.restore_best_weights = restore_best_weights
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None
        self._up = _maximize(self.mode, self.monitor)

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        if self._up:
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored("Early stopping", logs, self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model's weights after each epoch (or each ``save_freq`` batches).

    ``filepath`` may hold ``{epoch}`` and any log (``{val_loss:.2f}``). With
    ``save_best_only``, a file is written only when ``monitor`` improves. With
    ``save_weights_only=False`` and a name ending in ``.rillet`` (or ``.keras``) the whole model
    is written by ``model.save``; otherwise the weights, by ``model.save_weights``.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):  # fmt: skip
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _mode_arg("ModelCheckpoint", mode)
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ArgumentError(
                f"ModelCheckpoint: received save_freq={save_freq!r}, expected 'epoch' or a "
                "positive int"
            )
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._batches_seen = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._up = _maximize(self.mode, self.monitor)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch: int, batch, logs: dict) -> str:
        try:
            if batch is None or "batch" not in self.filepath:
                return self.filepath.format(epoch=epoch + 1, **(logs or {}))
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **(logs or {}))
        except KeyError as error:
            raise ArgumentError(
                f"ModelCheckpoint: failed to format filepath {self.filepath!r}: the key "
                f"{error} is not in the logs {sorted(logs or {})}"
            ) from None

    def _save(self, epoch: int, batch, logs: dict) -> None:
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            current = (logs or {}).get(self.monitor)
            if current is None:
                warnings.warn(
                    f"Can save best model only with {self.monitor} available, skipping.",
                    stacklevel=3,
                )
                return
            improved = self.best is None or (current > self.best if self._up
                                             else current < self.best)  # fmt: skip
            if not improved:
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}"
                    )
                return
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best} to "
                    f"{current:.5f}, saving model to {path}"
                )
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        whole_model = str(path).endswith((".rillet", ".keras"))
        if not self.save_weights_only and whole_model and hasattr(self.model, "save"):
            self.model.save(path)
        else:
            self.model.save_weights(path, overwrite=True)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (then wait ``cooldown`` epochs); never below ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):  # fmt: skip
        super().__init__()
        if kwargs:
            raise ArgumentTypeError(f"ReduceLROnPlateau: unexpected arguments {sorted(kwargs)}")
        if not 0 <= factor < 1.0:
            raise ArgumentError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        self.monitor, self.factor, self.verbose = monitor, float(factor), verbose
        self.patience = non_negative_int("ReduceLROnPlateau", "patience", patience)
        self.cooldown = non_negative_int("ReduceLROnPlateau", "cooldown", cooldown)
        self.mode = _mode_arg("ReduceLROnPlateau", mode)
        self.min_delta, self.min_lr = float(min_delta), float(min_lr)
        self._reset()

    def _reset(self) -> None:
        self._up = _maximize(self.mode, self.monitor)
        self.best = -math.inf if self._up else math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _improved(self, current) -> bool:
        if self._up:
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        logs["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
        current = _monitored("Learning rate reduction", logs, self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch, logs["learning_rate"])

    def _reduce(self, epoch: int, old: float) -> None:
        if old <= np.float32(self.min_lr):
            return
        new = max(old * self.factor, self.min_lr)
        self.model.optimizer.learning_rate = new
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
        self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (or
    ``schedule(epoch)``)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ArgumentTypeError(
                f"LearningRateScheduler: received schedule={schedule!r}, expected a callable"
            )
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        current = float(np.asarray(self.model.optimizer.learning_rate))
        try:
            lr = self.schedule(epoch, current)
        except TypeError:  # a schedule of the epoch only (Keras's fallback)
            lr = self.schedule(epoch)
        if isinstance(lr, np.ndarray) and lr.ndim == 0 or hasattr(lr, "numpy"):
            lr = float(np.asarray(lr))
        if not isinstance(lr, (float, int, np.floating)) or isinstance(lr, bool):
            raise ArgumentError(
                f"LearningRateScheduler: the output of the `schedule` function should be a "
                f"float. Got: {lr!r}"
            )
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
