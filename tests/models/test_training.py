"""compile / fit / evaluate / predict: values against NumPy and PyTorch references, compiled
against eager steps, data formats, overridable steps, and errors."""

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ShapeError


def _data(rng, n=40, features=4):
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x[:, :1] - 0.5 * x[:, 1:2]).astype(np.float32)
    return x, y


def _mlp(units=8, dropout=0.0, seed=0, **dense_kwargs):
    rl.utils.set_random_seed(seed)
    layers = [rl.Input(shape=(4,)), rl.layers.Dense(units, activation="tanh", **dense_kwargs)]
    if dropout:
        layers.append(rl.layers.Dropout(dropout))
    return rl.Sequential([*layers, rl.layers.Dense(1)])


# --- values ------------------------------------------------------------------------------------


def test_fit_returns_history_of_each_epoch(rng):
    x, y = _data(rng)
    model = _mlp()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history is model.history and history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "mae"} and len(history.history["loss"]) == 3
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 3}
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_initial_epoch_counts_from_there(rng):
    x, y = _data(rng)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    assert model.fit(x, y, epochs=3, initial_epoch=1, verbose=0).epoch == [1, 2]


def test_compiled_and_eager_fit_give_the_same_loss_history(rng):
    x, y = _data(rng, n=50)
    histories = []
    for run_eagerly in (False, True):
        model = _mlp(dropout=0.25, seed=3)
        model.compile(optimizer="adam", loss="mse", metrics=["mae"], run_eagerly=run_eagerly)
        rl.utils.set_random_seed(11)  # the shuffles and the dropout masks
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
        histories.append(history.history)
    for key in histories[0]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5, atol=1e-7)


def test_fit_traces_the_step_once_per_batch_shape(rng):
    x, y = _data(rng, n=10)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=4, epochs=4, verbose=0)
    assert model.train_function.experimental_get_tracing_count() == 2  # 4 and the last 2
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    model.fit(x, y, batch_size=4, verbose=0)
    assert not hasattr(model.train_function, "experimental_get_tracing_count")


def _torch_mlp(torch, model):
    first, second = model.layers
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for linear, dense in ((net[0], first), (net[2], second)):
            linear.weight.copy_(torch.tensor(dense.kernel.numpy().T))
            linear.bias.copy_(torch.tensor(dense.bias.numpy()))
    return net


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_matches_pytorch_training_with_sample_weights(rng, optimizer):
    torch = pytest.importorskip("torch")
    x, y = _data(rng, n=24)
    weights = rng.uniform(0.5, 2.0, size=24).astype(np.float32)
    model = _mlp()
    net = _torch_mlp(torch, model)
    if optimizer == "sgd":
        model.compile(optimizer=rl.optimizers.SGD(0.1), loss="mse")
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
    else:
        model.compile(optimizer=rl.optimizers.Adam(0.01), loss="mse")
        opt = torch.optim.Adam(net.parameters(), lr=0.01, eps=1e-7)
    history = model.fit(
        x, y, sample_weight=weights, batch_size=8, epochs=2, shuffle=False, verbose=0
    )
    losses = []
    for _ in range(2):
        for start in range(0, 24, 8):
            xb, yb = torch.tensor(x[start : start + 8]), torch.tensor(y[start : start + 8])
            wb = torch.tensor(weights[start : start + 8])
            loss = (wb * ((net(xb) - yb) ** 2).mean(dim=1)).sum() / len(xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    np.testing.assert_allclose(history.history["loss"][-1], np.mean(losses[3:]), rtol=1e-5)
    kernel = model.layers[0].kernel.numpy()
    # Keras's Adam adds epsilon to sqrt(v) before the bias correction, PyTorch after it.
    atol = 1e-6 if optimizer == "sgd" else 1e-4
    np.testing.assert_allclose(kernel, net[0].weight.detach().numpy().T, rtol=1e-4, atol=atol)


def test_regularization_losses_are_added_to_the_loss(rng):
    x, y = _data(rng, n=8)
    model = _mlp(kernel_regularizer=rl.regularizers.L2(0.1))
    model.compile(optimizer="sgd", loss="mse")
    first, second = model.layers
    w1, b1 = first.kernel.numpy(), first.bias.numpy()
    w2, b2 = second.kernel.numpy(), second.bias.numpy()
    prediction = np.tanh(x @ w1 + b1) @ w2 + b2
    expected = np.mean((prediction - y) ** 2) + 0.1 * np.sum(w1**2)
    loss = model.train_on_batch(x, y)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_evaluate_and_predict_agree_with_numpy(rng):
    x, y = _data(rng, n=30)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    prediction = model.predict(x, batch_size=7, verbose=0)
    assert isinstance(prediction, np.ndarray) and prediction.shape == (30, 1)
    # float32 products summed in another order (a compiled loop for small batches, BLAS)
    np.testing.assert_allclose(prediction, model(x).numpy(), rtol=1e-5, atol=1e-6)
    loss, mae = model.evaluate(x, y, batch_size=7, verbose=0)
    np.testing.assert_allclose(loss, np.mean((prediction - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(mae, np.mean(np.abs(prediction - y)), rtol=1e-5)
    assert model.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss", "mae"}
    model.compile(optimizer="sgd", loss="mse")
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_single_batch_methods(rng):
    x, y = _data(rng, n=6)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    before = model.predict_on_batch(x)
    loss, _ = model.test_on_batch(x, y)
    np.testing.assert_allclose(loss, np.mean((before - y) ** 2), rtol=1e-5)
    logs = model.train_on_batch(x, y, return_dict=True)
    np.testing.assert_allclose(logs["loss"], loss, rtol=1e-5)
    assert not np.allclose(model.predict_on_batch(x), before)


def test_class_weight_equals_the_matching_sample_weight(rng):
    x = rng.standard_normal((12, 4)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.int64)
    results = []
    for kwargs in ({"class_weight": {0: 1.0, 1: 3.0}},
                   {"sample_weight": np.where(labels == 1, 3.0, 1.0)}):  # fmt: skip
        rl.utils.set_random_seed(0)
        model = rl.Sequential([rl.Input(shape=(4,)), rl.layers.Dense(2)])
        model.compile(optimizer="sgd", loss=rl.losses.SparseCategoricalCrossentropy(True))
        results.append(model.fit(x, labels, epochs=2, shuffle=False, verbose=0, **kwargs).history)
    np.testing.assert_allclose(results[0]["loss"], results[1]["loss"], rtol=1e-6)


def test_weighted_metrics_use_sample_weights_and_metrics_do_not(rng):
    x, y = _data(rng, n=8)
    weights = np.array([1, 0, 1, 0, 1, 0, 1, 0], np.float32)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    prediction = model.predict(x, verbose=0)
    logs = model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
    errors = np.abs(prediction - y)[:, 0]
    np.testing.assert_allclose(logs["mae"], errors.mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["weighted_mae"], errors[weights == 1].mean(), rtol=1e-5)


def test_validation_split_holds_out_the_last_samples(rng):
    x, y = _data(rng, n=20)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0)
    expected = model.evaluate(x[15:], y[15:], verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][-1], expected, rtol=1e-6)
    assert history.params["steps"] == 1  # 15 training samples in one batch of 32


def test_validation_freq(rng):
    x, y = _data(rng, n=16)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=2, verbose=0)
    assert len(history.history["val_loss"]) == 2 and len(history.history["loss"]) == 4


def test_iterables_of_batches_and_steps_per_epoch(rng):
    x, y = _data(rng, n=16)
    batches = [(x[i : i + 4], y[i : i + 4]) for i in range(0, 16, 4)]
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(batches, epochs=2, validation_data=batches, verbose=0)
    assert history.params["steps"] == 4 and len(history.history["val_loss"]) == 2

    def endless():
        while True:
            yield from batches

    history = model.fit(endless(), epochs=3, steps_per_epoch=2, verbose=0)
    assert history.params["steps"] == 2 and len(history.history["loss"]) == 3
    assert model.predict(iter([x[:3], x[3:5]]), verbose=0).shape == (5, 1)
    assert np.isfinite(model.evaluate(iter(batches), verbose=0))


def test_generator_that_runs_out_stops_training_with_a_warning(rng):
    x, y = _data(rng, n=8)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(iter([(x, y)]), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1


def test_steps_per_epoch_with_arrays(rng):
    x, y = _data(rng, n=10)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    assert model.fit(x, y, batch_size=4, steps_per_epoch=5, verbose=0).params["steps"] == 5


def test_dict_inputs_for_named_inputs(rng):
    a, b = rl.Input(shape=(2,), name="a"), rl.Input(shape=(3,), name="b")
    model = rl.Model([a, b], rl.layers.Dense(1)(rl.layers.Concatenate()([a, b])))
    model.compile(optimizer="sgd", loss="mse")
    data = {"a": rng.standard_normal((8, 2)), "b": rng.standard_normal((8, 3))}
    history = model.fit(data, np.ones((8, 1)), batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(data, verbose=0).shape == (8, 1)


# --- several outputs ---------------------------------------------------------------------------


def _two_outputs():
    rl.utils.set_random_seed(0)
    x = rl.Input(shape=(4,))
    hidden = rl.layers.Dense(6, activation="relu")(x)
    value = rl.layers.Dense(1, name="value")(hidden)
    label = rl.layers.Dense(3, activation="softmax", name="label")(hidden)
    return rl.Model(x, [value, label])


def test_multi_output_losses_weights_and_metric_names(rng):
    x = rng.standard_normal((10, 4)).astype(np.float32)
    targets = [rng.standard_normal((10, 1)), rng.integers(0, 3, size=10)]
    model = _two_outputs()
    model.compile(
        optimizer="sgd",
        loss={"value": "mse", "label": "sparse_categorical_crossentropy"},
        loss_weights=[0.5, 2.0],
        metrics=[["mae"], ["accuracy"]],
    )
    logs = model.evaluate(x, targets, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "value_loss", "label_loss", "value_mae", "label_accuracy"}
    np.testing.assert_allclose(
        logs["loss"], 0.5 * logs["value_loss"] + 2.0 * logs["label_loss"], rtol=1e-5
    )
    value, probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(logs["value_loss"], np.mean((value - targets[0]) ** 2), rtol=1e-5)
    expected_ce = -np.mean(np.log(probabilities[np.arange(10), targets[1]]))
    np.testing.assert_allclose(logs["label_loss"], expected_ce, rtol=1e-5)
    accuracy = np.mean(np.argmax(probabilities, axis=1) == targets[1])
    np.testing.assert_allclose(logs["label_accuracy"], accuracy)
    history = model.fit(x, {"value": targets[0], "label": targets[1]}, epochs=2, verbose=0)
    assert "label_accuracy" in history.history


def test_multi_output_metric_list_must_match_outputs():
    model = _two_outputs()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x = np.ones((2, 4), np.float32)
    with pytest.raises(ArgumentError, match="needs 2 entries"):
        model.evaluate(x, [np.ones((2, 1)), np.ones((2, 3))], verbose=0)


@pytest.mark.parametrize(
    "units, activation, loss, labels, expected",
    [
        (1, "sigmoid", "mse", np.array([[0], [1], [1], [0]]), "BinaryAccuracy"),
        (3, "softmax", "mse", np.array([[0], [2], [1], [0]]), "SparseCategoricalAccuracy"),
        (3, "softmax", "sparse_categorical_crossentropy", np.array([0, 2, 1, 0]),
         "SparseCategoricalAccuracy"),
        (3, "softmax", "mse", np.eye(3)[[0, 2, 1, 0]], "CategoricalAccuracy"),
    ],
)  # fmt: skip
def test_accuracy_is_resolved_from_the_loss_and_shapes(units, activation, loss, labels, expected):
    model = rl.Sequential([rl.Input(shape=(2,)), rl.layers.Dense(units, activation=activation)])
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    model.evaluate(np.ones((4, 2), np.float32), labels, verbose=0)
    assert type(model.metrics[1].metrics[0]).__name__ == expected


# --- overriding the steps ----------------------------------------------------------------------


class ManualStep(rl.Model):
    """Keras's "customize what happens in fit" example: a train_step of our own."""

    def __init__(self):
        super().__init__()
        self.dense = rl.layers.Dense(1)
        self.tracker = rl.metrics.Mean(name="loss")
        self.mae = rl.metrics.MeanAbsoluteError(name="mae")

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        with rl.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = rl.mean(rl.square(y_pred - y))
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        self.tracker.update_state(loss)
        self.mae.update_state(y, y_pred)
        return {"loss": self.tracker.result(), "mae": self.mae.result()}

    @property
    def metrics(self):
        return [self.tracker, self.mae]


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_overridden_train_step(rng, run_eagerly):
    x, y = _data(rng, n=32)
    model = ManualStep()
    model.compile(optimizer=rl.optimizers.SGD(0.1), run_eagerly=run_eagerly)
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(history.history) == {"loss", "mae"}


def test_overridden_compute_loss_and_test_step(rng):
    class Halved(rl.Sequential):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return 0.5 * super().compute_loss(x, y, y_pred, sample_weight, training)

        def test_step(self, data):
            logs = super().test_step(data)
            return {**logs, "extra": rl.asarray(1.0)}

    x, y = _data(rng, n=8)
    model = Halved([rl.Input(shape=(4,)), rl.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(
        logs["loss"], 0.5 * np.mean((model.predict(x, verbose=0) - y) ** 2), rtol=1e-5
    )
    assert logs["extra"] == 1.0


# --- progress output ---------------------------------------------------------------------------


def test_verbose_output(rng, capsys):
    x, y = _data(rng, n=16)
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "2/2 ━" in out and "loss: " in out
    model.fit(x, y, epochs=2, batch_size=8, verbose=2, validation_data=(x, y))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("2/2")]
    assert len(lines) == 2 and "step - loss: " in lines[0] and "val_loss: " in lines[0]
    model.fit(x, y, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""


# --- errors ------------------------------------------------------------------------------------


def test_errors_name_the_bad_value(rng):
    x, y = _data(rng, n=8)
    model = _mlp()
    with pytest.raises(ArgumentError, match="compile"):
        model.fit(x, y)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ArgumentError, match="verbose=3"):
        model.fit(x, y, verbose=3)
    with pytest.raises(ArgumentError, match="batch_size=0"):
        model.fit(x, y, batch_size=0)
    with pytest.raises(ArgumentError, match="epochs=-1"):
        model.fit(x, y, epochs=-1)
    with pytest.raises(ShapeError, match="different numbers of samples"):
        model.fit(x, y[:5], verbose=0)
    with pytest.raises(ArgumentError, match="validation_split=1.5"):
        model.fit(x, y, validation_split=1.5)
    with pytest.raises(ArgumentError, match="only supported for arrays"):
        model.fit([(x, y)], validation_split=0.5)
    with pytest.raises(ArgumentError, match="steps_per_execution=0"):
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=0)


def test_compile_without_a_loss_cannot_fit(rng):
    x, y = _data(rng, n=4)
    model = _mlp()
    model.compile(optimizer="sgd")
    with pytest.raises(ArgumentError, match="No loss to compute"):
        model.fit(x, y, verbose=0)


def test_class_weight_needs_every_class():
    model = rl.Sequential([rl.Input(shape=(2,)), rl.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ArgumentError, match=r"no entry for the classes \[1\]"):
        model.fit(np.ones((2, 2)), np.array([0, 1]), class_weight={0: 1.0}, verbose=0)
