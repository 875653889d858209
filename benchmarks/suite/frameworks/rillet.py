"""rillet's benchmark workers: Keras-style models, a train step compiled by ``rl.function``.

Training workloads run ``rl.function`` over a GradientTape and ``optimizer.apply`` (the
compiled executor, rillet's default); ``fit_*`` run ``model.compile``/``fit(verbose=0)``;
kws_window runs the model under ``rl.function``; kws_frame runs
``rl.streaming.to_streaming`` of the same model, its call wrapped in ``rl.function`` (and,
as "sliding-window", the whole-window model re-run on the last 98 frames at every frame);
overhead runs the op chain eagerly and compiled. Every model starts from ``spec`` weights.
``build(workload, "eager")`` also gives the uncompiled train step (for equality checks).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import spec

import rillet as rl

TRAIN = ("mlp", "cnn", "lstm", "transformer")
VARIANTS: dict[str, tuple[str, ...]] = {
    **{name: ("compiled",) for name in TRAIN},
    "kws_window": ("compiled",),
    "kws_frame": ("compiled", "sliding-window"),
    "fit_cnn": ("fit",),
    "fit_lstm": ("fit",),
    "overhead": ("eager", "compiled"),
}


def versions() -> dict[str, str]:
    return {"rillet": rl.__version__}


def _layer_weights(layer, weights: dict[str, np.ndarray], prefix: str) -> None:
    """Load ``spec`` weights ``prefix/*`` (in spec order) into ``layer``, reshaped to fit."""
    names = [name for name in weights if name.startswith(prefix + "/")]
    current = layer.get_weights()
    if len(names) != len(current):
        raise ValueError(
            f"rillet worker: layer {layer.name} has {len(current)} weights, spec "
            f"'{prefix}' has {len(names)}"
        )
    layer.set_weights([weights[n].reshape(w.shape) for n, w in zip(names, current)])


def _sequential(layers: list, weights: dict[str, np.ndarray], prefixes: list[str]):
    model = rl.Sequential(layers)
    trainable = [layer for layer in model.layers if layer.get_weights()]
    for layer, prefix in zip(trainable, prefixes, strict=True):
        _layer_weights(layer, weights, prefix)
    return model


def mlp_model(weights):
    dense = rl.layers.Dense
    layers = [rl.Input((784,)), dense(512, "relu"), dense(512, "relu"), dense(10)]
    return _sequential(layers, weights, ["dense1", "dense2", "dense3"])


def cnn_model(weights):
    layers = [
        rl.Input((28, 28, 1)),
        rl.layers.Conv2D(32, 3, activation="relu"),
        rl.layers.MaxPooling2D(2),
        rl.layers.Conv2D(64, 3, activation="relu"),
        rl.layers.MaxPooling2D(2),
        rl.layers.Flatten(),
        rl.layers.Dense(128, activation="relu"),
        rl.layers.Dense(10),
    ]
    return _sequential(layers, weights, ["conv1", "conv2", "dense1", "dense2"])


def lstm_model(weights):
    layers = [rl.Input((50, 64)), rl.layers.LSTM(128), rl.layers.Dense(10)]
    return _sequential(layers, weights, ["lstm", "dense"])


def transformer_model(weights):
    x = rl.Input((64, 128))
    attention = rl.layers.MultiHeadAttention(num_heads=4, key_dim=32)
    norm1 = rl.layers.LayerNormalization(epsilon=spec.LN_EPSILON)
    ffn1 = rl.layers.Dense(512, activation="relu")
    ffn2 = rl.layers.Dense(128)
    norm2 = rl.layers.LayerNormalization(epsilon=spec.LN_EPSILON)
    head = rl.layers.Dense(10)
    h = norm1(rl.layers.Add()([x, attention(x, x)]))
    y = norm2(rl.layers.Add()([h, ffn2(ffn1(h))]))
    model = rl.Model(x, head(rl.layers.GlobalAveragePooling1D()(y)))
    pairs = [(attention, "attention"), (norm1, "ln1"), (ffn1, "ffn1"), (ffn2, "ffn2")]
    for layer, prefix in [*pairs, (norm2, "ln2"), (head, "dense")]:
        _layer_weights(layer, weights, prefix)
    return model


def kws_model(weights, return_sequences: bool = False):
    layers = [
        rl.Input((None, spec.KWS_FEATURES)),
        rl.layers.Conv1D(64, 3, padding="causal", activation="relu"),
        rl.layers.GRU(128, return_sequences=return_sequences),
        rl.layers.Dense(spec.KWS_CLASSES),
    ]
    return _sequential(layers, weights, ["conv", "gru", "dense"])


MODELS = {"mlp": mlp_model, "cnn": cnn_model, "lstm": lstm_model, "transformer": transformer_model}


def _loss():
    return rl.losses.SparseCategoricalCrossentropy(from_logits=True)


def _adam():
    return rl.optimizers.Adam(**spec.ADAM)


def train_step(workload: spec.Workload, compiled: bool = True) -> Callable[[], float]:
    """One training step on ``workload``'s batch; returns the loss (before the update)."""
    model = MODELS[workload.model](workload.init_weights())
    loss_fn, optimizer = _loss(), _adam()

    def step(x, y):
        with rl.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        variables = model.trainable_weights
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    run = rl.function(step) if compiled else step
    x, y = (rl.asarray(a) for a in workload.make_data())
    return lambda: float(run(x, y))


def fit_epoch(workload: spec.Workload) -> Callable[[], float]:
    """One epoch of ``model.fit`` (no callbacks, no progress bar); returns the last loss."""
    model = MODELS[workload.model](workload.init_weights())
    model.compile(optimizer=_adam(), loss=_loss())
    x, y = workload.make_data()

    def epoch() -> float:
        history = model.fit(x, y, batch_size=workload.batch, epochs=1, verbose=0, shuffle=False)
        return history.history["loss"][-1]

    return epoch


def kws_window(workload: spec.Workload) -> Callable[[], np.ndarray]:
    model = kws_model(workload.init_weights())
    run = rl.function(lambda x: model(x))
    x = rl.asarray(workload.make_data()[0])
    return lambda: run(x).numpy()


def kws_stream(workload: spec.Workload, compiled: bool = True):
    """The streaming kws model and a step that feeds it the next frame of the stream."""
    stream = rl.streaming.to_streaming(kws_model(workload.init_weights(), True))
    run = rl.function(lambda frame: stream(frame)) if compiled else stream
    x = workload.make_data()[0]
    frames = [rl.asarray(x[:, t : t + 1]) for t in range(x.shape[1])]
    position = [0]

    def step() -> np.ndarray:
        t = position[0]
        position[0] = (t + 1) % len(frames)
        return run(frames[t]).numpy()[:, -1]  # (1, 12), as the other workers

    return stream, step


def kws_sliding_window(workload: spec.Workload) -> Callable[[], np.ndarray]:
    """The non-streaming way to the same output: per new frame, shift the last 98 frames
    along by one and run the whole-window model again (compiled)."""
    model = kws_model(workload.init_weights())
    run = rl.function(lambda x: model(x))
    x = workload.make_data()[0]
    window = np.zeros_like(x)
    position = [0]

    def step() -> np.ndarray:
        t = position[0]
        position[0] = (t + 1) % x.shape[1]
        window[:, :-1] = window[:, 1:]
        window[:, -1] = x[:, t]
        return run(rl.asarray(window)).numpy()

    return step


def overhead(workload: spec.Workload, compiled: bool) -> Callable[[], np.ndarray]:
    add, mul = spec.OVERHEAD_ADD, spec.OVERHEAD_MUL

    def chain(x):
        for _ in range(workload.ops_per_step // 2):
            x = (x + add) * mul
        return x

    run = rl.function(chain) if compiled else chain
    x = rl.asarray(workload.make_data()[0])
    return lambda: run(x).numpy()


def build(workload: str, variant: str, threads: int) -> Callable[[], object]:
    """A zero-argument callable that runs one step of ``workload`` (results materialized)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # NumPy's BLAS reads it at load
    w = spec.WORKLOADS[workload]
    if workload in TRAIN:
        return train_step(w, compiled=variant != "eager")
    if w.kind == "fit":
        return fit_epoch(w)
    if workload == "kws_window":
        return kws_window(w)
    if workload == "kws_frame" and variant == "sliding-window":
        return kws_sliding_window(w)
    if workload == "kws_frame":
        return kws_stream(w)[1]
    if workload == "overhead":
        return overhead(w, compiled=variant == "compiled")
    raise ValueError(f"rillet worker: unknown workload {workload!r}")
