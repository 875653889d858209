"""Recurrent workloads against their peers, each pair interleaved in one process.

    .venv/bin/python benchmarks/rnn_step.py                  # both, 2 threads, wall clock
    .venv/bin/python benchmarks/rnn_step.py --quick          # a smoke test
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/rnn_step.py --threads 1 --clock cpu

(a) ``lstm``: one training step of LSTM(128) over batch 32 x 50 steps x 64 features, Dense(10)
on the last state, sparse softmax cross-entropy, Adam (lr 1e-3): rillet's step traced by
``rl.function`` (compiled executor) against PyTorch's ``nn.LSTM`` + ``nn.Linear`` with the
fused Adam (``torch.optim.Adam(fused=True)``), both from the same initial weights; the
difference of their first losses is printed as a check (later ones drift apart slowly: the
two Adams add epsilon at different places, which matters for the tiniest gradients).

(b) ``kws``: one frame through the streaming keyword spotter, batch 1: Conv1D(64, 3, causal,
ReLU) over 40-dim frames -> GRU(128) -> Dense(12), converted by ``rl.streaming.to_streaming``
and wrapped in ``rl.function``, against the same step written by hand in NumPy (a ring buffer
of the last two frames, the convolution as one product, the GRU cell, the dense layer) on the
same weights; their outputs are compared on every timed frame.

(c) ``layer``: eager forward and backward of ``LSTM(128)`` (the fused sequence kernels)
against ``RNN(LSTMCell(128))`` (the cell called step by step, a loop of rillet ops) on the
same weights and the batch of (a); the gradients are compared.

Every contender runs in turn within each round (A B A B ...), so load on the machine hits them
alike; the table gives each one's median per call and the ratio rillet / peer of the medians.
``--clock cpu`` times the process's CPU time (use it with one thread on a busy machine).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import threadpoolctl
import torch

import rillet as rl

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
BATCH, STEPS, FEATURES, UNITS, CLASSES = 32, 50, 64, 128, 10
KWS_FEATURES, KWS_FILTERS, KWS_UNITS, KWS_CLASSES = 40, 64, 128, 12


def interleaved(contenders: dict, rounds: int, calls: int, clock) -> dict[str, float]:
    """Median seconds per call of each contender, timed round by round in turn."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start = clock()
            for _ in range(calls):
                run()
            samples[name].append((clock() - start) / calls)
    return {name: statistics.median(s) for name, s in samples.items()}


# -- (a) LSTM training step -----------------------------------------------------------------------


def lstm_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, STEPS, FEATURES), dtype=np.float32)
    return x, rng.integers(0, CLASSES, BATCH)


def rillet_lstm_step():
    """``(step, model)``: the compiled training step of the rillet model."""
    model = rl.Sequential(
        [rl.Input((STEPS, FEATURES)), rl.layers.LSTM(UNITS), rl.layers.Dense(CLASSES)]
    )
    optimizer = rl.optimizers.Adam(1e-3)
    loss_fn = rl.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(x, y):
        with rl.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        weights = model.trainable_weights
        optimizer.apply(tape.gradient(loss, weights), weights)
        return loss

    return rl.function(step), model


class _LastState(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0][:, -1]


def torch_lstm_step(model: rl.Model):
    """PyTorch's step on a copy of ``model``'s initial weights (gates i, f, g, o in both)."""
    net = torch.nn.Sequential(_LastState(), torch.nn.Linear(UNITS, CLASSES))
    kernel, recurrent, bias, dense_kernel, dense_bias = (w.numpy() for w in model.weights)
    with torch.no_grad():
        lstm = net[0].lstm
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()
        net[1].weight.copy_(torch.from_numpy(dense_kernel.T))
        net[1].bias.copy_(torch.from_numpy(dense_bias))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7, fused=True)

    def step(x, y):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def lstm_benchmark(rounds: int, clock) -> dict:
    x, y = lstm_data()
    rillet_step, model = rillet_lstm_step()
    torch_step = torch_lstm_step(model)
    xr, yr = rl.asarray(x), rl.asarray(y)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses: dict[str, list[float]] = {"rillet": [], "pytorch": []}
    contenders = {
        "rillet": lambda: losses["rillet"].append(float(rillet_step(xr, yr).numpy())),
        "pytorch": lambda: losses["pytorch"].append(float(torch_step(xt, yt).item())),
    }
    for run in contenders.values():  # trace, compile and warm up outside the timing
        run()
    difference = abs(losses["rillet"][0] - losses["pytorch"][0])
    times = interleaved(contenders, rounds, calls=1, clock=clock)
    return {"ms": {k: v * 1e3 for k, v in times.items()}, "loss_diff": difference}


# -- (b) streaming keyword-spotter frame ---------------------------------------------------------


def kws_model() -> rl.Model:
    return rl.Sequential(
        [
            rl.Input((None, KWS_FEATURES)),
            rl.layers.Conv1D(KWS_FILTERS, 3, padding="causal", activation="relu"),
            rl.layers.GRU(KWS_UNITS, return_sequences=True),
            rl.layers.Dense(KWS_CLASSES),
        ]
    )


class NumpyKwsStep:
    """The streaming frame by hand: a buffer of the last two frames, Conv1D as one product,
    the GRU cell (Keras gates z, r, h; reset after the recurrent product) and Dense."""

    def __init__(self, model: rl.Model):
        conv, gru, dense = model.layers
        self.conv_kernel = conv.kernel.numpy().reshape(-1, KWS_FILTERS)
        self.conv_bias = conv.bias.numpy()
        self.kernel, self.recurrent = gru.cell.kernel.numpy(), gru.cell.recurrent_kernel.numpy()
        self.bias = gru.cell.bias.numpy()
        self.dense_kernel, self.dense_bias = dense.kernel.numpy(), dense.bias.numpy()
        self.frames = np.zeros((2, KWS_FEATURES), np.float32)
        self.h = np.zeros((1, KWS_UNITS), np.float32)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        u = KWS_UNITS
        window = np.concatenate([self.frames, frame[0]])
        self.frames = window[1:]
        y = np.maximum(window.reshape(1, -1) @ self.conv_kernel + self.conv_bias, 0.0)
        x_proj = y @ self.kernel + self.bias[0]
        inner = self.h @ self.recurrent + self.bias[1]
        zr = 1.0 / (1.0 + np.exp(-(x_proj[:, : 2 * u] + inner[:, : 2 * u])))
        candidate = np.tanh(x_proj[:, 2 * u :] + zr[:, u:] * inner[:, 2 * u :])
        self.h = candidate + zr[:, :u] * (self.h - candidate)
        return (self.h @ self.dense_kernel + self.dense_bias)[:, None]


def kws_benchmark(rounds: int, calls: int, clock) -> dict:
    model = kws_model()
    stream = rl.function(rl.streaming.to_streaming(model))
    by_hand = NumpyKwsStep(model)
    rng = np.random.default_rng(1)
    frames = rng.standard_normal((64, 1, 1, KWS_FEATURES), dtype=np.float32)
    rillet_frames = [rl.asarray(f) for f in frames]
    stream(rillet_frames[0])  # trace and compile outside the timing
    by_hand(frames[0])
    # the two must agree: run both on the same frames from here on
    worst = max(
        float(np.abs(stream(r).numpy() - by_hand(f)).max())
        for r, f in zip(rillet_frames[1:], frames[1:])
    )
    contenders = {
        "rillet": lambda: stream(rillet_frames[0]),
        "numpy by hand": lambda: by_hand(frames[0]),
    }
    times = interleaved(contenders, rounds, calls, clock)
    return {"us": {k: v * 1e6 for k, v in times.items()}, "max_diff": worst}


# -- (c) fused LSTM layer against the loop of ops ------------------------------------------------


def layer_benchmark(rounds: int, clock) -> dict:
    x = rl.asarray(lstm_data()[0])
    fused = rl.layers.LSTM(UNITS)
    loop = rl.layers.RNN(rl.layers.LSTMCell(UNITS))
    fused(x)
    loop(x)
    loop.set_weights(fused.get_weights())

    def gradients(layer):
        with rl.GradientTape() as tape:
            loss = rl.sum(layer(x))
        return [g.numpy() for g in tape.gradient(loss, layer.trainable_weights)]

    worst = max(float(np.abs(a - b).max()) for a, b in zip(gradients(fused), gradients(loop)))
    contenders = {"fused": lambda: gradients(fused), "loop of ops": lambda: gradients(loop)}
    times = interleaved(contenders, rounds, calls=1, clock=clock)
    return {"ms": {k: v * 1e3 for k, v in times.items()}, "max_diff": worst}


# -- report ---------------------------------------------------------------------------------------


def _print_table(title: str, column: str, times: dict, digits: int) -> None:
    print(title)
    print(f"| contender | {column} |\n|---|---|")
    for name, t in times.items():
        print(f"| {name} | {t:.{digits}f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke test")
    parser.add_argument("--clock", choices=CLOCKS, default="wall", help="what to time")
    parser.add_argument("--threads", type=int, default=2, help="BLAS and PyTorch threads")
    parser.add_argument("--only", choices=("lstm", "kws", "layer"), help="run one workload")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpoolctl.threadpool_limits(args.threads)
    clock = CLOCKS[args.clock]
    blas = ", ".join(
        f"{i['internal_api']} {i['version']} ({i.get('architecture')}, {i['num_threads']} threads)"
        for i in threadpoolctl.threadpool_info()
    )
    print(f"clock: {args.clock}; threads: {args.threads}; BLAS: {blas}\n")
    if args.only in (None, "lstm"):
        result = lstm_benchmark(5 if args.quick else 41, clock)
        ms = result["ms"]
        title = f"(a) LSTM({UNITS}) training step, batch {BATCH} x {STEPS} x {FEATURES}, Adam"
        _print_table(title, "median ms/step", ms, 2)
        print(
            f"ratio rillet / pytorch (fused Adam): {ms['rillet'] / ms['pytorch']:.2f}; "
            f"first loss difference {result['loss_diff']:.1e}\n"
        )
    if args.only in (None, "kws"):
        result = kws_benchmark(5 if args.quick else 31, 50 if args.quick else 200, clock)
        us = result["us"]
        title = "(b) kws streaming frame, batch 1: Conv1D(64,3) -> GRU(128) -> Dense(12)"
        _print_table(title, "median us/frame", us, 1)
        print(
            f"ratio rillet / numpy by hand: {us['rillet'] / us['numpy by hand']:.2f}; "
            f"largest output difference {result['max_diff']:.1e}\n"
        )
    if args.only in (None, "layer"):
        result = layer_benchmark(3 if args.quick else 21, clock)
        ms = result["ms"]
        title = f"(c) eager LSTM({UNITS}) forward + backward, batch {BATCH} x {STEPS} x {FEATURES}"
        _print_table(title, "median ms", ms, 2)
        print(
            f"ratio loop / fused: {ms['loop of ops'] / ms['fused']:.2f}; "
            f"largest gradient difference {result['max_diff']:.1e}"
        )


if __name__ == "__main__":
    main()
