"""TensorFlow workers of the benchmark suite: Keras 3 models on the TensorFlow backend.

Models are Keras layers loaded with the suite's weights. A training step is one
``tf.function`` (variant ``"function"``) or one XLA cluster (``"xla"``, ``jit_compile=True``)
that runs the forward pass under a ``GradientTape``, the softmax cross-entropy and Keras' Adam;
variant ``"fused-adam"`` is the ``tf.function`` with TensorFlow's fused Adam kernel instead.
``kws_window`` calls the Keras model on the whole window inside a ``tf.function``;
``kws_frame`` is a hand-written stateful step whose conv buffer (the last two frames) and GRU
state live in ``tf.Variable``s. ``fit_cnn``/``fit_lstm`` run one epoch of Keras' ``model.fit``
(no callbacks, ``verbose=0``, no shuffling) with ``jit_compile`` off or on. After the first
call (the trace), steps call the traced concrete function of their ``tf.function`` directly.
``kws_frame``'s variant ``"tflite"`` runs that frame step converted to TensorFlow Lite (XNNPACK),
the state passed in and out by the caller; the conversion happens in ``build``, as an export
would, so it is not part of the first call's time.

Threads: ``build`` sets TensorFlow's intra-op pool to ``threads`` and its inter-op pool to 1
before any op runs.

    .venv-bench/bin/python benchmarks/suite/worker.py --framework tf --workload cnn \
        --variant xla --steps 20 --warmup 3 --threads 2
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep oneDNN/XLA notices off stderr
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import spec  # noqa: E402
import tensorflow as tf  # noqa: E402

_TRAINING = ("function", "xla", "fused-adam")
_COMPILED = ("function", "xla")
VARIANTS: dict[str, tuple[str, ...]] = {
    **{name: _TRAINING for name in ("mlp", "cnn", "lstm", "transformer")},
    **{name: _COMPILED for name in ("kws_window", "fit_cnn", "fit_lstm")},
    "kws_frame": (*_COMPILED, "tflite"),
}


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def build(workload: str, variant: str, threads: int) -> Callable[[], object]:
    """A zero-argument step for ``workload`` (see ``VARIANTS``) on ``threads`` threads."""
    if variant not in VARIANTS.get(workload, ()):
        raise ValueError(
            f"tf: no variant {variant!r} for workload {workload!r}; offered: "
            f"{VARIANTS.get(workload, ())}"
        )
    _set_threads(threads)
    work, xla = spec.WORKLOADS[workload], variant == "xla"
    if work.kind == "train":
        return _training_step(work, xla, fused_adam=variant == "fused-adam")
    if work.kind == "fit":
        return _fit_step(work, xla)
    if workload == "kws_window":
        return _kws_window_step(work, xla)
    if variant == "tflite":
        return _kws_frame_tflite_step(work, threads)
    return _kws_frame_step(work, xla)


def _concrete_on_first_call(function: Callable) -> Callable:
    """``function`` (a ``tf.function``), traced at its first call as usual; later calls go
    straight to that trace's concrete function, skipping the matching of the arguments to a
    trace (about 60 us a call). For steps that always pass tensors of one signature."""
    concrete = []

    def call(*args):
        if not concrete:
            concrete.append(function.get_concrete_function(*args))
        return concrete[0](*args)

    return call


def _set_threads(threads: int) -> None:
    # settable only before TensorFlow's runtime starts; a second build in one process keeps it
    if tf.config.threading.get_intra_op_parallelism_threads() != threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    if tf.config.threading.get_inter_op_parallelism_threads() != 1:
        tf.config.threading.set_inter_op_parallelism_threads(1)


# ---- models, loaded with the suite's weights ---------------------------------------------------


def _mlp() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(spec.CLASSES),
        ]
    )


def _cnn() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(spec.CLASSES),
        ]
    )


def _lstm() -> keras.Model:
    return keras.Sequential(
        [keras.Input((50, 64)), keras.layers.LSTM(128), keras.layers.Dense(spec.CLASSES)]
    )


def _transformer() -> keras.Model:
    x = keras.Input((64, 128))
    attention = keras.layers.MultiHeadAttention(4, key_dim=32, name="attention")(x, x)
    h = keras.layers.LayerNormalization(epsilon=spec.LN_EPSILON, name="ln1")(x + attention)
    ffn = keras.layers.Dense(512, activation="relu", name="ffn1")(h)
    ffn = keras.layers.Dense(128, name="ffn2")(ffn)
    h = keras.layers.LayerNormalization(epsilon=spec.LN_EPSILON, name="ln2")(h + ffn)
    pooled = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(x, keras.layers.Dense(spec.CLASSES, name="dense")(pooled))


def _kws() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((spec.KWS_FRAMES, spec.KWS_FEATURES)),
            keras.layers.Conv1D(64, 3, padding="causal", activation="relu"),
            keras.layers.GRU(128),
            keras.layers.Dense(spec.KWS_CLASSES),
        ]
    )


_MODELS = {"mlp": _mlp, "cnn": _cnn, "lstm": _lstm, "transformer": _transformer, "kws": _kws}


def _keras_weights(work: spec.Workload) -> list[np.ndarray]:
    """The suite's weights in the order and shapes of ``model.get_weights()``."""
    weights = dict(work.init_weights())  # a copy: the attention entries are popped below
    if work.model != "transformer":
        return list(weights.values())  # the suite's layout and order are Keras'
    d, heads = 128, 4
    per_head = (d, heads, d // heads)
    attention = []
    for n in "qkv":
        attention += [weights.pop(f"attention/w{n}").reshape(per_head)]
        attention += [weights.pop(f"attention/b{n}").reshape(per_head[1:])]
    attention += [weights.pop("attention/wo").reshape(heads, d // heads, d)]
    attention += [weights.pop("attention/bo")]
    return attention + list(weights.values())  # then ln1, ffn1, ffn2, ln2, dense


def _model(work: spec.Workload) -> keras.Model:
    model = _MODELS[work.model]()
    model.set_weights(_keras_weights(work))
    return model


# ---- training step and fit -------------------------------------------------------------------


def _adam() -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(**spec.ADAM)


def _keras_adam(variables: list) -> Callable[[list], None]:
    """``apply(grads)``: Keras' Adam, its slots made now so that tracing makes no variable."""
    optimizer = _adam()
    optimizer.build(variables)

    def apply(grads: list) -> None:
        optimizer.apply(grads, variables)

    return apply


def _fused_adam(variables: list) -> Callable[[list], None]:
    """``apply(grads)``: Adam as one fused ``ResourceApplyAdam`` kernel per variable.

    The kernel ``tf.compat.v1.train.AdamOptimizer`` and Keras 2 ran; Keras 3's Adam spends
    about ten elementwise ops per variable instead. Same formula as Keras' Adam.
    """
    lr, b1, b2, eps = (spec.ADAM[k] for k in ("learning_rate", "beta_1", "beta_2", "epsilon"))
    handles = [v.value.handle for v in variables]  # the tf.Variables under Keras' variables
    slots = [(tf.Variable(tf.zeros(v.shape)), tf.Variable(tf.zeros(v.shape))) for v in variables]
    t = tf.Variable(0.0)

    def apply(grads: list) -> None:
        t.assign_add(1.0)
        b1_power, b2_power = tf.pow(b1, t), tf.pow(b2, t)
        for var, (m, v), g in zip(handles, slots, grads):
            tf.raw_ops.ResourceApplyAdam(
                var=var,
                m=m.handle,
                v=v.handle,
                beta1_power=b1_power,
                beta2_power=b2_power,
                lr=lr,
                beta1=b1,
                beta2=b2,
                epsilon=eps,
                grad=g,
            )

    return apply


def _training_step(work: spec.Workload, xla: bool, fused_adam: bool) -> Callable[[], object]:
    model = _model(work)
    variables = model.trainable_variables
    apply = _fused_adam(variables) if fused_adam else _keras_adam(variables)
    x, y = (tf.constant(a) for a in work.make_data())

    @tf.function(jit_compile=xla)
    def train(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
        apply(tape.gradient(loss, variables))
        return loss

    train = _concrete_on_first_call(train)
    return lambda: train(x, y).numpy()


def _fit_step(work: spec.Workload, xla: bool) -> Callable[[], object]:
    model = _model(work)
    model.compile(
        optimizer=_adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=xla,
    )
    x, y = work.make_data()

    def fit() -> float:
        history = model.fit(x, y, batch_size=work.batch, epochs=1, verbose=0, shuffle=False)
        return history.history["loss"][-1]

    return fit


# ---- kws inference ---------------------------------------------------------------------------


def _kws_window_step(work: spec.Workload, xla: bool) -> Callable[[], object]:
    model = _model(work)
    x = tf.constant(work.make_data()[0])

    @tf.function(jit_compile=xla)
    def infer(x):
        return model(x, training=False)

    infer = _concrete_on_first_call(infer)
    return lambda: infer(x).numpy()


def _kws_frame_cell(work: spec.Workload) -> tuple[Callable, int, int]:
    """``advance(frame, buffer, h) -> (logits, buffer', h')`` in TensorFlow ops, and the sizes
    of ``buffer`` (the last k - 1 frames, oldest first, flattened) and ``h``."""
    weights = {k: tf.constant(w) for k, w in work.init_weights().items()}
    k, n_in, _ = weights["conv/kernel"].shape
    conv_kernel = tf.reshape(weights["conv/kernel"], (k * n_in, -1))  # over k stacked frames
    wh = weights["gru/recurrent_kernel"]
    bx, bh = tf.unstack(weights["gru/bias"])

    def advance(frame, buffer, h):
        window = tf.concat([buffer, frame], axis=-1)
        conv = tf.nn.relu(window @ conv_kernel + weights["conv/bias"])
        xz, xr, xh = tf.split(conv @ weights["gru/kernel"] + bx, 3, axis=-1)
        hz, hr, hh = tf.split(h @ wh + bh, 3, axis=-1)
        z, r = tf.sigmoid(xz + hz), tf.sigmoid(xr + hr)
        h = z * h + (1.0 - z) * tf.tanh(xh + r * hh)  # Keras' GRU, reset_after=True
        return h @ weights["dense/kernel"] + weights["dense/bias"], window[:, n_in:], h

    return advance, (k - 1) * n_in, wh.shape[0]


def _stream_frames(work: spec.Workload) -> list[np.ndarray]:
    stream = work.make_data()[0]
    return [np.ascontiguousarray(stream[:, t]) for t in range(stream.shape[1])]  # each (1, 40)


def _kws_frame_step(work: spec.Workload, xla: bool) -> Callable[[], object]:
    cell, buffer_size, units = _kws_frame_cell(work)
    buffer = tf.Variable(tf.zeros((1, buffer_size)))
    state = tf.Variable(tf.zeros((1, units)))

    @tf.function(jit_compile=xla)
    def advance(frame):
        logits, new_buffer, h = cell(frame, buffer, state)
        buffer.assign(new_buffer)
        state.assign(h)
        return logits

    frames = [tf.constant(frame) for frame in _stream_frames(work)]
    advance = _concrete_on_first_call(advance)
    counter = [0]

    def step() -> np.ndarray:
        frame = frames[counter[0] % len(frames)]
        counter[0] += 1
        return advance(frame).numpy()

    return step


def _kws_frame_tflite_step(work: spec.Workload, threads: int) -> Callable[[], object]:
    """The frame step converted to TensorFlow Lite, its state passed in and out by the caller
    (the "external state" form streaming models take on TFLite)."""
    cell, buffer_size, units = _kws_frame_cell(work)
    frames = _stream_frames(work)
    sizes = {"frame": frames[0].shape[-1], "buffer": buffer_size, "h": units}
    signature = [tf.TensorSpec((1, n), tf.float32, name=name) for name, n in sizes.items()]
    module = tf.Module()
    module.advance = tf.function(cell, input_signature=signature)
    concrete = module.advance.get_concrete_function()
    flat = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module).convert()
    with warnings.catch_warnings():  # tf.lite.Interpreter points to its successor, LiteRT
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=flat, num_threads=threads)
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner()  # names the tensors; the step uses their indices
    inputs = runner.get_input_details()
    frame_in, buffer_in, h_in = (inputs[name]["index"] for name in sizes)
    outputs = runner.get_output_details()  # output_<i>: the i-th value advance returns
    logits_out, buffer_out, h_out = (outputs[f"output_{i}"]["index"] for i in range(3))
    carried = [np.zeros((1, buffer_size), np.float32), np.zeros((1, units), np.float32)]
    counter = [0]

    def step() -> np.ndarray:
        interpreter.set_tensor(frame_in, frames[counter[0] % len(frames)])
        interpreter.set_tensor(buffer_in, carried[0])
        interpreter.set_tensor(h_in, carried[1])
        interpreter.invoke()
        counter[0] += 1
        carried[:] = interpreter.get_tensor(buffer_out), interpreter.get_tensor(h_out)
        return interpreter.get_tensor(logits_out)

    return step
