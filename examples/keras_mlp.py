"""A Keras 3 script: a Sequential MLP with callbacks, on the bundled 8x8 digits.

Written for Keras; the only change for rillet is the import line. (Keras has no bundled
digits: with Keras, load them with ``sklearn.datasets.load_digits`` instead.) Run it with
``.venv/bin/python examples/keras_mlp.py``; it takes a few seconds.
"""

from __future__ import annotations

import os
import tempfile

import rillet as keras  # was: import keras


def load_data():
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    x_train = x_train.reshape(len(x_train), 64).astype("float32") / 16.0
    x_test = x_test.reshape(len(x_test), 64).astype("float32") / 16.0
    return (x_train, y_train), (x_test, y_test)


def build_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="digits_mlp",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main(epochs: int = 30, verbose: int = 2) -> float:
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_data()
    model = build_model()
    if verbose:
        model.summary()
    with tempfile.TemporaryDirectory() as folder:
        best = os.path.join(folder, "best.weights.h5")
        callbacks = [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=5),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
            keras.callbacks.ModelCheckpoint(best, save_best_only=True, save_weights_only=True),
        ]
        model.fit(
            x_train,
            y_train,
            batch_size=32,
            epochs=epochs,
            validation_split=0.1,
            callbacks=callbacks,
            verbose=verbose,
        )
        model.load_weights(best)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    predicted = model.predict(x_test[:10], verbose=0).argmax(axis=-1)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.2%}")
    print(f"first predictions {predicted.tolist()}, labels {y_test[:10].tolist()}")
    return accuracy


if __name__ == "__main__":
    main()
