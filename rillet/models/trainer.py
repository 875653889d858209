"""The training and inference loops of ``rl.Model``, as Keras 3's ``Trainer``.

``fit`` runs ``train_step`` once per batch; by default the whole step (forward pass, loss,
gradient, optimizer update, metric updates) is traced once by ``rl.function`` into one
graph and then runs compiled (a new batch shape, such as the last partial batch, traces
once more). ``compile(run_eagerly=True)`` runs it eagerly instead. Overriding
``train_step``/``test_step``/``predict_step`` in a subclass changes what a step does; the
loops, callbacks and compilation stay.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from .. import dtypes as _dtypes
from .. import ops
from .. import optimizers as _optimizers
from ..autodiff.tape import GradientTape
from ..errors import ArgumentError
from ..graph.function import function
from ..tensor import Tensor
from . import data_adapter
from .data_adapter import pack_x_y_sample_weight, unpack_x_y_sample_weight
from .symbolic import flatten, map_structure


class Trainer:
    """``compile``, ``fit``, ``evaluate``, ``predict`` and the overridable steps."""

    def __init__(self):
        self.__dict__.setdefault("_metrics", [])
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._compile_loss = None
        self._compile_metrics = None
        self._loss_tracker = None
        self.run_eagerly = False
        self.steps_per_execution = 1
        self.stop_training = False
        self.history = None
        self.train_function = self.test_function = self.predict_function = None
        self._data_built = False

    # -- compile ------------------------------------------------------------------------

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution=1,
        jit_compile="auto",
        auto_scale_loss=True,
    ) -> None:
        """Configure training: the optimizer, the loss(es) and the metrics.

        ``steps_per_execution``, ``jit_compile`` and ``auto_scale_loss`` are accepted for
        Keras compatibility and ignored (``fit`` always compiles its step unless
        ``run_eagerly``).
        """
        if (
            isinstance(steps_per_execution, bool)
            or not isinstance(steps_per_execution, int)
            or (steps_per_execution < 1)
        ):
            raise ArgumentError(
                f"compile: received steps_per_execution={steps_per_execution!r}, expected a "
                "positive int"
            )
        from .. import metrics as _metrics
        from .compile_utils import CompileLoss, CompileMetrics

        self.optimizer = _optimizers.get(optimizer)
        names = getattr(self, "output_names", None)
        self.loss = loss
        self._compile_loss = None if loss is None else CompileLoss(loss, loss_weights, names)
        self._compile_metrics = None
        if metrics is not None or weighted_metrics is not None:
            self._compile_metrics = CompileMetrics(metrics, weighted_metrics, names, losses=loss)
        self._loss_tracker = _metrics.Mean(name="loss")
        self.run_eagerly = bool(run_eagerly)
        self.steps_per_execution = steps_per_execution
        self.stop_training = False
        self.compiled = True
        self.train_function = self.test_function = self.predict_function = None
        self._data_built = False

    def _assert_compiled(self, what: str) -> None:
        if not self.compiled:
            raise ArgumentError(
                f"{what}: you must call `compile()` before using the model for {what}"
            )

    # -- metrics ------------------------------------------------------------------------

    @property
    def metrics(self) -> list:
        """The loss tracker, the compiled metrics, per-output losses, then the metrics set
        as attributes of the model (Keras's order)."""
        found = []
        if self.compiled:
            found.append(self._loss_tracker)
            if self._compile_metrics is not None:
                found.append(self._compile_metrics)
            if self._compile_loss is not None:
                found.extend(self._compile_loss.metrics)
        found.extend(self._metrics)
        return found

    @property
    def metrics_names(self) -> list:
        return _metric_names(self.metrics)

    @property
    def metrics_variables(self) -> list:
        return [v for m in self.metrics for v in m.variables]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    @property
    def compiled_loss(self):
        """``compiled_loss(y, y_pred, sample_weight=None, regularization_losses=None)``: the
        compiled loss plus the regularization losses (Keras 2's helper)."""

        def compiled_loss(y, y_pred, sample_weight=None, regularization_losses=None):
            total = self._compile_loss(y, y_pred, sample_weight)
            extra = self.losses if regularization_losses is None else regularization_losses
            for loss in extra:
                total = total + _as_float(loss)
            return total

        return compiled_loss

    @property
    def compiled_metrics(self):
        """The compiled metrics (``update_state(y, y_pred, sample_weight)``, ``result()``)."""
        return self._compile_metrics

    # -- the steps ----------------------------------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``(y, y_pred)`` plus the model's losses (regularization
        and added losses)."""
        del x, training
        losses = []
        if self._compile_loss is not None:
            loss = self._compile_loss(y, y_pred, sample_weight)
            if loss is not None:
                losses.append(loss)
        losses += [_as_float(loss) for loss in self.losses]
        if not losses:
            raise ArgumentError("No loss to compute. Provide a `loss` argument in `compile()`.")
        total = losses[0]
        for loss in losses[1:]:
            total = total + loss
        return total

    def _compute_loss(self, x, y, y_pred, sample_weight, training):
        if "training" in inspect.signature(self.compute_loss).parameters:
            return self.compute_loss(x, y, y_pred, sample_weight, training=training)
        return self.compute_loss(x, y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update the compiled metrics with this batch; return every metric's result."""
        del x
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self) -> dict:
        results = {}
        for metric in self.metrics:
            value = metric.result()
            if isinstance(value, dict):
                results.update(value)
            else:
                results[metric.name] = value
        return results

    def train_step(self, data) -> dict:
        """One training step on the batch ``data`` (``x``, ``(x, y)`` or ``(x, y,
        sample_weight)``): returns the metrics' results."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(x, y, y_pred, sample_weight, training=True)
        self._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
        variables = self.trainable_weights
        if variables:
            gradients = tape.gradient(loss, variables)
            self.optimizer.apply(gradients, variables)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data) -> dict:
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self._compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def make_train_function(self, force: bool = False):
        if self.train_function is None or force:
            self.train_function = self._step_function(self.train_step, "train_function")
        return self.train_function

    def make_test_function(self, force: bool = False):
        if self.test_function is None or force:
            self.test_function = self._step_function(self.test_step, "test_function")
        return self.test_function

    def make_predict_function(self, force: bool = False):
        if self.predict_function is None or force:
            self.predict_function = self._step_function(self.predict_step, "predict_function")
        return self.predict_function

    def _step_function(self, step, name: str):
        def one_step(data):
            return step(data)

        one_step.__name__ = name
        return one_step if self.run_eagerly else function(one_step, name=name)

    def _build_for_data(self, data) -> None:
        """Before the first (traced) step: build the layers, the compiled loss/metrics and
        the optimizer's slots eagerly, on this batch, so that no variable is created while
        tracing."""
        if self._data_built:
            return
        x, y, _ = unpack_x_y_sample_weight(data)
        containers = [c for c in (self._compile_loss, self._compile_metrics) if c is not None]
        unbuilt = not all(layer.built for layer in self._flat_layers())
        if unbuilt or (y is not None and not all(c.built for c in containers)):
            y_pred = self(x, training=False)
            for container in containers if y is not None else ():
                if not container.built:
                    container.build(y, y_pred)
        if self.optimizer is not None and not self.optimizer.built and self.trainable_weights:
            self.optimizer.build(self.trainable_weights)
        self._data_built = all(c.built for c in containers)

    # -- fit ----------------------------------------------------------------------------

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Train for ``epochs`` epochs; returns the :class:`rillet.callbacks.History`."""
        from .. import callbacks as _callbacks

        self._assert_compiled("fit")
        verbose = _verbose(verbose)
        _check_count("fit", "epochs", epochs, 0)
        _check_count("fit", "initial_epoch", initial_epoch, 0)
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = data_adapter.split_for_validation(
                x, y, sample_weight, validation_split
            )
        batches = data_adapter.make_batches(
            x, y, sample_weight, _batch_arg(batch_size), shuffle, steps_per_epoch, class_weight
        )
        val_batches = _validation_batches(
            validation_data, validation_batch_size or batch_size, validation_steps
        )
        callbacks = _callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=batches.num_batches,
        )  # fmt: skip
        self.stop_training = False
        self.make_train_function()
        callbacks.on_train_begin()
        logs = None
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            epoch_logs = self._train_epoch(batches, callbacks, epoch == initial_epoch)
            if epoch_logs is None:
                break
            if val_batches is not None and _validates(epoch, validation_freq):
                val_logs = self._test_loop(val_batches, callbacks)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            logs = epoch_logs
            if self.stop_training:
                break
        callbacks.on_train_end(logs)
        return self.history

    def _train_epoch(self, batches, callbacks, first: bool):
        logs, seen = {}, False
        for step, batch in enumerate(batches.epoch()):
            seen = True
            callbacks.on_train_batch_begin(step)
            self._build_for_data(batch)
            logs = python_logs(self.train_function(batch))
            callbacks.on_train_batch_end(step, logs)
            if self.stop_training:
                break
        if not seen:
            if first:
                raise ArgumentError("fit: the training data yielded no batch")
            warnings.warn(
                "Your input ran out of data; interrupting training. Make sure that your "
                "dataset or generator can generate at least `steps_per_epoch * epochs` "
                "batches.",
                stacklevel=3,
            )
            self.stop_training = True
            return None
        return dict(logs)

    # -- evaluate -------------------------------------------------------------------------

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
    ):
        """The loss and metrics on the data: a scalar (loss only), a list in the order of
        ``metrics_names``, or a dict with ``return_dict=True``."""
        from .. import callbacks as _callbacks

        self._assert_compiled("evaluate")
        verbose = _verbose(verbose)
        batches = data_adapter.make_batches(
            x, y, sample_weight, _batch_arg(batch_size), False, steps, who="evaluate"
        )
        callbacks = _callbacks.CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
            steps=batches.num_batches,
        )  # fmt: skip
        logs = self._test_loop(batches, callbacks)
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def _test_loop(self, batches, callbacks) -> dict:
        test_function = self.make_test_function()
        self.reset_metrics()
        callbacks.on_test_begin()
        logs = {}
        for step, batch in enumerate(batches.epoch()):
            callbacks.on_test_batch_begin(step)
            self._build_for_data(batch)
            logs = python_logs(test_function(batch))
            callbacks.on_test_batch_end(step, logs)
        callbacks.on_test_end(logs)
        return logs

    def _flatten_metrics_in_order(self, logs: dict):
        names = _metric_names(self.metrics)
        results = [logs[name] for name in names if name in logs]
        results += [logs[key] for key in sorted(logs) if key not in names]
        return results[0] if len(results) == 1 else results

    # -- predict ------------------------------------------------------------------------

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs on ``x``, batch by batch, as NumPy arrays."""
        from .. import callbacks as _callbacks

        verbose = _verbose(verbose)
        batches = data_adapter.make_batches(
            x, None, None, _batch_arg(batch_size), False, steps, who="predict"
        )
        callbacks = _callbacks.CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
            steps=batches.num_batches,
        )  # fmt: skip
        predict_function = self.make_predict_function()
        callbacks.on_predict_begin()
        outputs = []
        for step, batch in enumerate(batches.epoch()):
            callbacks.on_predict_batch_begin(step)
            self._build_for_data(batch)
            result = map_structure(_to_numpy, predict_function(batch))
            outputs.append(result)
            callbacks.on_predict_batch_end(step, {"outputs": result})
        callbacks.on_predict_end()
        if not outputs:
            raise ArgumentError("predict: the data yielded no batch")
        return _concatenate(outputs)

    # -- single batches -----------------------------------------------------------------

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; metrics accumulate until ``reset_metrics()``."""
        self._assert_compiled("train_on_batch")
        if class_weight is not None and sample_weight is None:
            sample_weight = data_adapter.class_weight_to_sample_weight(y, class_weight)
        data = data_adapter.batch_to_tensors(pack_x_y_sample_weight(x, y, sample_weight))
        self._build_for_data(data)
        logs = python_logs(self.make_train_function()(data))
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compiled("test_on_batch")
        data = data_adapter.batch_to_tensors(pack_x_y_sample_weight(x, y, sample_weight))
        self._build_for_data(data)
        logs = python_logs(self.make_test_function()(data))
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def predict_on_batch(self, x):
        data = data_adapter.batch_to_tensors(pack_x_y_sample_weight(x))
        self._build_for_data(data)
        return map_structure(_to_numpy, self.make_predict_function()(data))


# -- helpers --------------------------------------------------------------------------------


def _metric_names(metrics: list) -> list:
    from .compile_utils import CompileMetrics

    names = []
    for metric in metrics:
        if isinstance(metric, CompileMetrics):
            names += metric._result_names if metric.built else []
        else:
            names.append(metric.name)
    return names


def _as_float(loss):
    loss = loss if isinstance(loss, Tensor) else ops.asarray(loss)
    if not _dtypes.is_floating(loss.dtype):
        loss = ops.cast(loss, dtype=_dtypes.float32)
    return ops.sum(loss) if loss.ndim else loss


def _batch_size(x) -> int:
    leaves = [v for v in flatten(x) if v is not None]
    return int(leaves[0].shape[0]) if leaves and leaves[0].ndim else 1


def python_logs(results) -> dict:
    """Metric results as Python floats (nested dicts merged, as Keras's logs)."""
    logs = {}
    for key, value in (results or {}).items():
        if isinstance(value, dict):
            logs.update(python_logs(value))
        else:
            array = np.asarray(value)
            logs[key] = float(array) if array.ndim == 0 else array
    return logs


def _to_numpy(value):
    return None if value is None else np.asarray(value)


def _concatenate(batches: list):
    first = batches[0]
    if isinstance(first, (list, tuple)):
        return type(first)(_concatenate([b[i] for b in batches]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _concatenate([b[k] for b in batches]) for k in first}
    if first is None:
        return None
    return np.concatenate(batches, axis=0) if first.ndim else np.stack(batches)


def _verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2) and not isinstance(verbose, bool):
        return int(verbose)
    raise ArgumentError(f"received verbose={verbose!r}, expected 'auto', 0, 1 or 2")


def _check_count(who: str, name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ArgumentError(f"{who}: received {name}={value!r}, expected an int >= {low}")


def _batch_arg(batch_size):
    if batch_size is None:
        return None
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or (batch_size <= 0)
    ):
        raise ArgumentError(f"received batch_size={batch_size!r}, expected a positive int")
    return int(batch_size)


def _validation_batches(validation_data, batch_size, steps):
    if validation_data is None:
        return None
    if isinstance(validation_data, tuple):
        vx, vy, vsw = unpack_x_y_sample_weight(validation_data)
        return data_adapter.make_batches(
            vx, vy, vsw, _batch_arg(batch_size), False, steps, who="fit(validation_data)"
        )
    return data_adapter.make_batches(validation_data, steps=steps, who="fit(validation_data)")


def _validates(epoch: int, validation_freq) -> bool:
    if isinstance(validation_freq, int) and not isinstance(validation_freq, bool):
        if validation_freq < 1:
            raise ArgumentError(
                f"fit: received validation_freq={validation_freq!r}, expected an int >= 1"
            )
        return (epoch + 1) % validation_freq == 0
    if isinstance(validation_freq, (list, tuple, set, range)):
        return epoch + 1 in validation_freq
    raise ArgumentError(
        f"fit: received validation_freq={validation_freq!r}, expected an int or a list of epochs"
    )


__all__ = ["Trainer", "python_logs"]
