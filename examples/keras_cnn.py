"""A Keras 3 script: a small convolutional network on the bundled digits (8x8x1 images).

Written for Keras; the only change for rillet is the import line. Run it with
``.venv/bin/python examples/keras_cnn.py``.
"""

from __future__ import annotations

import rillet as keras  # was: import keras


def load_data():
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    x_train = x_train.reshape(-1, 8, 8, 1).astype("float32") / 16.0
    x_test = x_test.reshape(-1, 8, 8, 1).astype("float32") / 16.0
    return (x_train, keras.utils.to_categorical(y_train, 10)), (x_test, y_test)


def build_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(16, kernel_size=3, activation="relu"),
            keras.layers.MaxPooling2D(pool_size=2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="digits_cnn",
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def main(epochs: int = 15, verbose: int = 2) -> float:
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_data()
    model = build_model()
    if verbose:
        model.summary()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=verbose)
    probabilities = model.predict(x_test, batch_size=128, verbose=0)
    accuracy = float((probabilities.argmax(axis=-1) == y_test).mean())
    print(f"test accuracy {accuracy:.2%}")
    return accuracy


if __name__ == "__main__":
    main()
