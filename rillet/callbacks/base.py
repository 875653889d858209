"""The callback protocol, the list that runs callbacks, and the two ``fit`` always adds:
``History`` and the progress bar."""

from __future__ import annotations

from ..errors import ArgumentTypeError
from ..utils import Progbar

HOOKS = (
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


for _hook in HOOKS + ("on_batch_begin", "on_batch_end"):
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
