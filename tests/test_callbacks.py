"""rl.callbacks: the hooks and their order, History, EarlyStopping, ModelCheckpoint,
ReduceLROnPlateau, LearningRateScheduler, CSVLogger, TerminateOnNaN, LambdaCallback."""

import csv
import math

import numpy as np
import pytest

import rillet as rl
from rillet import callbacks
from rillet.errors import ArgumentError, ArgumentTypeError


def _model(learning_rate=0.1, seed=0):
    rl.utils.set_random_seed(seed)
    model = rl.Sequential([rl.Input(shape=(3,)), rl.layers.Dense(4), rl.layers.Dense(1)])
    model.compile(optimizer=rl.optimizers.SGD(learning_rate), loss="mse", metrics=["mae"])
    return model


@pytest.fixture
def data(rng):
    x = rng.standard_normal((16, 3)).astype(np.float32)
    return x, x.sum(axis=1, keepdims=True)


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attribute = super().__getattribute__(name)
        if name.startswith("on_") and callable(attribute):

            def record(*args, **kwargs):
                self.calls.append(name)
                return attribute(*args, **kwargs)

            return record
        return attribute


def test_hooks_are_called_in_keras_order(data):
    x, y = data
    recorder = Recorder()
    model = _model()
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x, y), verbose=0,
              callbacks=[recorder])  # fmt: skip
    calls = recorder.calls
    assert calls[0] == "on_train_begin" and calls[-1] == "on_train_end"
    first_epoch = calls[1 : calls.index("on_epoch_end") + 1]
    assert first_epoch == [
        "on_epoch_begin", "on_train_batch_begin", "on_batch_begin", "on_train_batch_end",
        "on_batch_end", "on_train_batch_begin", "on_batch_begin", "on_train_batch_end",
        "on_batch_end", "on_test_begin", "on_test_batch_begin", "on_test_batch_end",
        "on_test_batch_begin", "on_test_batch_end", "on_test_end", "on_epoch_end",
    ]  # fmt: skip
    assert recorder.model is model
    assert recorder.params == {"verbose": 0, "epochs": 2, "steps": 2}
    recorder.calls.clear()
    model.predict(x, batch_size=8, verbose=0, callbacks=[recorder])
    assert recorder.calls == ["on_predict_begin", "on_predict_batch_begin",
                              "on_predict_batch_end", "on_predict_batch_begin",
                              "on_predict_batch_end", "on_predict_end"]  # fmt: skip


def test_batch_and_epoch_logs(data):
    x, y = data
    seen = {}
    log = callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.setdefault("batch", []).append(dict(logs)),
        on_epoch_end=lambda epoch, logs: seen.setdefault("epoch", []).append(dict(logs)),
    )
    _model().fit(x, y, batch_size=8, epochs=1, validation_data=(x, y), verbose=0, callbacks=[log])
    assert len(seen["batch"]) == 2 and set(seen["batch"][0]) == {"loss", "mae"}
    assert set(seen["epoch"][0]) == {"loss", "mae", "val_loss", "val_mae"}
    assert seen["epoch"][0]["loss"] == seen["batch"][-1]["loss"]


def test_callbacks_must_be_callback_objects(data):
    x, y = data
    with pytest.raises(ArgumentTypeError, match="Callback objects"):
        _model().fit(x, y, callbacks=[lambda: None], verbose=0)
    with pytest.raises(ArgumentTypeError, match="unknown hooks"):
        callbacks.LambdaCallback(on_epoch_finish=print)


def test_stop_training_from_a_callback(data):
    x, y = data
    stop = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: setattr(
        stop.model, "stop_training", epoch == 1))  # fmt: skip
    history = _model().fit(x, y, epochs=10, verbose=0, callbacks=[stop])
    assert history.epoch == [0, 1]


# --- EarlyStopping -----------------------------------------------------------------------------


class FakeLogs(callbacks.Callback):
    """Replaces the monitored value with a scripted sequence."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


def _fit_with(values, data, *extra, key="val_loss", epochs=None):
    x, y = data
    model = _model()
    history = model.fit(x, y, epochs=epochs or len(values), verbose=0,
                        callbacks=[FakeLogs(key, values), *extra])  # fmt: skip
    return model, history


def test_early_stopping_patience_and_min_delta(data):
    stopper = callbacks.EarlyStopping(patience=2)
    _, history = _fit_with([5, 4, 4.5, 4.2, 1, 0], data, stopper)
    assert history.epoch == [0, 1, 2, 3] and stopper.stopped_epoch == 3
    assert stopper.best == 4 and stopper.best_epoch == 1
    stopper = callbacks.EarlyStopping(patience=0, min_delta=0.5)
    _, history = _fit_with([5, 4.8, 4], data, stopper)
    assert history.epoch == [0, 1]


def test_early_stopping_mode_max_and_auto_for_accuracy(data):
    stopper = callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    _, history = _fit_with([0.5, 0.6, 0.55, 0.5, 0.9], data, stopper, key="val_accuracy")
    assert history.epoch == [0, 1, 2] and stopper.best == 0.6
    stopper = callbacks.EarlyStopping(monitor="val_loss", mode="max", patience=0)
    _, history = _fit_with([1, 2, 1.5], data, stopper)
    assert history.epoch == [0, 1, 2]


def test_early_stopping_baseline_and_start_from_epoch(data):
    _, history = _fit_with([3, 3.5, 3.2, 0.5], data, callbacks.EarlyStopping(patience=2))
    assert history.epoch == [0, 1, 2]
    stopper = callbacks.EarlyStopping(patience=2, baseline=1.0)  # 3 does not beat 1.0
    _, history = _fit_with([3, 3.5, 3.2, 0.5], data, stopper)
    assert history.epoch == [0, 1]
    stopper = callbacks.EarlyStopping(patience=0, start_from_epoch=2)
    _, history = _fit_with([1, 2, 3, 4, 5], data, stopper)
    assert history.epoch == [0, 1, 2, 3]


def test_early_stopping_restores_the_best_weights(data):
    snapshots = []
    keep = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(
        keep.model.get_weights()))  # fmt: skip
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model, _ = _fit_with([3, 1, 2, 2.5, 2.7], data, keep, stopper)
    for got, want in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(got, want)


def test_early_stopping_warns_when_the_metric_is_missing(data):
    x, y = data
    with pytest.warns(UserWarning, match="val_loss.*not available"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_monitor_arguments_are_checked():
    with pytest.raises(ArgumentError, match="mode='best'"):
        callbacks.EarlyStopping(mode="best")
    with pytest.raises(ArgumentError, match="patience=-1"):
        callbacks.EarlyStopping(patience=-1)
    with pytest.raises(ArgumentError, match="factor=1.5"):
        callbacks.ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ArgumentError, match="save_freq='batch'"):
        callbacks.ModelCheckpoint("w.npz", save_freq="batch")


# --- ModelCheckpoint ---------------------------------------------------------------------------


def test_model_checkpoint_formats_the_path_and_saves_weights(tmp_path, data):
    path = str(tmp_path / "weights.{epoch:02d}-{val_loss:.1f}.npz")
    checkpoint = callbacks.ModelCheckpoint(path, save_weights_only=True)
    model, _ = _fit_with([0.5, 0.25], data, checkpoint)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.01-0.5.npz",
                                                           "weights.02-0.2.npz"]  # fmt: skip
    fresh = _model(seed=5)
    fresh.load_weights(tmp_path / "weights.02-0.2.npz")
    for got, want in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_model_checkpoint_save_best_only(tmp_path, data):
    path = tmp_path / "best.weights.npz"
    saves = []
    checkpoint = callbacks.ModelCheckpoint(path, save_best_only=True, save_weights_only=True)
    original = rl.Sequential.save_weights

    def spy(model, filepath, overwrite=True):
        saves.append(model.history.epoch[-1] if model.history.epoch else 0)
        original(model, filepath, overwrite)

    rl.Sequential.save_weights = spy
    try:
        _fit_with([3, 2, 2.5, 1, 4], data, checkpoint)
    finally:
        rl.Sequential.save_weights = original
    assert len(saves) == 3 and checkpoint.best == 1 and path.exists()


def test_model_checkpoint_every_n_batches(tmp_path, data):
    x, y = data
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "b{batch}.npz"), save_freq=3)
    _model().fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b2.npz", "b3.npz"]


# --- learning rates ----------------------------------------------------------------------------


def test_learning_rate_scheduler_sets_the_rate_each_epoch(data):
    x, y = data
    seen = []
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    record = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(
        float(record.model.optimizer.learning_rate)))  # fmt: skip
    history = _model(learning_rate=0.08).fit(x, y, epochs=3, verbose=0,
                                             callbacks=[scheduler, record])  # fmt: skip
    np.testing.assert_allclose(seen, [0.04, 0.02, 0.01], rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], [0.04, 0.02, 0.01], rtol=1e-6)
    by_epoch = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[by_epoch])
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 0.05, rtol=1e-6)
    bad = callbacks.LearningRateScheduler(lambda epoch, lr: "fast")
    with pytest.raises(ArgumentError, match="should be a float"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[bad])


def test_learning_rate_changes_reach_the_compiled_step(data):
    x, y = data
    model = _model(learning_rate=0.1)
    zero = callbacks.LearningRateScheduler(lambda epoch, lr: 0.0)
    model.fit(x, y, epochs=1, verbose=0)  # traced with the rate 0.1
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[zero])
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_reduce_lr_on_plateau(data):
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    model, history = _fit_with([1, 1, 1, 1, 1, 1, 1], data, reducer)
    # Keras's counting: epoch 2 reduces; epoch 3 ends the cooldown (the wait restarts at 0,
    # then counts that epoch); epoch 4 reduces, epoch 6 reduces to min_lr (logged before).
    np.testing.assert_allclose(
        history.history["learning_rate"], [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-6
    )
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 0.02, rtol=1e-6)


# --- logging and termination -------------------------------------------------------------------


def test_csv_logger_writes_one_row_per_epoch(tmp_path, data):
    x, y = data
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, epochs=2, validation_data=(x, y), verbose=0,
              callbacks=[callbacks.CSVLogger(path)])  # fmt: skip
    model.fit(x, y, epochs=1, validation_data=(x, y), verbose=0,
              callbacks=[callbacks.CSVLogger(path, append=True)])  # fmt: skip
    with path.open() as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "0"]
    assert math.isclose(float(rows[3][1]), model.history.history["loss"][0], rel_tol=1e-6)


def test_terminate_on_nan(data, capsys):
    x, y = data
    model = _model(learning_rate=1e30)
    history = model.fit(x, y * 1e20, batch_size=4, epochs=5, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN()])  # fmt: skip
    assert (
        len(history.epoch) == 1 and "Invalid loss, terminating training" in capsys.readouterr().out
    )


def test_history_and_progbar_are_added_once(data):
    x, y = data
    history = callbacks.History()
    model = _model()
    returned = model.fit(x, y, epochs=2, verbose=0, callbacks=[history])
    assert returned is history and history.history["loss"] and history.epoch == [0, 1]
    listed = callbacks.CallbackList([history], add_history=True, add_progbar=True, model=model)
    assert sum(isinstance(c, callbacks.History) for c in listed) == 1
    assert sum(isinstance(c, callbacks.ProgbarLogger) for c in listed) == 1
