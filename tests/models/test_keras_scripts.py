"""A Keras-compatibility audit: three ordinary Keras 3 programs run on rillet with only the
import lines changed (``import rillet as keras``).

1. a subclassed Model with custom ``train_step``/``test_step`` and ``keras.metrics.Mean``
   trackers, and the Keras guide's ``train_step`` over ``self.metrics``;
2. a functional model with BatchNormalization and Dropout, trained with
   ``validation_split`` and ``EarlyStopping(restore_best_weights=True)``,
   ``ReduceLROnPlateau`` and ``ModelCheckpoint``;
3. ``keras.ops``, ``keras.random``, ``keras.utils`` (``to_categorical``, ``pad_sequences``)
   and ``keras.optimizers.schedules``, a custom layer, ``model.summary()`` and the model's
   ``get_config``/``from_config``, ``to_json`` and ``clone_model``.

The Keras names the audit found missing from rillet are checked at the end, each with the
Keras behaviour and a reproducer; none is left missing.
"""

import re

import numpy as np
import pytest

import rillet as rl

SUBCLASSED = '''
import numpy as np

import rillet as keras  # was: import keras
import rillet as tf  # was: import tensorflow as tf

keras.utils.set_random_seed(1)
rng = np.random.default_rng(1)
x = rng.normal(size=(512, 6)).astype("float32")
y = x @ np.linspace(-1.0, 1.0, 6, dtype="float32")[:, None] + 0.5


class TrackedRegressor(keras.Model):
    """Custom train_step/test_step with its own loss and metric trackers."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(32, activation="relu")
        self.head = keras.layers.Dense(1)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    def call(self, inputs, training=False):
        return self.head(self.hidden(inputs))

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = keras.ops.mean(keras.ops.square(y - y_pred))
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(keras.losses.mean_squared_error(y, y_pred))
        self.mae_metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        # listed here so that fit and evaluate reset them at the start of each epoch
        return [self.loss_tracker, self.mae_metric]


model = TrackedRegressor()
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01))
history = model.fit(x, y, batch_size=32, epochs=12, verbose=0)
assert sorted(history.history) == ["loss", "mae"]
assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
results = model.evaluate(x, y, verbose=0, return_dict=True)
assert sorted(results) == ["loss", "mae"] and results["mae"] < 0.2


class GuideModel(keras.Model):
    """The Keras guide's train_step: compute_loss, then every metric in self.metrics."""

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(6,))
hidden = keras.layers.Dense(16, activation="relu")(inputs)
outputs = keras.layers.Dense(1)(hidden)
guide = GuideModel(inputs, outputs)
guide.compile(optimizer="adam", loss="mse", metrics=["mae"])
history = guide.fit(x, y, epochs=3, batch_size=64, verbose=0)
assert sorted(history.history) == ["loss", "mae"]
weights = np.ones((512,), "float32")
guide.fit(x, y, sample_weight=weights, epochs=1, batch_size=64, verbose=0)
assert guide.predict(x[:4], verbose=0).shape == (4, 1)
'''

FUNCTIONAL_CALLBACKS = """
import os

import numpy as np

import rillet as keras  # was: import keras

keras.utils.set_random_seed(42)
rng = np.random.default_rng(42)
x = rng.normal(size=(600, 10)).astype("float32")
y = (x[:, :3].sum(axis=1) > 0).astype("int32")

inputs = keras.Input(shape=(10,), name="features")
h = keras.layers.Dense(32, use_bias=False)(inputs)
h = keras.layers.BatchNormalization()(h)
h = keras.layers.Activation("relu")(h)
h = keras.layers.Dropout(0.3)(h)
h = keras.layers.Dense(16, activation="relu")(h)
outputs = keras.layers.Dense(2, activation="softmax", name="label")(h)
model = keras.Model(inputs=inputs, outputs=outputs, name="bn_classifier")
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=0.01),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
)
os.makedirs("checkpoints", exist_ok=True)
checkpoint_path = os.path.join("checkpoints", "best.weights.h5")
callbacks = [
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=1e-4),
    keras.callbacks.ModelCheckpoint(
        checkpoint_path, monitor="val_acc", save_best_only=True, save_weights_only=True
    ),
]
history = model.fit(
    x, y, batch_size=32, epochs=40, validation_split=0.2, callbacks=callbacks, verbose=0
)
assert {"loss", "acc", "val_loss", "val_acc", "learning_rate"} <= set(history.history)
assert len(history.history["loss"]) < 40  # early stopping ended it
assert min(history.history["learning_rate"]) < 0.01  # the plateau lowered it

# validation_split holds out the last 20%; the best epoch's weights are back in the model
best = int(np.argmin(history.history["val_loss"]))
val_loss, _ = model.evaluate(x[480:], y[480:], verbose=0)
assert abs(val_loss - history.history["val_loss"][best]) < 1e-5
model.load_weights(checkpoint_path)
loss, acc = model.evaluate(x[480:], y[480:], verbose=0)
assert abs(acc - max(history.history["val_acc"])) < 1e-6 and acc > 0.85

bn = model.layers[2]
assert bn.name == "batch_normalization" and len(bn.non_trainable_weights) == 2
"""

OPS_AND_CONFIG = """
import numpy as np

import rillet as keras  # was: import keras
from rillet import ops  # was: from keras import ops

keras.utils.set_random_seed(7)
num_classes = 4
centers = keras.random.normal((num_classes, 8), stddev=3.0, seed=1)
labels = np.random.randint(0, num_classes, size=800)
x = ops.take(centers, labels, axis=0) + keras.random.normal((800, 8), seed=3)
x = np.asarray(x)
y = keras.utils.to_categorical(labels, num_classes=num_classes)
assert y.shape == (800, num_classes)
padded = keras.utils.pad_sequences([[5, 6, 7], [8]], maxlen=2, padding="post")
assert padded.tolist() == [[6, 7], [8, 0]]


class Standardize(keras.layers.Layer):
    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        mean = ops.mean(inputs, axis=-1, keepdims=True)
        std = ops.sqrt(ops.var(inputs, axis=-1, keepdims=True) + self.epsilon)
        return (inputs - mean) / std

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


schedule = keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate=0.05, decay_steps=20, decay_rate=0.9, staircase=True
)
warmup = keras.optimizers.schedules.CosineDecay(
    initial_learning_rate=0.0, decay_steps=100, warmup_target=0.01, warmup_steps=10
)
assert abs(float(warmup(10)) - 0.01) < 1e-7 and float(schedule(40)) < 0.05

inputs = keras.Input(shape=(8,))
h = Standardize(name="standardize")(inputs)
h = keras.layers.Dense(32, activation="gelu", kernel_regularizer=keras.regularizers.L2(1e-4))(h)
h = keras.layers.LayerNormalization()(h)
h = keras.layers.PReLU()(h)
h = keras.layers.GaussianNoise(0.1)(h)
outputs = keras.layers.Dense(num_classes, activation="softmax")(h)
model = keras.Model(inputs, outputs, name="blobs")
model.compile(
    optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=0.9),
    loss="categorical_crossentropy",
    metrics=["accuracy", keras.metrics.TopKCategoricalAccuracy(k=2, name="top2")],
)
model.summary()
lines = []
model.summary(print_fn=lambda line, **kwargs: lines.append(line))
assert any("standardize (Standardize)" in line for line in lines)
assert any(f"{model.count_params():,}" in line for line in lines)

history = model.fit(x, y, batch_size=64, epochs=5, verbose=0)
assert history.history["accuracy"][-1] > 0.9
assert float(model.optimizer.learning_rate) < 0.05  # the schedule decayed it

config = model.get_config()
clone = keras.Model.from_config(config, custom_objects={"Standardize": Standardize})
clone.set_weights(model.get_weights())
np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
again = keras.models.model_from_json(model.to_json(), custom_objects={"Standardize": Standardize})
assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
copy = keras.models.clone_model(model)
assert copy.count_params() == model.count_params()

probabilities = model.predict(x[:5], verbose=0)
predicted = ops.argmax(probabilities, axis=-1)
values, indices = ops.top_k(probabilities, k=2)
assert np.asarray(predicted).tolist() == np.asarray(indices[:, 0]).tolist()
"""

SCRIPTS = {
    "subclassed": SUBCLASSED,
    "functional_callbacks": FUNCTIONAL_CALLBACKS,
    "ops_and_config": OPS_AND_CONFIG,
}


def run_script(name: str) -> dict:
    """Run a script in a fresh namespace (as ``__main__``); returns its globals."""
    namespace = {"__name__": "__main__"}
    exec(compile(SCRIPTS[name], f"<keras script {name}>", "exec"), namespace)
    return namespace


@pytest.fixture(autouse=True)
def _fresh_session(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ModelCheckpoint writes under the working directory
    rl.utils.clear_session()  # layer names as in a fresh Keras process
    yield
    rl.random.set_seed(None)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_scripts_change_only_their_import_lines(name):
    source = SCRIPTS[name]
    assert "import rillet as keras  # was: import keras" in source
    changed = [line for line in source.splitlines() if "rillet" in line]
    pattern = r"(import rillet as \w+|from rillet import \w+)  # was: (import|from) \w+.*"
    assert all(re.fullmatch(pattern, line) for line in changed), changed
    assert "rl." not in source


def test_subclassed_model_with_custom_train_step():
    namespace = run_script("subclassed")
    model = namespace["model"]
    assert [m.name for m in model.metrics] == ["loss", "mae"]
    assert isinstance(model.train_function, rl.graph.Function)  # the step ran compiled


def test_custom_train_step_gives_the_same_history_compiled_and_eager():
    namespace = run_script("subclassed")
    cls, x, y = namespace["TrackedRegressor"], namespace["x"], namespace["y"]
    histories = []
    for run_eagerly in (False, True):
        rl.utils.set_random_seed(3)
        model = cls()
        model.compile(optimizer=rl.optimizers.Adam(learning_rate=0.01), run_eagerly=run_eagerly)
        history = model.fit(x, y, batch_size=64, epochs=3, verbose=0, shuffle=False)
        histories.append(history.history)
    for key in ("loss", "mae"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5)


def test_functional_model_with_batch_norm_dropout_and_callbacks(tmp_path):
    namespace = run_script("functional_callbacks")
    assert (tmp_path / "checkpoints" / "best.weights.h5").is_file()
    model = namespace["model"]
    assert [layer.name for layer in model.layers][:3] == [
        "features",
        "dense",
        "batch_normalization",
    ]


def test_ops_random_utils_schedules_summary_and_config(capsys):
    namespace = run_script("ops_and_config")
    printed = capsys.readouterr().out
    assert 'Model: "blobs"' in printed and "Total params:" in printed
    assert type(namespace["clone"].get_layer("standardize")).__name__ == "Standardize"


# --- pad_sequences (found missing by the audit; Keras's values written out) ------------------


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, [[1, 2, 3], [0, 0, 4], [0, 0, 0]]),
        ({"maxlen": 2}, [[2, 3], [0, 4], [0, 0]]),
        ({"maxlen": 2, "truncating": "post"}, [[1, 2], [0, 4], [0, 0]]),
        ({"maxlen": 4, "padding": "post", "value": -1}, [[1, 2, 3, -1], [4, -1, -1, -1],
                                                         [-1, -1, -1, -1]]),
        ({"maxlen": 0}, [[], [], []]),
    ],
)  # fmt: skip
def test_pad_sequences_matches_keras(kwargs, expected):
    padded = rl.utils.pad_sequences([[1, 2, 3], [4], []], **kwargs)
    assert padded.dtype == np.int32 and padded.tolist() == expected


def test_pad_sequences_keeps_sample_shape_and_dtype():
    sequences = [np.ones((3, 2)), np.full((1, 2), 2.0)]
    padded = rl.utils.pad_sequences(sequences, dtype="float32", value=0.5)
    assert padded.shape == (2, 3, 2) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[1], [[0.5, 0.5], [0.5, 0.5], [2.0, 2.0]])


@pytest.mark.parametrize(
    "args, kwargs, text",
    [
        (([[1]],), {"padding": "middle"}, "padding='middle'"),
        (([[1]],), {"truncating": "both"}, "truncating='both'"),
        (([[1]],), {"maxlen": -1}, "maxlen=-1"),
        (([1, 2],), {}, r"sequences=\[1, 2\]"),
        (([np.ones((2, 2)), np.ones((1, 3))],), {}, r"sequence 1 .* \(3,\), expected \(2,\)"),
    ],
)
def test_pad_sequences_rejects_bad_arguments(args, kwargs, text):
    with pytest.raises(rl.errors.ArgumentError, match=text):
        rl.utils.pad_sequences(*args, **kwargs)


# --- what the audit found missing: Keras behaviour and a reproducer each ---------------------


def _layer_output():
    # feature extraction: a model of the intermediate outputs of another
    model = rl.Sequential([rl.Input((3,)), rl.layers.Dense(4), rl.layers.Dense(1)])
    features = rl.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    assert [tuple(f.shape) for f in features(np.ones((2, 3)))] == [(2, 4), (2, 1)]
    assert tuple(model.layers[1].input.shape) == (None, 4)


def _variable_name_and_path():
    layer = rl.layers.Dense(2, name="dense_out")
    layer.build((None, 3))
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert [w.path for w in layer.weights] == ["dense_out/kernel", "dense_out/bias"]


def _ops_convert():
    tensor = rl.ops.convert_to_tensor([1, 2], dtype="float32")
    assert isinstance(rl.ops.convert_to_numpy(tensor), np.ndarray)


def _ops_shape():
    assert rl.ops.shape(rl.ones((2, 3))) == (2, 3)


def _random_randint():
    values = rl.random.randint((100,), minval=0, maxval=4, seed=1)
    assert values.dtype == rl.int32 and set(np.asarray(values).tolist()) <= {0, 1, 2, 3}


def _random_seed_generator():
    generator = rl.random.SeedGenerator(42)
    assert rl.random.normal((2,), seed=generator).shape == (2,)


def _random_dropout():
    assert rl.random.dropout(rl.ones((4,)), rate=0.5, seed=1).shape == (4,)


def _config_backend_names():
    assert rl.config.floatx() == "float32" and rl.config.epsilon() == 1e-7
    assert rl.config.image_data_format() == "channels_last"
    assert rl.backend.epsilon() == 1e-7


def _whole_model_save_and_load():
    model = rl.Sequential([rl.Input((3,)), rl.layers.Dense(2)])
    model.save("model.keras")
    assert rl.models.load_model("model.keras").count_params() == 8


def _add_weight_keras_arguments():
    layer = rl.layers.Layer()
    w = layer.add_weight(shape=(2,), initializer="zeros", autocast=False, aggregation="mean")
    assert layer.compute_dtype == "float32" and layer.variable_dtype == "float32"
    assert w.aggregation == "mean" and w.autocast is False
    with pytest.raises(rl.errors.ArgumentError, match="aggregation='max'"):
        layer.add_weight(shape=(2,), aggregation="max")


PRESENT = {
    "Layer.output/Layer.input (the first call's KerasTensors)": _layer_output,
    "Variable.name is the short name; Variable.path the full one": _variable_name_and_path,
    "keras.ops.convert_to_tensor / convert_to_numpy": _ops_convert,
    "keras.config.floatx/epsilon/image_data_format; keras.backend": _config_backend_names,
    "keras.ops.shape(x) returns the shape tuple": _ops_shape,
    "keras.random.randint(shape, minval, maxval, dtype='int32', seed=None)": _random_randint,
    "model.save('model.keras'); keras.models.load_model": _whole_model_save_and_load,
    "add_weight(autocast=, aggregation=); layer.compute_dtype": _add_weight_keras_arguments,
}


@pytest.mark.parametrize("check", list(PRESENT.values()), ids=list(PRESENT))
def test_keras_names_found_missing_by_the_audit_now_work(check):
    check()
