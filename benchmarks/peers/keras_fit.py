"""The Keras script of the fit-throughput benchmark, run on rillet or on Keras 3 (TensorFlow).

The same code serves both: only the import differs (``import rillet as keras`` against
``import keras``). One process trains one workload and prints one JSON line:

    .venv/bin/python benchmarks/peers/keras_fit.py --framework rillet --workload cnn
    .venv-bench/bin/python benchmarks/peers/keras_fit.py --framework keras --workload lstm

Thread counts come from the environment the driver sets (OMP/OpenBLAS for NumPy); Keras's
TensorFlow backend is pinned as well through ``tf.config.threading`` before any op runs.
"""

from __future__ import annotations

import importlib

from _common import WORKLOADS, emit, make_data, parse_args, timed


def import_keras(framework: str, threads: int):
    if framework == "rillet":
        import rillet as keras

        return keras, {"rillet": _version("rillet")}
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras = importlib.import_module("keras")
    return keras, {"tensorflow": tf.__version__, "keras": keras.__version__}


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "source"


def build_cnn(keras):
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def build_lstm(keras):
    return keras.Sequential(
        [
            keras.Input(shape=(50, 64)),
            keras.layers.LSTM(128),
            keras.layers.Dense(10),
        ]
    )


def main() -> None:
    args = parse_args(("rillet", "keras"))
    keras, versions = import_keras(args.framework, args.threads)
    keras.utils.set_random_seed(0)
    workload = WORKLOADS[args.workload]
    x, y = make_data(workload)
    model = {"cnn": build_cnn, "lstm": build_lstm}[args.workload](keras)
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    def fit(epochs):
        return model.fit(x, y, batch_size=workload.batch_size, epochs=epochs, verbose=0)

    first_epoch_s, _ = timed(lambda: fit(1))
    timed_s, history = timed(lambda: fit(args.epochs))
    if args.framework == "keras":  # "auto" resolves to no XLA on a machine with only CPUs
        versions["jit_compile"] = str(model.jit_compile)
    emit(args, first_epoch_s, timed_s, float(history.history["loss"][-1]), versions)


if __name__ == "__main__":
    main()
