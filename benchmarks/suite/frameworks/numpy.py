"""NumPy by hand: the floor a framework on NumPy can reach without framework overhead.

mlp: forward, backward and an in-place Adam written out with preallocated buffers;
kws_window: the causal conv as one GEMM over three shifted copies of the frames, the GRU's
input projection for all frames in one GEMM, then the recurrence frame by frame; kws_frame:
a ring buffer of the last two frames plus the GRU state, one frame per step; overhead: the
op chain on 1-element float32 arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import spec

VARIANTS: dict[str, tuple[str, ...]] = {
    "mlp": ("by-hand",),
    "kws_window": ("by-hand",),
    "kws_frame": ("by-hand",),
    "overhead": ("eager",),
}


class Adam:
    """Keras' Adam, updating the parameters in place with preallocated buffers."""

    def __init__(self, params: list[np.ndarray]):
        self.params = params
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.tmp = [np.empty_like(p) for p in params]
        self.t = 0

    def apply(self, grads: list[np.ndarray]) -> None:
        lr, b1, b2, eps = (spec.ADAM[k] for k in ("learning_rate", "beta_1", "beta_2", "epsilon"))
        self.t += 1
        rate = lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for p, g, m, v, tmp in zip(self.params, grads, self.m, self.v, self.tmp):
            m *= b1
            m += (1 - b1) * g
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v *= b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= rate
            p -= tmp


def _relu_(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, 0, out=a)


def mlp_step(workload: spec.Workload) -> Callable[[], float]:
    """One training step of the 784-512-512-10 MLP: forward, backward, Adam."""
    w = workload.init_weights()
    params = [w[name] for name in workload.weight_names]
    w1, b1, w2, b2, w3, b3 = params
    x, y = workload.make_data()
    batch = x.shape[0]
    rows = np.arange(batch)
    optimizer = Adam(params)

    def step() -> float:
        h1 = _relu_(x @ w1 + b1)
        h2 = _relu_(h1 @ w2 + b2)
        logits = h2 @ w3 + b3
        logits -= logits.max(axis=1, keepdims=True)  # so that exp cannot overflow
        probs = np.exp(logits)
        total = probs.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(total[:, 0]) - logits[rows, y]))
        probs /= total
        probs[rows, y] -= 1.0
        probs /= batch  # d loss / d logits
        g3 = probs
        gh2 = g3 @ w3.T
        gh2 *= h2 > 0
        gh1 = gh2 @ w2.T
        gh1 *= h1 > 0
        grads = [x.T @ gh1, gh1.sum(0), h1.T @ gh2, gh2.sum(0), h2.T @ g3, g3.sum(0)]
        optimizer.apply(grads)
        return loss

    return step


def _sigmoid_(a: np.ndarray) -> np.ndarray:
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1.0
    return np.reciprocal(a, out=a)


class KwsCell:
    """The kws model's per-frame arithmetic on preallocated arrays (batch 1)."""

    def __init__(self, weights: dict[str, np.ndarray]):
        kernel = weights["conv/kernel"]  # (3, 40, 64): taps oldest first
        self.conv_kernel = np.ascontiguousarray(kernel.reshape(-1, kernel.shape[-1]))
        self.conv_bias = weights["conv/bias"]
        self.wx, self.wh = weights["gru/kernel"], weights["gru/recurrent_kernel"]
        self.bx, self.bh = weights["gru/bias"][0].copy(), weights["gru/bias"][1].copy()
        self.dense, self.dense_bias = weights["dense/kernel"], weights["dense/bias"]
        self.units = self.wh.shape[0]

    def conv(self, windows: np.ndarray) -> np.ndarray:
        """``windows`` (n, 3 * 40), the three taps side by side -> (n, 64) after ReLU."""
        return _relu_(windows @ self.conv_kernel + self.conv_bias)

    def gru(self, gx: np.ndarray, h: np.ndarray) -> np.ndarray:
        """One GRU update from the input projection ``gx`` (1, 3u); returns the new state."""
        u = self.units
        gh = h @ self.wh + self.bh
        zr = _sigmoid_(gx[:, : 2 * u] + gh[:, : 2 * u])
        z, r = zr[:, :u], zr[:, u:]
        candidate = np.tanh(gx[:, 2 * u :] + r * gh[:, 2 * u :])
        return candidate + z * (h - candidate)  # z * h + (1 - z) * candidate

    def logits(self, h: np.ndarray) -> np.ndarray:
        return h @ self.dense + self.dense_bias


def kws_window(workload: spec.Workload) -> Callable[[], np.ndarray]:
    cell = KwsCell(workload.init_weights())
    x = workload.make_data()[0][0]  # (98, 40)
    frames, features = x.shape
    padded = np.zeros((frames + 2, features), np.float32)

    def step() -> np.ndarray:
        padded[2:] = x
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, features))
        gx_all = cell.conv(windows.reshape(frames, 3 * features)) @ cell.wx + cell.bx
        h = np.zeros((1, cell.units), np.float32)
        for t in range(frames):
            h = cell.gru(gx_all[t : t + 1], h)
        return cell.logits(h)

    return step


def kws_frame(workload: spec.Workload) -> Callable[[], np.ndarray]:
    cell = KwsCell(workload.init_weights())
    x = workload.make_data()[0][0]
    features = x.shape[1]
    ring = np.zeros((1, 3 * features), np.float32)  # frames t-2, t-1, t side by side
    state = [np.zeros((1, cell.units), np.float32), 0]

    def step() -> np.ndarray:
        h, t = state
        ring[:, :-features] = ring[:, features:]
        ring[:, -features:] = x[t]
        h = cell.gru(cell.conv(ring) @ cell.wx + cell.bx, h)
        state[0], state[1] = h, (t + 1) % x.shape[0]
        return cell.logits(h)

    return step


def overhead(workload: spec.Workload) -> Callable[[], np.ndarray]:
    add, mul = np.float32(spec.OVERHEAD_ADD), np.float32(spec.OVERHEAD_MUL)
    x0 = workload.make_data()[0]

    def step() -> np.ndarray:
        x = x0
        for _ in range(workload.ops_per_step // 2):
            x = (x + add) * mul
        return x

    return step


BUILDERS = {"mlp": mlp_step, "kws_window": kws_window, "kws_frame": kws_frame}


def build(workload: str, variant: str, threads: int) -> Callable[[], object]:
    """A zero-argument callable running one step of ``workload`` (threads: by environment)."""
    if workload == "overhead":
        return overhead(spec.WORKLOADS[workload])
    if workload not in BUILDERS:
        raise ValueError(f"numpy worker: no workload {workload!r}; offers {sorted(VARIANTS)}")
    return BUILDERS[workload](spec.WORKLOADS[workload])
