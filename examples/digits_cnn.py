"""The main job (`make demo`): a small CNN on the bundled 8x8 digits, end to end.

It trains with a progress bar, saves the model (`digits_cnn.rillet`), writes TensorBoard logs
and a CSV of the epochs, plots the curves to a PNG, reloads the saved model in a fresh process
and checks that its predictions equal the trained model's, then prints where everything went.
Run it with ``rillet train examples/digits_cnn.py [OUTPUT_DIR]`` (default ``demo_output``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

import rillet as keras

EPOCHS = 30


def load_data():
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data(test_split=0.2, seed=0)
    scale = lambda x: x.reshape(-1, 8, 8, 1).astype("float32") / 16.0  # noqa: E731
    return (scale(x_train), y_train.astype("int64")), (scale(x_test), y_test.astype("int64"))


def build_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="digits_cnn",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def check_in_fresh_process(model_path: str, inputs_path: str, expected_path: str) -> bool:
    """Load the saved model in a new interpreter and compare its predictions."""
    code = (
        "import sys, numpy as np, rillet as rl\n"
        "model = rl.models.load_model(sys.argv[1])\n"
        "got = model.predict(np.load(sys.argv[2]), verbose=0)\n"
        "print(bool(np.array_equal(got, np.load(sys.argv[3]))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, model_path, inputs_path, expected_path],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip() == "True"


def main(output_dir: str = "demo_output") -> float:
    os.makedirs(output_dir, exist_ok=True)
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_data()
    model = build_model()
    logs = os.path.join(output_dir, "logs")
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=logs),
        keras.callbacks.CSVLogger(os.path.join(logs, "epochs.csv")),
    ]
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=EPOCHS, validation_data=(x_test, y_test),
              callbacks=callbacks, verbose=1)  # fmt: skip
    seconds = time.perf_counter() - start
    predictions = model.predict(x_test, verbose=0)
    accuracy = float((predictions.argmax(-1) == y_test).mean())

    model_path = os.path.join(output_dir, "digits_cnn.rillet")
    model.save(model_path)
    inputs_path, expected_path = (os.path.join(output_dir, n) for n in ("x.npy", "pred.npy"))
    np.save(inputs_path, x_test)
    np.save(expected_path, predictions)
    same = check_in_fresh_process(model_path, inputs_path, expected_path)

    from rillet import cli

    curves = os.path.join(output_dir, "curves.png")
    cli.main(["plot", logs, "--output", curves])
    report = {
        "held_out_accuracy": round(accuracy, 4),
        "training_seconds": round(seconds, 1),
        "model": model_path,
        "tensorboard_logs": logs,
        "curves": curves,
        "reloaded_predictions_equal": same,
    }
    print(json.dumps(report, indent=2))
    if accuracy < 0.97 or not same:
        raise SystemExit(f"demo failed: accuracy {accuracy:.2%}, reload equal: {same}")
    return accuracy


if __name__ == "__main__":
    main(*sys.argv[1:2])
