"""Callbacks (``keras.callbacks``): code that ``fit``/``evaluate``/``predict`` run at the
start and end of training, of each epoch and of each batch.

>>> import numpy as np
>>> import rillet as rl
>>> model = rl.Sequential([rl.Input(shape=(2,)), rl.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> seen = []
>>> log = rl.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
>>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=3, verbose=0, callbacks=[log])
>>> seen
[0, 1, 2]
"""

from __future__ import annotations

import csv
import math
import os
import warnings

import numpy as np

from .errors import ArgumentError, ArgumentTypeError
from .utils import Progbar

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN",
    "LambdaCallback", "TensorBoard",
]  # fmt: skip

_HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)  # fmt: skip


class Callback:
    """Base class: override the hooks you need. ``self.model`` is the model being trained
    and ``self.params`` holds ``verbose``, ``epochs`` and ``steps``."""

    def __init__(self):
        self.params: dict = {}
        self._model = None

    def set_params(self, params: dict) -> None:
        self.params = params

    def set_model(self, model) -> None:
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """A backward-compatible alias for ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """A backward-compatible alias for ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


class CallbackList(Callback):
    """Calls each hook on every callback in turn; adds ``History`` and ``ProgbarLogger``
    when asked (as ``fit`` does)."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):  # fmt: skip
        super().__init__()
        if callbacks is not None and not isinstance(callbacks, (list, tuple, CallbackList)):
            raise ArgumentTypeError(
                f"callbacks must be a list of Callback objects, received {callbacks!r}"
            )
        self.callbacks = list(callbacks.callbacks if isinstance(callbacks, CallbackList)
                              else callbacks or [])  # fmt: skip
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise ArgumentTypeError(
                    f"callbacks must be Callback objects, received {callback!r} "
                    f"(of type {type(callback).__name__})"
                )
        if add_history and not any(isinstance(c, History) for c in self.callbacks):
            self.callbacks.append(History())
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def set_params(self, params: dict) -> None:
        self.params = params
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model) -> None:
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)
            if isinstance(callback, History):
                model.history = callback

    def __iter__(self):
        return iter(self.callbacks)


def _dispatch(hook: str):
    """``CallbackList.<hook>``: call ``<hook>`` on each callback, positionally as Keras."""
    if "batch" in hook or "epoch" in hook:

        def method(self, index, logs=None):
            logs = {} if logs is None else logs
            for callback in self.callbacks:
                getattr(callback, hook)(index, logs)

    else:

        def method(self, logs=None):
            logs = {} if logs is None else logs
            for callback in self.callbacks:
                getattr(callback, hook)(logs)

    method.__name__ = hook
    return method


for _hook in _HOOKS + ("on_batch_begin", "on_batch_end"):
    setattr(CallbackList, _hook, _dispatch(_hook))


class History(Callback):
    """Records the logs of every epoch: ``history.history["loss"]`` and ``history.epoch``.
    ``fit`` adds one and returns it."""

    def __init__(self):
        super().__init__()
        self.history: dict = {}
        self.epoch: list = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints the progress bar (``verbose=1``) or one line per epoch (``verbose=2``)."""

    def __init__(self, count_mode=None):
        super().__init__()
        self.progbar = None
        self._in_fit = False
        self._seen = 0

    def _reset(self, target) -> None:
        verbose = self.params.get("verbose", 1)
        self.progbar = Progbar(target, verbose=verbose, stateful_metrics=None)
        self._seen = 0

    def _update(self, batch, logs) -> None:
        self._seen = batch + 1
        values = [(k, v) for k, v in (logs or {}).items()]
        self.progbar.stateful_metrics = {k for k, _ in values}
        self.progbar.update(self._seen, values, finalize=False)

    def _finalize(self, logs) -> None:
        if self.progbar is None:
            return
        values = [(k, v) for k, v in (logs or {}).items()]
        self.progbar.stateful_metrics = {k for k, _ in values}
        if self.progbar.target is None:
            self.progbar.target = self._seen
        self.progbar.update(self._seen, values, finalize=True)

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reset(self.params.get("steps"))
        epochs = self.params.get("epochs", 1)
        if self.params.get("verbose", 1) and epochs > 1:
            print(f"Epoch {epoch + 1}/{epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._reset(self.params.get("steps"))

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs=None):
        self._reset(self.params.get("steps"))

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, {})

    def on_predict_end(self, logs=None):
        self._finalize({})


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


def _non_negative_int(who: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ArgumentError(f"{who}: received {name}={value!r}, expected an int >= 0")
    return int(value)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):  # fmt: skip
        super().__init__()
        self.monitor = monitor
        self.patience = _non_negative_int("EarlyStopping", "patience", patience)
        self.start_from_epoch = _non_negative_int(
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
        self.patience = _non_negative_int("ReduceLROnPlateau", "patience", patience)
        self.cooldown = _non_negative_int("ReduceLROnPlateau", "cooldown", cooldown)
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


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (``epoch`` first, then the keys in
    sorted order)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep, self.append = separator, append
        self.writer, self.keys, self.csv_file = None, None, None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename)
        self._write_header = not (exists and os.path.getsize(self.filename) > 0)
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.writer, self.keys = None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            fields = ["epoch", *self.keys]
            self.writer = csv.DictWriter(self.csv_file, fieldnames=fields, delimiter=self.sep)
            if self._write_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.writer, self.csv_file = None, None


def _csv_value(value):
    if isinstance(value, np.ndarray) and value.ndim:
        return f"[{', '.join(map(str, value.tolist()))}]"
    return value


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.
    Any other hook can be given by its name as a keyword."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):  # fmt: skip
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)  # fmt: skip
        known = set(_HOOKS) | {"on_batch_begin", "on_batch_end"}
        unknown = sorted(set(hooks) - known)
        if unknown:
            raise ArgumentTypeError(f"LambdaCallback: unknown hooks {unknown}")
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise ArgumentTypeError(f"LambdaCallback: {name}={fn!r} is not callable")
                setattr(self, name, fn)


class TensorBoard(Callback):
    """Write TensorBoard logs: per-epoch losses and metrics under ``log_dir/train`` and
    ``log_dir/validation`` (tags ``epoch_<name>``), the learning rate, weight histograms
    every ``histogram_freq`` epochs and the traced train-step graph once. With
    ``update_freq="batch"`` or an int N, also ``batch_<name>`` every N batches. Needs the
    ``tensorboard`` package (``pip install tensorboard``)."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, update_freq="epoch",
                 **kwargs):  # fmt: skip
        super().__init__()
        if kwargs:
            raise ArgumentTypeError(f"TensorBoard: unexpected arguments {sorted(kwargs)}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = _non_negative_int("TensorBoard", "histogram_freq", histogram_freq)
        self.write_graph = bool(write_graph)
        self.update_freq = _update_freq(update_freq)
        self._writers: dict = {}
        self._global_step, self._graph_written = 0, False

    def _writer(self, run: str):
        from . import summary

        if run not in self._writers:
            self._writers[run] = summary.create_file_writer(os.path.join(self.log_dir, run))
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self._global_step, self._graph_written = 0, False
        self._writer("train")

    def on_train_batch_end(self, batch, logs=None):
        self._global_step += 1
        if self.write_graph and not self._graph_written:
            self._write_graph()
        if self.update_freq and self._global_step % self.update_freq == 0:
            self._write_scalars("train", "batch", logs or {}, self._global_step)

    def _write_graph(self) -> None:
        from . import summary

        self._graph_written = True
        cache = getattr(self.model.train_function, "_cache", None)
        if cache:  # absent when the model runs eagerly: there is no graph to show
            with self._writer("train").as_default():
                summary.graph(next(iter(cache.values())).graph)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs.setdefault("learning_rate", float(np.asarray(self.model.optimizer.learning_rate)))
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        self._write_scalars("train", "epoch", train, epoch)
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if val:
            self._write_scalars("validation", "epoch", val, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_histograms(epoch)

    def _write_scalars(self, run: str, prefix: str, logs: dict, step: int) -> None:
        from . import summary

        writer = self._writer(run)
        with writer.as_default(step=step):
            for name, value in logs.items():
                if np.size(value) == 1:
                    summary.scalar(f"{prefix}_{name}", float(np.asarray(value)))

    def _write_histograms(self, epoch: int) -> None:
        from . import summary

        with self._writer("train").as_default(step=epoch):
            for weight in self.model.weights:
                summary.histogram(f"{weight.path}/histogram", np.asarray(weight), step=epoch)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _update_freq(value) -> int:
    """0 for "epoch", 1 for "batch", else the positive int given."""
    if value in ("epoch", "batch"):
        return 0 if value == "epoch" else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(
            f"TensorBoard: received update_freq={value!r}, expected 'epoch', 'batch' or an int >= 1"
        )
    return value
