"""The benchmark suite's workloads: sizes, seeded data and initial weights (NumPy only).

Every framework worker (benchmarks/suite/frameworks/<fw>.py) imports this module as ``spec``
and builds its step from it, so all frameworks train the same model on the same data and may
start from identical weights.

Conventions shared by every workload:
- float32 everywhere, int64 labels, channels-last inputs;
- Adam with ``ADAM`` hyper-parameters, softmax cross-entropy from logits, mean over the batch;
- weights are a ``dict[str, np.ndarray]`` (float32) in the Keras layout:
  Dense ``kernel`` (in, out) and ``bias`` (out,); Conv2D ``kernel`` (kh, kw, in, out);
  Conv1D ``kernel`` (k, in, out); LSTM ``kernel`` (in, 4u), ``recurrent_kernel`` (u, 4u),
  ``bias`` (4u,), gates in the order i, f, c, o; GRU (``reset_after=True``) ``kernel`` (in, 3u),
  ``recurrent_kernel`` (u, 3u), ``bias`` (2, 3u) (row 0 the input bias, row 1 the recurrent
  bias), gates in the order z, r, h, with h' = z * h + (1 - z) * candidate;
  attention ``wq``/``wk``/``wv`` (d, d) whose column ``head * head_dim + j`` is feature j of
  that head (reshape to (d, heads, head_dim) for Keras' MultiHeadAttention), ``wo``
  (d, d) with rows indexed the same way (reshape to (heads, head_dim, d)).
  Names are "<layer>/<weight>", e.g. "dense1/kernel"; ``Workload.weight_names`` lists them in
  model order.

The workloads (``WORKLOADS``):
- ``mlp``: 784-512-512-10, ReLU, batch 128, one training step;
- ``cnn``: 28x28x1 -> conv3x3(32, 'valid')+ReLU -> maxpool2 -> conv3x3(64, 'valid')+ReLU ->
  maxpool2 -> flatten (5*5*64 = 1600, channels-last order) -> dense128(ReLU) -> dense10;
  batch 64, one training step;
- ``lstm``: batch 32, 50 steps x 64 features -> LSTM(128) -> dense10 on the last state;
  one training step;
- ``transformer``: batch 16, seq 64, input features of width 128 (no embedding) -> post-LN
  encoder block: ``h = LN1(x + MHA(x))`` (4 heads, head_dim 32, scaled dot-product, no mask,
  no dropout), ``y = LN2(h + W2 relu(W1 h + b1) + b2)`` (FFN 512) -> mean over time ->
  dense10; layer norm epsilon ``LN_EPSILON``; one training step;
- ``kws_window``: Conv1D(64, kernel 3, 'causal', ReLU) over 40-dim frames -> GRU(128) ->
  Dense(12); inference on one whole 98-frame window, batch 1, the logits of the last frame
  (shape (1, 12));
- ``kws_frame``: the same model and weights, one frame (1, 1, 40) per step through a stateful
  streaming step (a ring buffer of the last 2 input frames for the causal conv, plus the GRU
  state), batch 1, logits (1, 12). ``make_data`` gives a (1, 98, 40) stream; step ``t`` feeds
  frame ``t % 98``. Fed the whole stream from zero state, the last frame's logits equal
  ``kws_window``'s;
- ``fit_cnn`` / ``fit_lstm``: one epoch of Keras-style ``model.fit`` (no callbacks, no
  progress bar, no shuffling) per step, on the cnn model with 2048 samples in batches of 64 /
  the lstm model with 1024 samples in batches of 32; reported as samples/s;
- ``overhead``: per-op dispatch on 1-element float32 tensors: x of shape (1,), one step is a
  chain of 100 ops alternating ``x = x + 0.5`` and ``x = x * 0.5``, the result materialized.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

SEED = 0
CLASSES = 10
KWS_CLASSES = 12
KWS_FRAMES = 98
KWS_FEATURES = 40
LN_EPSILON = 1e-3
ADAM = {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
OVERHEAD_OPS = 100
OVERHEAD_ADD = 0.5
OVERHEAD_MUL = 0.5


def _glorot(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _dense(rng, weights: dict, name: str, n_in: int, n_out: int) -> None:
    weights[f"{name}/kernel"] = _glorot(rng, (n_in, n_out), n_in, n_out)
    weights[f"{name}/bias"] = np.zeros(n_out, np.float32)


def _conv(rng, weights: dict, name: str, kernel: tuple[int, ...], n_in: int, n_out: int):
    size = int(np.prod(kernel))
    shape = (*kernel, n_in, n_out)
    weights[f"{name}/kernel"] = _glorot(rng, shape, size * n_in, size * n_out)
    weights[f"{name}/bias"] = np.zeros(n_out, np.float32)


def _recurrent(rng, weights: dict, name: str, n_in: int, units: int, gates: int, gru: bool):
    weights[f"{name}/kernel"] = _glorot(rng, (n_in, gates * units), n_in, gates * units)
    weights[f"{name}/recurrent_kernel"] = _glorot(rng, (units, gates * units), units, gates * units)
    if gru:
        weights[f"{name}/bias"] = np.zeros((2, gates * units), np.float32)
    else:
        bias = np.zeros(gates * units, np.float32)
        bias[units : 2 * units] = 1.0  # forget gate bias 1, as Keras' unit_forget_bias
        weights[f"{name}/bias"] = bias


def _mlp_weights(rng) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    _dense(rng, weights, "dense1", 784, 512)
    _dense(rng, weights, "dense2", 512, 512)
    _dense(rng, weights, "dense3", 512, CLASSES)
    return weights


def _cnn_weights(rng) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    _conv(rng, weights, "conv1", (3, 3), 1, 32)
    _conv(rng, weights, "conv2", (3, 3), 32, 64)
    _dense(rng, weights, "dense1", 5 * 5 * 64, 128)
    _dense(rng, weights, "dense2", 128, CLASSES)
    return weights


def _lstm_weights(rng) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    _recurrent(rng, weights, "lstm", 64, 128, 4, gru=False)
    _dense(rng, weights, "dense", 128, CLASSES)
    return weights


def _transformer_weights(rng) -> dict[str, np.ndarray]:
    d, ffn = 128, 512
    weights: dict[str, np.ndarray] = {}
    for name in ("wq", "wk", "wv", "wo"):
        weights[f"attention/{name}"] = _glorot(rng, (d, d), d, d)
        weights[f"attention/b{name[1]}"] = np.zeros(d, np.float32)
    weights["ln1/gamma"] = np.ones(d, np.float32)
    weights["ln1/beta"] = np.zeros(d, np.float32)
    _dense(rng, weights, "ffn1", d, ffn)
    _dense(rng, weights, "ffn2", ffn, d)
    weights["ln2/gamma"] = np.ones(d, np.float32)
    weights["ln2/beta"] = np.zeros(d, np.float32)
    _dense(rng, weights, "dense", d, CLASSES)
    return weights


def _kws_weights(rng) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    _conv(rng, weights, "conv", (3,), KWS_FEATURES, 64)
    # small random biases so that a wrong bias layout shows in an equality check
    weights["conv/bias"] = rng.uniform(-0.1, 0.1, 64).astype(np.float32)
    _recurrent(rng, weights, "gru", 64, 128, 3, gru=True)
    weights["gru/bias"] = rng.uniform(-0.1, 0.1, (2, 384)).astype(np.float32)
    _dense(rng, weights, "dense", 128, KWS_CLASSES)
    return weights


def _labelled(shape: tuple[int, ...], classes: int) -> Callable[[int], tuple]:
    def make(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(shape, dtype=np.float32)
        y = rng.integers(0, classes, size=shape[0], dtype=np.int64)
        return x, y

    return make


def _overhead_data(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    return np.ones(1, np.float32), np.zeros(1, np.int64)


def _no_weights(rng) -> dict[str, np.ndarray]:
    return {}


@dataclass(frozen=True)
class Workload:
    """One benchmark workload.

    ``input_shape`` is the shape of the whole input array ``make_data`` returns (batch
    first); ``step_input_shape`` what one step consumes when it differs (kws_frame: one
    frame). ``samples_per_step`` is set for the fit workloads (throughput = samples/s),
    ``ops_per_step`` for overhead (cost per op = step time / ops).
    """

    name: str
    kind: str  # "train", "infer", "stream", "fit" or "overhead"
    batch: int
    input_shape: tuple[int, ...]
    classes: int
    _make_data: Callable[[int], tuple[np.ndarray, np.ndarray]] = field(repr=False)
    _make_weights: Callable[[np.random.Generator], dict[str, np.ndarray]] = field(repr=False)
    model: str = ""  # the model whose weights it uses (fit_cnn: "cnn")
    step_input_shape: tuple[int, ...] | None = None
    samples_per_step: int | None = None
    ops_per_step: int | None = None

    def make_data(self, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
        """Seeded inputs (float32, ``input_shape``) and int64 labels (one per sample)."""
        return self._make_data(seed)

    def init_weights(self, seed: int = SEED) -> dict[str, np.ndarray]:
        """Seeded float32 initial weights in the layout the module docstring describes."""
        return self._make_weights(np.random.default_rng(seed + 1))

    @property
    def weight_names(self) -> tuple[str, ...]:
        return tuple(self.init_weights())


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "mlp",
            "train",
            128,
            (128, 784),
            CLASSES,
            _labelled((128, 784), CLASSES),
            _mlp_weights,
            model="mlp",
        ),
        Workload(
            "cnn",
            "train",
            64,
            (64, 28, 28, 1),
            CLASSES,
            _labelled((64, 28, 28, 1), CLASSES),
            _cnn_weights,
            model="cnn",
        ),
        Workload(
            "lstm",
            "train",
            32,
            (32, 50, 64),
            CLASSES,
            _labelled((32, 50, 64), CLASSES),
            _lstm_weights,
            model="lstm",
        ),
        Workload(
            "transformer",
            "train",
            16,
            (16, 64, 128),
            CLASSES,
            _labelled((16, 64, 128), CLASSES),
            _transformer_weights,
            model="transformer",
        ),
        Workload(
            "kws_window",
            "infer",
            1,
            (1, KWS_FRAMES, KWS_FEATURES),
            KWS_CLASSES,
            _labelled((1, KWS_FRAMES, KWS_FEATURES), KWS_CLASSES),
            _kws_weights,
            model="kws",
        ),
        Workload(
            "kws_frame",
            "stream",
            1,
            (1, KWS_FRAMES, KWS_FEATURES),
            KWS_CLASSES,
            _labelled((1, KWS_FRAMES, KWS_FEATURES), KWS_CLASSES),
            _kws_weights,
            model="kws",
            step_input_shape=(1, 1, KWS_FEATURES),
        ),
        Workload(
            "fit_cnn",
            "fit",
            64,
            (2048, 28, 28, 1),
            CLASSES,
            _labelled((2048, 28, 28, 1), CLASSES),
            _cnn_weights,
            model="cnn",
            samples_per_step=2048,
        ),
        Workload(
            "fit_lstm",
            "fit",
            32,
            (1024, 50, 64),
            CLASSES,
            _labelled((1024, 50, 64), CLASSES),
            _lstm_weights,
            model="lstm",
            samples_per_step=1024,
        ),
        Workload(
            "overhead",
            "overhead",
            1,
            (1,),
            1,
            _overhead_data,
            _no_weights,
            ops_per_step=OVERHEAD_OPS,
        ),
    )
}


def kws_reference(x: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """The kws model in plain NumPy (float64 inside): logits of the last frame, (batch, 12).

    ``x`` is (batch, frames, 40). A reference for equality checks, not a benchmark.
    """
    x = np.asarray(x, np.float64)
    kernel = weights["conv/kernel"].astype(np.float64)
    k = kernel.shape[0]
    padded = np.concatenate([np.zeros((x.shape[0], k - 1, x.shape[2])), x], axis=1)
    conv = sum(padded[:, i : i + x.shape[1]] @ kernel[i] for i in range(k))
    conv = np.maximum(conv + weights["conv/bias"], 0.0)
    wx, wh = weights["gru/kernel"], weights["gru/recurrent_kernel"]
    bx, bh = weights["gru/bias"]
    units = wh.shape[0]
    h = np.zeros((x.shape[0], units))
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    for t in range(x.shape[1]):
        gx = conv[:, t] @ wx + bx
        gh = h @ wh + bh
        z = sigmoid(gx[:, :units] + gh[:, :units])
        r = sigmoid(gx[:, units : 2 * units] + gh[:, units : 2 * units])
        candidate = np.tanh(gx[:, 2 * units :] + r * gh[:, 2 * units :])
        h = z * h + (1.0 - z) * candidate
    return h @ weights["dense/kernel"] + weights["dense/bias"]
