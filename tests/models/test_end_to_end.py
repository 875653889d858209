"""End to end: the Keras-script examples, and small networks of each kind learning a
synthetic task to a stated accuracy."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import rillet as rl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name, epochs, accuracy",
    [("keras_mlp", 10, 0.95), ("keras_cnn", 8, 0.85), ("keras_functional", 8, 0.9)],
)
def test_keras_script_examples(name, epochs, accuracy, capsys):
    source = (EXAMPLES / f"{name}.py").read_text()
    assert "import rillet as keras  # was: import keras" in source
    # the import line is the only change from Keras: nothing else names rillet
    assert source.count("import rillet") == 1 and "from rillet" not in source
    assert "rl." not in source
    assert _example(name).main(epochs=epochs, verbose=0) >= accuracy
    assert "accuracy" in capsys.readouterr().out


def test_mlp_learns_xor_like_quadrants():
    rl.utils.set_random_seed(0)
    x = np.random.uniform(-1, 1, size=(400, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float32)[:, None]
    model = rl.Sequential([
        rl.Input(shape=(2,)),
        rl.layers.Dense(16, activation="tanh"),
        rl.layers.Dense(1, activation="sigmoid"),
    ])  # fmt: skip
    model.compile(optimizer=rl.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    model.fit(x, y, batch_size=32, epochs=30, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] >= 0.9


def test_cnn_learns_to_find_bright_stripes():
    """Images with a bright horizontal or vertical stripe: the CNN tells which."""
    rl.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 0.3, size=(300, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 2, size=300)
    where = rng.integers(0, 8, size=300)
    for i, (label, at) in enumerate(zip(labels, where)):
        if label:
            images[i, at, :, 0] += 1.0
        else:
            images[i, :, at, 0] += 1.0
    model = rl.Sequential([
        rl.Input(shape=(8, 8, 1)),
        rl.layers.Conv2D(4, 3, padding="same", activation="relu"),
        rl.layers.GlobalMaxPooling2D(),
        rl.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer=rl.optimizers.Adam(0.03), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    model.fit(images, labels, batch_size=32, epochs=10, verbose=0)
    assert model.evaluate(images, labels, verbose=0)[1] >= 0.9


def _sequences(rng, count=256, length=12, vocabulary=20):
    """Token sequences (0 pads the end); the label says whether token 1 occurs."""
    tokens = rng.integers(2, vocabulary, size=(count, length))
    labels = rng.integers(0, 2, size=count)
    lengths = rng.integers(4, length + 1, size=count)
    for i in range(count):
        if labels[i]:
            tokens[i, rng.integers(0, lengths[i])] = 1
        tokens[i, lengths[i] :] = 0
    return tokens, labels


@pytest.mark.skipif(not hasattr(rl.layers, "LSTM"), reason="rl.layers.LSTM has not landed yet")
def test_lstm_text_classifier_learns_a_keyword():
    rl.utils.set_random_seed(0)
    tokens, labels = _sequences(np.random.default_rng(0))
    model = rl.Sequential([
        rl.Input(shape=(12,), dtype="int64"),
        rl.layers.Embedding(20, 8, mask_zero=True),
        rl.layers.LSTM(16),
        rl.layers.Dense(1, activation="sigmoid"),
    ])  # fmt: skip
    model.compile(optimizer=rl.optimizers.Adam(0.02), loss="binary_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    model.fit(tokens, labels, batch_size=32, epochs=15, verbose=0)
    assert model.evaluate(tokens, labels, verbose=0)[1] >= 0.9


@pytest.mark.skipif(
    not hasattr(rl.layers, "MultiHeadAttention"),
    reason="rl.layers.MultiHeadAttention has not landed yet",
)
def test_transformer_block_learns_a_keyword():
    rl.utils.set_random_seed(0)
    tokens, labels = _sequences(np.random.default_rng(1))
    inputs = rl.Input(shape=(12,), dtype="int64")
    x = rl.layers.Embedding(20, 16)(inputs)
    attended = rl.layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
    x = rl.layers.LayerNormalization()(rl.layers.Add()([x, attended]))
    hidden = rl.layers.Dense(32, activation="relu")(x)
    x = rl.layers.LayerNormalization()(rl.layers.Add()([x, rl.layers.Dense(16)(hidden)]))
    outputs = rl.layers.Dense(1, activation="sigmoid")(rl.layers.GlobalMaxPooling1D()(x))
    model = rl.Model(inputs, outputs)
    model.compile(optimizer=rl.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    model.fit(tokens, labels, batch_size=32, epochs=15, verbose=0)
    assert model.evaluate(tokens, labels, verbose=0)[1] >= 0.9


def test_cnn_compiled_and_eager_fit_agree():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((40, 6, 6, 2)).astype(np.float32)
    labels = rng.integers(0, 3, size=40)
    histories = []
    for run_eagerly in (False, True):
        rl.utils.set_random_seed(4)
        model = rl.Sequential([
            rl.Input(shape=(6, 6, 2)),
            rl.layers.Conv2D(3, 3, activation="relu"),
            rl.layers.BatchNormalization(),
            rl.layers.Flatten(),
            rl.layers.Dropout(0.3),
            rl.layers.Dense(3),
        ])  # fmt: skip
        model.compile(optimizer="adam", loss=rl.losses.SparseCategoricalCrossentropy(True),
                      metrics=["accuracy"], run_eagerly=run_eagerly)  # fmt: skip
        histories.append(model.fit(images, labels, batch_size=16, epochs=3, verbose=0).history)
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)
