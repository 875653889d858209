"""A Keras 3 script: a functional model with two inputs and two outputs, on synthetic data.

Each sample has 8 numeric features and a category (0-9). The model predicts a number (a
regression head) and whether that number is positive (a classification head). Written for
Keras; the only change for rillet is the import line. Run it with
``.venv/bin/python examples/keras_functional.py``.
"""

from __future__ import annotations

import numpy as np

import rillet as keras  # was: import keras

CATEGORIES = 10


def make_data(count: int, seed: int):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(count, 8)).astype("float32")
    category = rng.integers(0, CATEGORIES, size=(count, 1))
    offsets = np.linspace(-1.0, 1.0, CATEGORIES).astype("float32")
    value = features[:, :4].sum(axis=1, keepdims=True) + offsets[category[:, 0]][:, None]
    inputs = {"features": features, "category": category}
    targets = {"value": value, "positive": (value > 0).astype("float32")}
    return inputs, targets


def build_model():
    features = keras.Input(shape=(8,), name="features")
    category = keras.Input(shape=(1,), dtype="int32", name="category")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(CATEGORIES, 4)(category))
    hidden = keras.layers.Concatenate()([features, embedded])
    hidden = keras.layers.Dense(32, activation="relu")(hidden)
    hidden = keras.layers.Dense(16, activation="relu")(hidden)
    value = keras.layers.Dense(1, name="value")(hidden)
    positive = keras.layers.Dense(1, activation="sigmoid", name="positive")(hidden)
    model = keras.Model(inputs=[features, category], outputs=[value, positive], name="two_heads")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-2),
        loss={"value": "mse", "positive": "binary_crossentropy"},
        loss_weights={"value": 0.5, "positive": 1.0},
        metrics={"value": ["mae"], "positive": ["accuracy"]},
    )
    return model


def main(epochs: int = 20, verbose: int = 2) -> float:
    keras.utils.set_random_seed(0)
    train_inputs, train_targets = make_data(2000, seed=0)
    test_inputs, test_targets = make_data(500, seed=1)
    model = build_model()
    if verbose:
        model.summary()
    model.fit(
        train_inputs,
        train_targets,
        batch_size=64,
        epochs=epochs,
        validation_data=(test_inputs, test_targets),
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)],
        verbose=verbose,
    )
    results = model.evaluate(test_inputs, test_targets, verbose=0, return_dict=True)
    value, positive = model.predict(test_inputs, verbose=0)
    print(", ".join(f"{name} {result:.4f}" for name, result in sorted(results.items())))
    print(f"predicted values {[round(float(v), 2) for v in value[:3, 0]]}")
    print(f"predicted p(positive) {[round(float(p), 2) for p in positive[:3, 0]]}")
    return results["positive_accuracy"]


if __name__ == "__main__":
    main()
