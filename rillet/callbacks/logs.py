"""Callbacks that record or react to what training logs: CSV files, TensorBoard, NaN
losses, and callbacks made from functions."""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from .base import HOOKS, Callback
from .monitoring import non_negative_int


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
        known = set(HOOKS) | {"on_batch_begin", "on_batch_end"}
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
        self.histogram_freq = non_negative_int("TensorBoard", "histogram_freq", histogram_freq)
        self.write_graph = bool(write_graph)
        self.update_freq = _update_freq(update_freq)
        self._writers: dict = {}
        self._global_step, self._graph_written = 0, False

    def _writer(self, run: str):
        from .. import summary

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
        from .. import summary

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
        from .. import summary

        writer = self._writer(run)
        with writer.as_default(step=step):
            for name, value in logs.items():
                if np.size(value) == 1:
                    summary.scalar(f"{prefix}_{name}", float(np.asarray(value)))

    def _write_histograms(self, epoch: int) -> None:
        from .. import summary

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
