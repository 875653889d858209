import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ArgumentTypeError

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def read(logdir):
    accumulator = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={"scalars": 0, "histograms": 0}
    )
    accumulator.Reload()
    return accumulator


def fit(tmp_path, epochs=3, **kwargs):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    model = rl.Sequential([rl.Input(shape=(3,)), rl.layers.Dense(4), rl.layers.Dense(1)])
    model.compile(optimizer=rl.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
    callback = rl.callbacks.TensorBoard(log_dir=tmp_path, **kwargs)
    history = model.fit(
        x, y, batch_size=8, epochs=epochs, verbose=0, validation_data=(x[:8], y[:8]),
        callbacks=[callback],
    )  # fmt: skip
    return model, history.history


def values(events, tag):
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_epoch_losses_and_metrics_match_history(tmp_path):
    _, history = fit(tmp_path, histogram_freq=0)
    train, validation = read(tmp_path / "train"), read(tmp_path / "validation")
    for name in ("loss", "mae"):
        steps, logged = zip(*values(train, f"epoch_{name}"))
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(logged, history[name], rtol=1e-6)
        np.testing.assert_allclose(
            [v for _, v in values(validation, f"epoch_{name}")], history[f"val_{name}"], rtol=1e-6
        )
    np.testing.assert_allclose([v for _, v in values(train, "epoch_learning_rate")], [0.05] * 3)
    assert "histograms" not in train.Tags() or not train.Tags()["histograms"]


def test_weight_histograms_every_histogram_freq_epochs(tmp_path):
    model, _ = fit(tmp_path, epochs=3, histogram_freq=2)
    train = read(tmp_path / "train")
    tags = {f"{w.path}/histogram" for w in model.weights}
    assert set(train.Tags()["histograms"]) == tags
    events = train.Histograms(f"{model.weights[0].path}/histogram")
    assert [e.step for e in events] == [0, 2]
    assert events[-1].histogram_value.num == np.asarray(model.weights[0]).size
    np.testing.assert_allclose(events[-1].histogram_value.max, np.asarray(model.weights[0]).max())


def test_train_step_graph_is_written_once(tmp_path):
    fit(tmp_path, epochs=2)
    train = read(tmp_path / "train")
    ops = {node.op for node in train.Graph().node}
    assert {"placeholder", "matmul"} <= ops
    assert any("variable" in op for op in ops)  # the optimizer's updates are in the step


def test_batch_update_freq_logs_every_n_batches(tmp_path):
    fit(tmp_path, epochs=2, update_freq=1, write_graph=False)
    train = read(tmp_path / "train")
    assert [step for step, _ in values(train, "batch_loss")] == [1, 2, 3, 4]
    assert not train.Tags()["graph"]


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"update_freq": "sometimes"}, ArgumentError, "update_freq='sometimes'"),
        ({"update_freq": 0}, ArgumentError, "update_freq=0"),
        ({"histogram_freq": -1}, ArgumentError, "histogram_freq"),
        ({"profile_batch": 2}, ArgumentTypeError, "profile_batch"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, words):
    with pytest.raises(error, match=words):
        rl.callbacks.TensorBoard(**kwargs)
