"""JAX workers of the benchmark suite: every step is one ``jax.jit`` program.

Training steps (mlp, cnn, lstm, transformer) compute the softmax cross-entropy, its gradient
and an Adam update written in ``jax.numpy`` (optax is not installed) with the Keras formula the
other frameworks use; parameters and optimizer state are donated, so XLA updates them in place.
The LSTM runs its time loop with ``lax.scan`` after one matmul of every input frame. The kws
workloads are inference: one whole window (conv, then a GRU under ``lax.scan``) and one frame
through a jitted stateful step whose state (the last two frames, the GRU state) is carried by
the caller; their variant ``"jit-sync"`` runs with JAX's asynchronous CPU dispatch off, the
setting for latency at batch 1. Every step blocks until its results are ready.

Threads: XLA sizes its CPU thread pool from the CPUs the process may run on; its
``XLA_FLAGS`` thread options left that pool's threads busy in a check here. So ``build`` sets
both the flags and, when ``threads`` is below the CPUs available, the process' CPU affinity,
before JAX starts.

    .venv-bench/bin/python benchmarks/suite/worker.py --framework jax --workload mlp \
        --steps 20 --warmup 3 --threads 2
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

import numpy as np
import spec

VARIANTS: dict[str, tuple[str, ...]] = {
    **{name: ("jit",) for name in ("mlp", "cnn", "lstm", "transformer")},
    **{name: ("jit", "jit-sync") for name in ("kws_window", "kws_frame")},
}


def versions() -> dict[str, str]:
    import jax
    import jaxlib

    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}


def build(workload: str, variant: str, threads: int) -> Callable[[], object]:
    """A zero-argument step for ``workload`` (see ``VARIANTS``) on ``threads`` CPU threads."""
    if variant not in VARIANTS.get(workload, ()):
        raise ValueError(
            f"jax: no variant {variant!r} for workload {workload!r}; offered: "
            f"{VARIANTS.get(workload, ())}"
        )
    jax = _start_jax(threads, sync=variant == "jit-sync")
    work = spec.WORKLOADS[workload]
    if work.kind == "train":
        loss = _LOSSES[workload](jax)
        return _training_step(jax, loss, work)
    if workload == "kws_window":
        return _kws_window_step(jax, work)
    return _kws_frame_step(jax, work)


def _start_jax(threads: int, sync: bool = False) -> ModuleType:
    """Import JAX on the CPU with its compute pool limited to ``threads`` threads.

    ``sync`` turns off asynchronous dispatch: a computation then runs in the calling thread,
    which saves a hand-off per call (about 30 us of a kws frame's 43 us here) when every
    step is awaited anyway.
    """
    flags = f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"
    if flags not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    cpus = sorted(os.sched_getaffinity(0))
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", not sync)
    return jax


# ---- training: loss functions of (params, x, y) -------------------------------------------


def _cross_entropy(jax, logits, y):
    """Mean softmax cross-entropy of int labels ``y`` under ``logits``."""
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -jax.numpy.mean(jax.numpy.take_along_axis(log_p, y[:, None], axis=-1))


def _dense(p, name, x):
    return x @ p[f"{name}/kernel"] + p[f"{name}/bias"]


def _mlp_loss(jax):
    relu = jax.nn.relu

    def loss(p, x, y):
        h = relu(_dense(p, "dense1", x))
        h = relu(_dense(p, "dense2", h))
        return _cross_entropy(jax, _dense(p, "dense3", h), y)

    return loss


def _cnn_loss(jax):
    jnp, lax, relu = jax.numpy, jax.lax, jax.nn.relu

    def conv(p, name, x):
        y = lax.conv_general_dilated(
            x, p[f"{name}/kernel"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return relu(y + p[f"{name}/bias"])

    def max_pool(x):  # 2x2, stride 2, 'valid' as Keras' MaxPooling2D
        # a max over reshaped 2x2 blocks: its gradient is a compare and a select, about half
        # the step time of lax.reduce_window's select-and-scatter on XLA's CPU backend
        b, h, w, c = x.shape
        blocks = x[:, : h // 2 * 2, : w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c)
        return jnp.max(blocks, axis=(2, 4))

    def loss(p, x, y):
        h = max_pool(conv(p, "conv1", x))
        h = max_pool(conv(p, "conv2", h))
        h = relu(_dense(p, "dense1", h.reshape(h.shape[0], -1)))
        return _cross_entropy(jax, _dense(p, "dense2", h), y)

    return loss


def _lstm_loss(jax):
    jnp, sigmoid = jax.numpy, jax.nn.sigmoid

    def loss(p, x, y):
        wh = p["lstm/recurrent_kernel"]
        units = wh.shape[0]
        gates_x = jnp.swapaxes(x @ p["lstm/kernel"] + p["lstm/bias"], 0, 1)  # time first

        def cell(carry, gx):
            h, c = carry
            i, f, g, o = jnp.split(gx + h @ wh, 4, axis=-1)  # Keras order i, f, c, o
            c = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
            h = sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        zeros = jnp.zeros((x.shape[0], units), x.dtype)
        (h, _), _ = jax.lax.scan(cell, (zeros, zeros), gates_x)
        return _cross_entropy(jax, _dense(p, "dense", h), y)

    return loss


def _transformer_loss(jax):
    jnp, heads = jax.numpy, 4

    def layer_norm(p, name, x):
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        x_hat = (x - mean) * jax.lax.rsqrt(var + spec.LN_EPSILON)
        return x_hat * p[f"{name}/gamma"] + p[f"{name}/beta"]

    def split_heads(t):  # (b, s, d) -> (b, heads, s, head_dim)
        b, s, d = t.shape
        return t.reshape(b, s, heads, d // heads).transpose(0, 2, 1, 3)

    def attention(p, x):
        q, k, v = (split_heads(x @ p[f"attention/w{n}"] + p[f"attention/b{n}"]) for n in "qkv")
        scores = q @ jnp.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]).astype(np.float32)
        context = jax.nn.softmax(scores, axis=-1) @ v
        b, _, s, _ = context.shape
        context = context.transpose(0, 2, 1, 3).reshape(b, s, -1)
        return context @ p["attention/wo"] + p["attention/bo"]

    def loss(p, x, y):
        h = layer_norm(p, "ln1", x + attention(p, x))
        ffn = _dense(p, "ffn2", jax.nn.relu(_dense(p, "ffn1", h)))
        h = layer_norm(p, "ln2", h + ffn)
        return _cross_entropy(jax, _dense(p, "dense", jnp.mean(h, axis=1)), y)

    return loss


_LOSSES = {
    "mlp": _mlp_loss,
    "cnn": _cnn_loss,
    "lstm": _lstm_loss,
    "transformer": _transformer_loss,
}


# ---- training: Adam and the jitted step ----------------------------------------------------


def _adam(jax):
    """``update(params, grads, state) -> (params, state)``: Keras' Adam, state (m, v, t)."""
    jnp, tree_map = jax.numpy, jax.tree_util.tree_map
    lr, b1, b2, eps = (spec.ADAM[k] for k in ("learning_rate", "beta_1", "beta_2", "epsilon"))

    def update(params, grads, state):
        m, v, t = state
        t = t + 1.0
        m = tree_map(lambda m, g: m + (1.0 - b1) * (g - m), m, grads)
        v = tree_map(lambda v, g: v + (1.0 - b2) * (g * g - v), v, grads)
        # bias corrections folded into the step size, epsilon outside the root (Keras)
        alpha = lr * jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        params = tree_map(lambda p, m, v: p - alpha * m / (jnp.sqrt(v) + eps), params, m, v)
        return params, (m, v, t)

    return update


def _training_step(jax, loss: Callable, work: spec.Workload) -> Callable[[], object]:
    jnp = jax.numpy
    params = {k: jnp.asarray(w) for k, w in work.init_weights().items()}
    zeros = lambda: {k: jnp.zeros_like(w) for k, w in params.items()}  # noqa: E731
    state = [params, (zeros(), zeros(), jnp.zeros((), jnp.float32))]
    x, y = work.make_data()
    x, y = jnp.asarray(x), jnp.asarray(y.astype(np.int32))
    update = _adam(jax)

    @jax.jit(donate_argnums=(0, 1))
    def train(params, opt_state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        params, opt_state = update(params, grads, opt_state)
        return params, opt_state, value

    def step():
        state[0], state[1], value = train(state[0], state[1], x, y)
        return value.block_until_ready()

    return step


# ---- kws inference ---------------------------------------------------------------------------


def _kws_params(jax, work: spec.Workload) -> dict:
    weights = dict(work.init_weights())
    conv = weights["conv/kernel"]  # (k, in, out); one matmul over the k stacked frames
    weights["conv/kernel"] = conv.reshape(-1, conv.shape[-1])
    return {k: jax.numpy.asarray(w) for k, w in weights.items()}


def _gru_cell(jax, p):
    """``cell(h, x) -> h'``: Keras' GRU (reset_after=True), gates z, r, h."""
    jnp, sigmoid = jax.numpy, jax.nn.sigmoid
    wh, (bx, bh) = p["gru/recurrent_kernel"], p["gru/bias"]

    def cell(h, gx):  # gx: the input projection x @ kernel, bias not yet added
        xz, xr, xh = jnp.split(gx + bx, 3, axis=-1)
        hz, hr, hh = jnp.split(h @ wh + bh, 3, axis=-1)
        z, r = sigmoid(xz + hz), sigmoid(xr + hr)
        candidate = jnp.tanh(xh + r * hh)
        return z * h + (1.0 - z) * candidate

    return cell


def _kws_window_step(jax, work: spec.Workload) -> Callable[[], object]:
    jnp = jax.numpy
    p = _kws_params(jax, work)
    cell = _gru_cell(jax, p)
    x = jnp.asarray(work.make_data()[0])

    @jax.jit
    def infer(p, x):
        batch, frames, _ = x.shape
        k = p["conv/kernel"].shape[0] // x.shape[-1]
        padded = jnp.pad(x, ((0, 0), (k - 1, 0), (0, 0)))  # causal: zeros before frame 0
        windows = jnp.concatenate([padded[:, i : i + frames] for i in range(k)], axis=-1)
        conv = jax.nn.relu(windows @ p["conv/kernel"] + p["conv/bias"])
        gates_x = jnp.swapaxes(conv @ p["gru/kernel"], 0, 1)  # time first
        h0 = jnp.zeros((batch, p["gru/recurrent_kernel"].shape[0]), x.dtype)
        h, _ = jax.lax.scan(lambda h, gx: (cell(h, gx), None), h0, gates_x)
        return _dense(p, "dense", h)

    return lambda: infer(p, x).block_until_ready()


def _kws_frame_step(jax, work: spec.Workload) -> Callable[[], object]:
    jnp = jax.numpy
    p = _kws_params(jax, work)
    cell = _gru_cell(jax, p)
    stream = work.make_data()[0]
    frames = [jnp.asarray(stream[:, t]) for t in range(stream.shape[1])]  # each (1, 40)
    k = p["conv/kernel"].shape[0] // stream.shape[-1]
    units = p["gru/recurrent_kernel"].shape[0]
    state = [(jnp.zeros((1, (k - 1) * stream.shape[-1])), jnp.zeros((1, units)))]

    @jax.jit(donate_argnums=(1,))
    def advance(p, state, frame):
        buffer, h = state  # buffer: the last k - 1 frames, oldest first, flattened
        window = jnp.concatenate([buffer, frame], axis=-1)
        conv = jax.nn.relu(window @ p["conv/kernel"] + p["conv/bias"])
        h = cell(h, conv @ p["gru/kernel"])
        return (window[:, frame.shape[-1] :], h), _dense(p, "dense", h)

    counter = [0]

    def step():
        frame = frames[counter[0] % len(frames)]
        counter[0] += 1
        state[0], logits = advance(p, state[0], frame)
        return logits.block_until_ready()

    return step
